//! [`SessionStore`]: where a tenant's gateway sessions survive the actor, so a
//! restarted actor (or another daemon taking the tenant over) RESUMEs instead of
//! `IDENTIFY`ing — Discord caps session starts per day, and a resume replays what was
//! missed in between.
//!
//! In memory (one process), or in Redis under
//! `<prefix>:{<provider>:<tenant>}:gateway:session:<shard>` (the braces keep a
//! tenant's keys in one cluster slot), as JSON with a TTL: Discord forgets a session
//! within minutes of its connection closing, so an old one is not worth trying.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use fred::prelude::*;
use serde::{Deserialize, Serialize};

use super::error::GatewayError;
use crate::bus::{FENCED_SET, connect_redis, fence_key};
use crate::model::TenantId;

/// How long a stored session is kept in Redis.
pub const SESSION_TTL: Duration = Duration::from_secs(10 * 60);

/// What a shard needs to resume: twilight's `Session` (id and last sequence), the
/// resume URL from READY, and the bot's user id (a resumed session gets no READY).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSession {
    /// Gateway session id.
    pub session_id: String,
    /// Sequence of the last dispatch received.
    pub sequence: u64,
    /// `resume_gateway_url` from READY.
    #[serde(default)]
    pub resume_url: Option<String>,
    /// The shard count the session was identified with (a session of another shard
    /// layout is not resumed).
    pub shard_total: u32,
    /// The bot's own user id, from READY.
    #[serde(default)]
    pub user_id: Option<u64>,
    /// When it was saved, Unix milliseconds.
    pub saved_ms: u64,
}

enum Backend {
    Memory(Mutex<HashMap<String, StoredSession>>),
    Redis { client: Client, prefix: String },
}

/// Gateway sessions by tenant and shard. Cheap to clone (shared).
#[derive(Clone)]
pub struct SessionStore {
    inner: Arc<Backend>,
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match &*self.inner {
            Backend::Memory(_) => "memory",
            Backend::Redis { .. } => "redis",
        };
        f.debug_struct("SessionStore")
            .field("backend", &backend)
            .finish()
    }
}

impl Default for SessionStore {
    fn default() -> Self {
        Self::memory()
    }
}

fn store_err(e: impl Into<super::error::BoxError>) -> GatewayError {
    GatewayError::Store(e.into())
}

impl SessionStore {
    /// A store in this process's memory.
    #[must_use]
    pub fn memory() -> Self {
        Self {
            inner: Arc::new(Backend::Memory(Mutex::new(HashMap::new()))),
        }
    }

    /// A store in Redis at `url`, keys under `prefix`.
    ///
    /// # Errors
    /// [`GatewayError::Store`] if the URL is invalid or Redis cannot be reached.
    pub async fn redis(url: &str, prefix: &str) -> Result<Self, GatewayError> {
        let client = connect_redis(url).await.map_err(store_err)?;
        Ok(Self {
            inner: Arc::new(Backend::Redis {
                client,
                prefix: prefix.to_owned(),
            }),
        })
    }

    /// The Redis key of a tenant's shard session.
    #[must_use]
    pub fn redis_key(prefix: &str, tenant: &TenantId, shard: u32) -> String {
        format!(
            "{prefix}:{{{}:{}}}:gateway:session:{shard}",
            tenant.provider, tenant.tenant
        )
    }

    fn memory_key(tenant: &TenantId, shard: u32) -> String {
        format!("{}:{}:{shard}", tenant.provider, tenant.tenant)
    }

    /// The stored session of a tenant's shard, if any.
    ///
    /// # Errors
    /// [`GatewayError::Store`] when Redis fails or holds something unreadable.
    pub async fn load(
        &self,
        tenant: &TenantId,
        shard: u32,
    ) -> Result<Option<StoredSession>, GatewayError> {
        match &*self.inner {
            Backend::Memory(m) => Ok(m
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&Self::memory_key(tenant, shard))
                .cloned()),
            Backend::Redis { client, prefix } => {
                let key = Self::redis_key(prefix, tenant, shard);
                let raw: Option<String> = client.get(key).await.map_err(store_err)?;
                raw.map(|s| serde_json::from_str(&s).map_err(store_err))
                    .transpose()
            }
        }
    }

    /// Stores a tenant's shard session (replacing the previous one), as the owner of
    /// the gateway lease with fencing token `fence`: in Redis the write is refused
    /// once a newer owner has written, so a stale owner cannot overwrite the
    /// session its successor resumes.
    ///
    /// # Errors
    /// [`GatewayError::Stale`] for a stale owner; [`GatewayError::Store`] when Redis
    /// fails.
    pub async fn save_fenced(
        &self,
        tenant: &TenantId,
        shard: u32,
        session: &StoredSession,
        fence: u64,
    ) -> Result<(), GatewayError> {
        let Backend::Redis { client, prefix } = &*self.inner else {
            return self.save(tenant, shard, session).await;
        };
        let keys = vec![
            fence_key(prefix, tenant),
            Self::redis_key(prefix, tenant, shard),
        ];
        let json = serde_json::to_string(session).map_err(store_err)?;
        let args: Vec<fred::types::Value> = vec![
            fence.to_string().into(),
            json.into(),
            (SESSION_TTL.as_millis() as i64).into(),
        ];
        let written: i64 = FENCED_SET
            .evalsha_with_reload(client, keys, args)
            .await
            .map_err(store_err)?;
        if written == 1 {
            Ok(())
        } else {
            Err(GatewayError::Stale { fence })
        }
    }

    /// Stores a tenant's shard session (replacing the previous one), unfenced.
    ///
    /// # Errors
    /// [`GatewayError::Store`] when Redis fails.
    pub async fn save(
        &self,
        tenant: &TenantId,
        shard: u32,
        session: &StoredSession,
    ) -> Result<(), GatewayError> {
        match &*self.inner {
            Backend::Memory(m) => {
                m.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(Self::memory_key(tenant, shard), session.clone());
                Ok(())
            }
            Backend::Redis { client, prefix } => {
                let key = Self::redis_key(prefix, tenant, shard);
                let json = serde_json::to_string(session).map_err(store_err)?;
                let ttl = Expiration::PX(SESSION_TTL.as_millis() as i64);
                client
                    .set::<(), _, _>(key, json, Some(ttl), None, false)
                    .await
                    .map_err(store_err)
            }
        }
    }

    /// Forgets a tenant's shard session.
    ///
    /// # Errors
    /// [`GatewayError::Store`] when Redis fails.
    pub async fn clear(&self, tenant: &TenantId, shard: u32) -> Result<(), GatewayError> {
        match &*self.inner {
            Backend::Memory(m) => {
                m.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&Self::memory_key(tenant, shard));
                Ok(())
            }
            Backend::Redis { client, prefix } => client
                .del::<(), _>(Self::redis_key(prefix, tenant, shard))
                .await
                .map_err(store_err),
        }
    }
}
