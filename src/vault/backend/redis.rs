//! The Redis backend (fred): secrets as XChaCha20-Poly1305 ciphertext, leases as
//! hashes with a swept expiry set and a per-principal index, exclusive leases as
//! `SET NX PX` locks with a fencing counter, audit records in a capped stream.
//! The key layout and the scripts are in `redis_lua.rs`.
//!
//! When Redis is unreachable every call fails fast with [`VaultError::Unavailable`]
//! (the client reconnects in the background with exponential backoff); leases already
//! handed out keep serving their cached value until they expire.

use std::time::Duration;

use fred::prelude::*;
use fred::types::scripts::Script;
use fred::types::{ClusterHash, CustomCommand};

use crate::vault::crypto::Cipher;
use secrecy::{ExposeSecret, SecretString};

use super::redis_codec::{self as codec, corrupt, flag, number, text, unavailable};
use super::redis_lua::{self as lua, Keys};
use super::{
    Backend, GrantRequest, Granted, LeaseRecord, PutOutcome, Removal, RenewOutcome, same_secret,
};
use crate::vault::audit::AuditRecord;
use crate::vault::error::VaultError;
use crate::vault::keys::{Ciphers, VaultKeys, seal_stored};
use crate::vault::path::{SecretKind, SecretPath};

/// Lease records outlive their maximum TTL by this much in Redis, in case every vault
/// was down when they should have been swept.
const RECORD_GRACE_MS: u64 = 24 * 3600 * 1000;
const KEYCHECK_PLAIN: &[u8] = b"switchboard-vault keycheck v1";
const KEYCHECK_AAD: &[u8] = b"switchboard-vault/v1\0keycheck";

/// How to reach Redis.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// `redis://host:port/db`, or `rediss://host:port/db[?ca_file=PATH]` for TLS.
    pub url: String,
    /// Key prefix (`[A-Za-z0-9_.:-]{1,64}`), e.g. `sb:vault`.
    pub prefix: String,
    /// Every command fails with [`VaultError::Unavailable`] after this long.
    pub command_timeout: Duration,
    /// The audit stream is trimmed to about this many records.
    pub audit_max_len: u64,
    /// Stored secrets expire this long after their last write or unchanged re-write
    /// (the runtime's publishers re-write them a twenty-fourth of it apart), so
    /// secrets of a deployment whose every publisher is gone do not outlive it.
    /// `None`: they never expire.
    pub secret_ttl: Option<Duration>,
}

/// How long a stored secret lives without being published again, by default.
pub const DEFAULT_SECRET_TTL: Duration = Duration::from_secs(24 * 3600);

impl RedisOptions {
    /// Options with a 1 s command timeout, a 10,000-record audit stream and secrets
    /// that expire 24 h after they were last published.
    #[must_use]
    pub fn new(url: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: prefix.into(),
            command_timeout: Duration::from_secs(1),
            audit_max_len: 10_000,
            secret_ttl: Some(DEFAULT_SECRET_TTL),
        }
    }

    /// The secret TTL in milliseconds as the scripts take it (`0`: none).
    fn secret_ttl_ms(&self) -> u64 {
        self.secret_ttl.map_or(0, |t| {
            u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1)
        })
    }
}

mod leases;

struct Scripts {
    grant: Script,
    renew: Script,
    revoke: Script,
    restore: Script,
    put: Script,
}

