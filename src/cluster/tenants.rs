//! The cluster's shared tenant registry (`runtime.tenants_store: redis`): tenants
//! added, replaced or removed through any node's admin API are kept in Redis and
//! announced, so every node applies them within a heartbeat of pub/sub latency.
//!
//! | key | type | what |
//! | --- | --- | --- |
//! | `<prefix>:cluster:tenants` | hash | `provider/tenant` → the tenant's YAML (secrets only as `${VAR}` references) |
//! | `<prefix>:cluster:tenants-changed` | pub/sub channel | a node changed the hash: re-read it |
//!
//! A document holds no secret value: an access node resolves `${VAR}` from its own
//! environment, a worker node needs none.

use fred::prelude::*;

use super::{ClusterError, redis_err};
use crate::model::TenantId;

/// The shared tenant registry. Cheap to clone.
#[derive(Clone)]
pub struct TenantStore {
    client: Client,
    prefix: String,
}

impl std::fmt::Debug for TenantStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl TenantStore {
    /// The store on the Redis at `url`, keys under `prefix`.
    ///
    /// # Errors
    /// [`ClusterError::Redis`] if Redis cannot be reached.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, ClusterError> {
        Ok(Self {
            client: super::connect(url).await?,
            prefix: prefix.to_owned(),
        })
    }

    fn key(&self) -> String {
        format!("{}:cluster:tenants", self.prefix)
    }

    pub(crate) fn channel(prefix: &str) -> String {
        format!("{prefix}:cluster:tenants-changed")
    }

    /// Every stored tenant as `(label, YAML)`, sorted (the label names it in
    /// configuration errors: `redis:<provider>/<tenant>`).
    ///
    /// # Errors
    /// [`ClusterError::Redis`].
    pub async fn documents(&self) -> Result<Vec<(String, String)>, ClusterError> {
        let all: std::collections::HashMap<String, String> =
            self.client.hgetall(self.key()).await.map_err(redis_err)?;
        let mut docs: Vec<(String, String)> = all
            .into_iter()
            .map(|(id, yaml)| (format!("redis:{id}"), yaml))
            .collect();
        docs.sort();
        Ok(docs)
    }

    /// The stored document of `tenant`, if any.
    ///
    /// # Errors
    /// [`ClusterError::Redis`].
    pub async fn get(&self, tenant: &TenantId) -> Result<Option<String>, ClusterError> {
        self.client
            .hget(self.key(), tenant.to_string())
            .await
            .map_err(redis_err)
    }

    /// Stores `yaml` as `tenant` (replacing it) and announces the change.
    ///
    /// # Errors
    /// [`ClusterError::Redis`].
    pub async fn put(&self, tenant: &TenantId, yaml: &str) -> Result<(), ClusterError> {
        let () = self
            .client
            .hset(self.key(), (tenant.to_string(), yaml))
            .await
            .map_err(redis_err)?;
        self.announce().await
    }

    /// Removes `tenant` (`false` if it was not stored) and announces the change.
    ///
    /// # Errors
    /// [`ClusterError::Redis`].
    pub async fn remove(&self, tenant: &TenantId) -> Result<bool, ClusterError> {
        let n: i64 = self
            .client
            .hdel(self.key(), tenant.to_string())
            .await
            .map_err(redis_err)?;
        self.announce().await?;
        Ok(n > 0)
    }

    async fn announce(&self) -> Result<(), ClusterError> {
        self.client
            .publish::<(), _, _>(Self::channel(&self.prefix), "changed")
            .await
            .map_err(redis_err)
    }
}
