//! The Redis backend's lease scripts: renew (compare-and-extend, many leases per
//! round trip), revoke
//! (compare-and-delete, with a tombstone for revocations) and restore (a record the
//! store lost, when it restarted empty, put back from what its holder knows).

use fred::prelude::*;

use super::super::redis_codec::{self as codec, corrupt, flag, number, text};
use super::{LeaseRecord, RECORD_GRACE_MS, RedisBackend, Removal, RenewOutcome};

/// Most leases renewed by one RENEW script (one round trip, one atomic step of Redis).
const RENEW_CHUNK: usize = 128;
use crate::vault::backend::Backend;
use crate::vault::error::VaultError;
use crate::vault::path::SecretPath;

/// Reads a RENEW (or RESTORE) reply.
fn renew_outcome(reply: &[Value], path: &SecretPath) -> Result<RenewOutcome, VaultError> {
    let path = path.to_string();
    match text(reply.first()).as_str() {
        "ok" => Ok(RenewOutcome {
            expires_ms: number(reply.get(1)).ok_or_else(|| corrupt("expires"))?,
            current_version: number(reply.get(2)),
        }),
        "notfound" => Err(VaultError::LeaseNotFound { path }),
        "expired" => Err(VaultError::LeaseExpired { path }),
        "notrenewable" => Err(VaultError::NotRenewable { path }),
        "lost" | "revoked" => Err(VaultError::LeaseRevoked { path }),
        other => Err(corrupt(other)),
    }
}

impl RedisBackend {
    /// [`Backend::renew`]: a RENEW script for one lease.
    pub(super) async fn renew_lease(
        &self,
        id: &str,
        now_ms: u64,
        increment_ms: u64,
    ) -> Result<RenewOutcome, VaultError> {
        let (path, _) = self.keys.lease(id)?;
        self.renew_leases(&[(id, increment_ms)], now_ms)
            .await
            .pop()
            .unwrap_or_else(|| {
                Err(VaultError::LeaseNotFound {
                    path: path.to_string(),
                })
            })
    }

    /// [`Backend::renew_many`]: one RENEW script per [`RENEW_CHUNK`] leases, so a
    /// large batch never holds Redis for long.
    pub(super) async fn renew_leases(
        &self,
        leases: &[(&str, u64)],
        now_ms: u64,
    ) -> Vec<Result<RenewOutcome, VaultError>> {
        let mut out = Vec::with_capacity(leases.len());
        for chunk in leases.chunks(RENEW_CHUNK) {
            match self.renew_chunk(chunk, now_ms).await {
                Ok(results) => out.extend(results),
                Err(e) => out.extend(chunk.iter().map(|_| Err(e.clone()))),
            }
        }
        out
    }

    /// One RENEW script over `chunk`. A lease id that does not parse gets its own
    /// error and is left out of the script.
    async fn renew_chunk(
        &self,
        chunk: &[(&str, u64)],
        now_ms: u64,
    ) -> Result<Vec<Result<RenewOutcome, VaultError>>, VaultError> {
        let mut keys = vec![self.keys.expiry()];
        let mut args = vec![Value::from(now_ms.to_string())];
        // Per lease: its path (to name errors), or the error of an id that does not parse.
        let mut parsed = Vec::with_capacity(chunk.len());
        for (id, increment_ms) in chunk {
            match self.keys.lease(id) {
                Ok((path, lease_key)) => {
                    keys.push(lease_key);
                    keys.push(self.keys.exclusive(&path));
                    args.push(Value::from(*id));
                    args.push(Value::from(increment_ms.to_string()));
                    parsed.push(Ok(path));
                }
                Err(e) => parsed.push(Err(e)),
            }
        }
        let mut replies = if keys.len() > 1 {
            self.eval(&self.scripts.renew, keys, args)
                .await?
                .into_array()
                .into_iter()
        } else {
            Vec::new().into_iter()
        };
        Ok(parsed
            .into_iter()
            .map(|p| {
                let path = p?;
                let reply = replies
                    .next()
                    .ok_or_else(|| corrupt("a RENEW reply short of leases"))?;
                renew_outcome(&reply.into_array(), &path)
            })
            .collect())
    }

    /// [`Backend::revoke`]: one REVOKE script.
    pub(super) async fn revoke_lease(
        &self,
        id: &str,
        how: Removal,
    ) -> Result<Option<LeaseRecord>, VaultError> {
        let (path, lease_key) = self.keys.lease(id)?;
        let keys = vec![
            lease_key,
            self.keys.expiry(),
            self.keys.exclusive(&path),
            self.keys.tombstone(id)?,
        ];
        let (expired_at, now, until) = match how {
            Removal::Expired { at_ms } => (at_ms.to_string(), String::new(), String::new()),
            Removal::Revoked { now_ms, until_ms } => {
                (String::new(), now_ms.to_string(), until_ms.to_string())
            }
        };
        let args = vec![
            Value::from(id),
            Value::from(expired_at),
            Value::from(now),
            Value::from(until),
        ];
        let fields = self
            .eval(&self.scripts.revoke, keys, args)
            .await?
            .into_array();
        if fields.is_empty() {
            return Ok(None);
        }
        codec::lease_from_fields(id, path, &fields).map(Some)
    }

    /// [`Backend::restore`]: one RESTORE script; a record that is still there is
    /// renewed normally.
    pub(super) async fn restore_lease(
        &self,
        holder: &LeaseRecord,
        now_ms: u64,
        increment_ms: u64,
    ) -> Result<RenewOutcome, VaultError> {
        let (path, lease_key) = self.keys.lease(&holder.id)?;
        let kind = holder
            .capability
            .leases()
            .ok_or_else(|| corrupt("a lease of a capability that leases nothing"))?;
        let keys = vec![
            lease_key,
            self.keys.expiry(),
            self.keys.exclusive(&path),
            self.keys.secret(&path, kind),
            self.keys.tombstone(&holder.id)?,
            self.keys.fence(&path),
            self.keys.principal(&holder.principal_key),
        ];
        let args: Vec<Value> = [
            holder.id.clone(),
            now_ms.to_string(),
            increment_ms.to_string(),
            RECORD_GRACE_MS.to_string(),
            path.to_string(),
            holder.principal_key.clone(),
            holder.principal.clone(),
            holder.capability.as_str().to_owned(),
            holder.version.to_string(),
            holder.issued_ms.to_string(),
            holder.expires_ms.to_string(),
            holder.max_expires_ms.to_string(),
            flag(holder.renewable).to_owned(),
            holder.fence.map(|f| f.to_string()).unwrap_or_default(),
        ]
        .into_iter()
        .map(Value::from)
        .collect();
        let reply = self
            .eval(&self.scripts.restore, keys, args)
            .await?
            .into_array();
        if text(reply.first()) == "exists" {
            return self.renew(&holder.id, now_ms, increment_ms).await;
        }
        renew_outcome(&reply, &path)
    }
}