/// The Redis store. Cheap to clone (clones share the connection).
#[derive(Clone)]
pub struct RedisBackend {
    client: Client,
    keys: Keys,
    ciphers: std::sync::Arc<Ciphers>,
    scripts: std::sync::Arc<Scripts>,
    audit_tx: tokio::sync::mpsc::Sender<AuditRecord>,
    /// [`RedisOptions::secret_ttl`] in ms, `0` for none.
    secret_ttl_ms: u64,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl RedisBackend {
    /// Connects, and checks each key held against the store's key-check value for it
    /// (writing one into an empty store). With [`VaultKeys::worker_only`] the backend
    /// serves app secrets only: it never names a credential's key, lock or fence, so
    /// it works under the worker Redis user (`crate::redis_acl`).
    ///
    /// # Errors
    /// [`VaultError::Unavailable`] if Redis cannot be reached, [`VaultError::WrongKey`]
    /// if the store was written with another key, [`VaultError::InvalidPolicy`] for a
    /// bad prefix, [`VaultError::Backend`] for a bad URL or a `rediss://` URL whose TLS
    /// cannot be set up (unreadable `ca_file`, ...): never a plain-text fallback.
    pub async fn connect(options: &RedisOptions, keys: &VaultKeys) -> Result<Self, VaultError> {
        let ciphers = Ciphers::new(keys);
        let keys = Keys::new(&options.prefix, ciphers.holds_access())?;
        // `rediss://` is TLS or an error, never plain text (`crate::redis_tls`).
        let config =
            crate::redis_tls::fred_config(&options.url).map_err(|e| VaultError::Backend {
                reason: e.to_string(),
            })?;
        let timeout = options.command_timeout;
        let client = Builder::from_config(config)
            .with_performance_config(|p| p.default_command_timeout = timeout)
            .with_connection_config(|c| {
                c.connection_timeout = timeout;
                c.internal_command_timeout = timeout;
                c.max_command_attempts = 1;
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 50, 2_000, 2))
            .build()
            .map_err(|e| unavailable(&e))?;
        client.init().await.map_err(|e| unavailable(&e))?;
        // Audit appends get their own connection, so a batch of XADDs never sits in
        // front of a grant on the wire.
        let audit_client = client.clone_new();
        audit_client.init().await.map_err(|e| unavailable(&e))?;
        let backend = Self {
            audit_tx: spawn_audit_writer(audit_client, &keys, options.audit_max_len),
            secret_ttl_ms: options.secret_ttl_ms(),
            client,
            keys,
            ciphers: std::sync::Arc::new(ciphers),
            scripts: std::sync::Arc::new(Scripts {
                grant: Script::from_lua(lua::GRANT),
                renew: Script::from_lua(lua::RENEW),
                revoke: Script::from_lua(lua::REVOKE),
                restore: Script::from_lua(lua::RESTORE),
                put: Script::from_lua(lua::PUT),
            }),
        };
        backend.check_key().await?;
        Ok(backend)
    }

    async fn check_key(&self) -> Result<(), VaultError> {
        self.check_one("worker", self.ciphers.worker()).await?;
        if let Some(access) = self.ciphers.access() {
            self.check_one("access", access).await?;
        }
        Ok(())
    }

    async fn check_one(&self, role: &str, cipher: &Cipher) -> Result<(), VaultError> {
        let key = self.keys.keycheck(role);
        let sealed = cipher.seal(KEYCHECK_PLAIN, KEYCHECK_AAD)?;
        let _: Value = self
            .client
            .set(&key, sealed.as_slice(), None, Some(SetOptions::NX), false)
            .await
            .map_err(|e| unavailable(&e))?;
        let stored: Option<Vec<u8>> = self.client.get(&key).await.map_err(|e| unavailable(&e))?;
        match stored.and_then(|s| cipher.open(&s, KEYCHECK_AAD)) {
            Some(plain) if plain == KEYCHECK_PLAIN => Ok(()),
            _ => Err(VaultError::WrongKey {
                detail: format!("the {role} key-check value under {key} does not decrypt"),
            }),
        }
    }

    /// The underlying client (for tests and the admin API's health check).
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn ready(&self) -> Result<(), VaultError> {
        if self.client.is_connected() {
            Ok(())
        } else {
            Err(VaultError::Unavailable {
                backend: "redis",
                reason: "not connected (reconnecting)".to_owned(),
            })
        }
    }

    async fn eval(
        &self,
        script: &Script,
        keys: Vec<String>,
        args: Vec<Value>,
    ) -> Result<Value, VaultError> {
        self.ready()?;
        script
            .evalsha_with_reload(&self.client, keys, args)
            .await
            .map_err(|e| unavailable(&e))
    }
}

impl Backend for RedisBackend {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn put_secret(
        &self,
        path: &SecretPath,
        kind: SecretKind,
        value: &SecretString,
        only_if_changed: bool,
        first_version: u64,
    ) -> Result<PutOutcome, VaultError> {
        let cipher = self.ciphers.for_kind(kind, path)?;
        let key = self.keys.secret(path, kind);
        let other = self.keys.other_kind(path, kind);
        let path_s = path.to_string();
        // Compare-and-set, retried if another vault wrote in between.
        for _ in 0..8 {
            self.ready()?;
            let cur: Vec<Value> = self
                .client
                .hmget(&key, vec!["version", "kind", "cur"])
                .await
                .map_err(|e| unavailable(&e))?;
            let version = number(cur.first()).unwrap_or(0);
            if only_if_changed && version > 0 {
                let stored_kind = text(cur.get(1));
                let sealed = cur.get(2).and_then(Value::as_bytes).unwrap_or_default();
                // A value that does not open (sealed before a key change) is simply
                // written again.
                let same = cipher
                    .open_secret(sealed, &path_s, version, &stored_kind)
                    .is_ok_and(|old| same_secret(old.expose_secret(), value.expose_secret()));
                if stored_kind == kind.as_str() && same {
                    // Published again unchanged: it lives on.
                    if self.secret_ttl_ms > 0 {
                        let _: Value = self
                            .client
                            .pexpire(
                                &key,
                                i64::try_from(self.secret_ttl_ms).unwrap_or(i64::MAX),
                                None,
                            )
                            .await
                            .map_err(|e| unavailable(&e))?;
                    }
                    return Ok(PutOutcome {
                        version,
                        changed: false,
                    });
                }
            }
            let next = if version == 0 {
                first_version.max(1)
            } else {
                version + 1
            };
            let sealed = seal_stored(&self.ciphers, value, path, next, kind)?;
            let args = vec![
                Value::from(version.to_string()),
                Value::from(next.to_string()),
                Value::from(kind.as_str()),
                Value::Bytes(sealed.into()),
                Value::from(self.secret_ttl_ms.to_string()),
            ];
            let done = self
                .eval(&self.scripts.put, vec![key.clone(), other.clone()], args)
                .await?;
            if done.as_u64() == Some(1) {
                return Ok(PutOutcome {
                    version: next,
                    changed: true,
                });
            }
        }
        Err(VaultError::Backend {
            reason: format!("too many concurrent writes to {path}"),
        })
    }

    async fn delete_secret(&self, path: &SecretPath) -> Result<bool, VaultError> {
        self.ready()?;
        // Both kinds' keys where this vault may name them; a worker-key vault deletes
        // app secrets only.
        let mut keys = vec![self.keys.secret(path, SecretKind::AppSecret)];
        if self.ciphers.holds_access() {
            keys.push(self.keys.secret(path, SecretKind::ProviderCredential));
        }
        let n: u64 = self.client.del(keys).await.map_err(|e| unavailable(&e))?;
        Ok(n > 0)
    }

    async fn grant(&self, req: &GrantRequest, _now_ms: u64) -> Result<Granted, VaultError> {
        let rec = &req.record;
        let path_s = rec.path.to_string();
        // Refused before Redis is asked: a worker-key vault never names a credential.
        let cipher = self.ciphers.for_kind(req.kind, &rec.path)?;
        let (_, lease_key) = self.keys.lease(&rec.id)?;
        let (exclusive, fence) = if req.exclusive {
            (self.keys.exclusive(&rec.path), self.keys.fence(&rec.path))
        } else {
            (self.keys.unused(&rec.path), self.keys.unused(&rec.path))
        };
        let keys = vec![
            self.keys.secret(&rec.path, req.kind),
            lease_key,
            self.keys.expiry(),
            self.keys.principal(&rec.principal_key),
            exclusive,
            fence,
            self.keys.other_kind(&rec.path, req.kind),
        ];
        let ttl_ms = rec.expires_ms.saturating_sub(rec.issued_ms).max(1);
        let args: Vec<Value> = [
            rec.id.clone(),
            req.kind.as_str().to_owned(),
            req.quota.to_string(),
            flag(req.exclusive).to_owned(),
            ttl_ms.to_string(),
            rec.expires_ms.to_string(),
            rec.max_expires_ms.to_string(),
            (rec.max_expires_ms + RECORD_GRACE_MS).to_string(),
            path_s.clone(),
            rec.principal_key.clone(),
            rec.principal.clone(),
            rec.capability.as_str().to_owned(),
            rec.issued_ms.to_string(),
            flag(rec.renewable).to_owned(),
        ]
        .into_iter()
        .map(Value::from)
        .collect();
        let reply = self
            .eval(&self.scripts.grant, keys, args)
            .await?
            .into_array();
        match text(reply.first()).as_str() {
            "ok" => {
                let version = number(reply.get(1)).ok_or_else(|| corrupt("version"))?;
                let sealed = reply
                    .get(2)
                    .and_then(Value::as_bytes)
                    .ok_or_else(|| corrupt("ciphertext"))?;
                let secret = cipher.open_secret(sealed, &path_s, version, req.kind.as_str())?;
                let fence = text(reply.get(3));
                let fence = if fence.is_empty() {
                    None
                } else {
                    Some(fence.parse().map_err(|_| corrupt("fence"))?)
                };
                Ok(Granted {
                    version,
                    secret,
                    fence,
                })
            }
            "notfound" => Err(VaultError::NotFound { path: path_s }),
            "kind" => {
                let actual =
                    SecretKind::from_name(&text(reply.get(1))).ok_or_else(|| corrupt("kind"))?;
                Err(super::memory::kind_denied(rec, actual))
            }
            "quota" => Err(VaultError::QuotaExceeded {
                principal: rec.principal.clone(),
                limit: req.quota,
            }),
            "held" => Err(VaultError::AlreadyHeld { path: path_s }),
            other => Err(corrupt(other)),
        }
    }

    async fn renew(
        &self,
        id: &str,
        now_ms: u64,
        increment_ms: u64,
    ) -> Result<RenewOutcome, VaultError> {
        self.renew_lease(id, now_ms, increment_ms).await
    }

    async fn renew_many(
        &self,
        leases: &[(&str, u64)],
        now_ms: u64,
    ) -> Vec<Result<RenewOutcome, VaultError>> {
        self.renew_leases(leases, now_ms).await
    }

    async fn revoke(&self, id: &str, how: Removal) -> Result<Option<LeaseRecord>, VaultError> {
        self.revoke_lease(id, how).await
    }
    async fn restore(
        &self,
        holder: &LeaseRecord,
        now_ms: u64,
        increment_ms: u64,
    ) -> Result<RenewOutcome, VaultError> {
        self.restore_lease(holder, now_ms, increment_ms).await
    }

    async fn lease_ids_with_prefix(&self, prefix: &str) -> Result<Vec<String>, VaultError> {
        self.ready()?;
        // Lease ids never contain glob characters, but escape anyway.
        let pattern: String = prefix
            .chars()
            .flat_map(|c| {
                let esc = matches!(c, '*' | '?' | '[' | ']' | '\\');
                esc.then_some('\\').into_iter().chain(std::iter::once(c))
            })
            .chain(std::iter::once('*'))
            .collect();
        let mut ids = Vec::new();
        let mut cursor = "0".to_owned();
        loop {
            let reply: Vec<Value> = self
                .client
                .custom(
                    CustomCommand::new_static("ZSCAN", ClusterHash::FirstKey, false),
                    vec![
                        Value::from(self.keys.expiry()),
                        Value::from(cursor.as_str()),
                        Value::from("MATCH"),
                        Value::from(pattern.as_str()),
                        Value::from("COUNT"),
                        Value::from(500),
                    ],
                )
                .await
                .map_err(|e| unavailable(&e))?;
            let [next, items] = <[Value; 2]>::try_from(reply).map_err(|_| corrupt("ZSCAN"))?;
            ids.extend(items.into_array().chunks(2).map(|p| text(p.first())));
            cursor = text(Some(&next));
            if cursor == "0" || cursor.is_empty() {
                break;
            }
        }
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    async fn lease_ids_of(&self, principal_key: &str) -> Result<Vec<String>, VaultError> {
        self.ready()?;
        self.client
            .smembers(self.keys.principal(principal_key))
            .await
            .map_err(|e| unavailable(&e))
    }

    async fn expired_lease_ids(
        &self,
        now_ms: u64,
        limit: usize,
    ) -> Result<Vec<String>, VaultError> {
        self.ready()?;
        self.client
            .zrangebyscore(
                self.keys.expiry(),
                "-inf",
                now_ms as f64,
                false,
                Some((0, i64::try_from(limit).unwrap_or(i64::MAX))),
            )
            .await
            .map_err(|e| unavailable(&e))
    }

    async fn exclusive_remaining(
        &self,
        path: &SecretPath,
        _now_ms: u64,
    ) -> Result<Option<u64>, VaultError> {
        self.ready()?;
        let ttl: i64 = self
            .client
            .pttl(self.keys.exclusive(path))
            .await
            .map_err(|e| unavailable(&e))?;
        // -2: no lock. -1: a lock without expiry, which this code never writes; treat
        // it as held for a while rather than as free (never two holders).
        Ok(match ttl {
            -2 => None,
            -1 => Some(1_000),
            n => Some(u64::try_from(n).unwrap_or(0)).filter(|left| *left > 0),
        })
    }

    fn record_audit(&self, record: AuditRecord) {
        // Queued for the batching writer, so auditing never adds a round trip (or a
        // command per grant) to the hot path. A full queue drops the record and counts
        // it; the tracing event and the counter have already been emitted.
        if self.audit_tx.try_send(record).is_err() {
            metrics::counter!("switchboard_vault_audit_dropped_total").increment(1);
        }
    }

    async fn audit(&self, limit: usize) -> Result<Vec<AuditRecord>, VaultError> {
        self.ready()?;
        let reply: Vec<Value> = self
            .client
            .custom(
                CustomCommand::new_static("XREVRANGE", ClusterHash::FirstKey, false),
                vec![
                    Value::from(self.keys.audit()),
                    Value::from("+"),
                    Value::from("-"),
                    Value::from("COUNT"),
                    Value::from(i64::try_from(limit).unwrap_or(i64::MAX)),
                ],
            )
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(reply
            .into_iter()
            .rev()
            .filter_map(codec::audit_record)
            .collect())
    }
}

/// How many audit records may wait for the writer.
const AUDIT_QUEUE: usize = 10_000;
/// Most records written in one pipeline.
const AUDIT_BATCH: usize = 256;

/// Spawns the task that appends audit records to the stream, in pipelined batches.
/// It ends when every clone of the backend is gone.
fn spawn_audit_writer(
    client: Client,
    keys: &Keys,
    max_len: u64,
) -> tokio::sync::mpsc::Sender<AuditRecord> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<AuditRecord>(AUDIT_QUEUE);
    let key = keys.audit();
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(AUDIT_BATCH);
        while rx.recv_many(&mut batch, AUDIT_BATCH).await > 0 {
            if !client.is_connected() {
                tracing::debug!(target: "switchboard::vault", dropped = batch.len(), "audit records not stored: Redis unavailable");
                metrics::counter!("switchboard_vault_audit_dropped_total")
                    .increment(batch.len() as u64);
                batch.clear();
                continue;
            }
            let pipe = client.pipeline();
            for record in batch.drain(..) {
                let mut args: Vec<Value> = vec![
                    Value::from(key.as_str()),
                    Value::from("MAXLEN"),
                    Value::from("~"),
                    Value::from(max_len.to_string()),
                    Value::from("*"),
                ];
                args.extend(codec::audit_fields(record));
                let cmd = CustomCommand::new_static("XADD", ClusterHash::FirstKey, false);
                let _: Result<Value, _> = pipe.custom(cmd, args).await;
            }
            if let Err(e) = pipe.all::<Value>().await {
                tracing::debug!(target: "switchboard::vault", error = %crate::Report(&e), "audit records not stored");
            }
        }
        let _ = client.quit().await;
    });
    tx
}
