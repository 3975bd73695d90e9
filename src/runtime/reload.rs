//! Reloading: diff the running registry against a new one and apply the difference —
//! start added tenants, stop removed ones (revoking their leases), restart changed
//! ones — leaving every other tenant and the workers untouched. Also the tenant files
//! the admin API writes into `runtime.tenants_dir` (atomically: temp file + rename).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::RuntimeInner;
use super::credentials;
use super::handlers::handler_set;
use super::tenants::TenantEntry;
use crate::admin::{AdminError, ReloadReport};
use crate::config::{LoadOptions, Registry, TenantConfig};
use crate::model::TenantId;

/// Whether two versions of a tenant can keep running as they are.
fn same_tenant(a: &TenantConfig, a_print: &[u8; 32], b: &TenantConfig) -> bool {
    a_print == &credentials::fingerprint(b)
        && a.credentials.app_id == b.credentials.app_id
        && a.allow == b.allow
        && a.storage == b.storage
        && a.gateway == b.gateway
        && a.endpoints == b.endpoints
        && a.publish_raw == b.publish_raw
}

impl RuntimeInner {
    pub(crate) async fn reload_from_file(self: &Arc<Self>) -> Result<ReloadReport, AdminError> {
        let source = self.registry.lock().await.source.clone();
        let opts = LoadOptions {
            resolve_env: self.role.runs_access(),
            ..LoadOptions::default()
        };
        let registry = Registry::load_with(&source, &opts).map_err(|e| {
            AdminError::InvalidConfig(e.issues.iter().map(ToString::to_string).collect())
        })?;
        self.apply(registry).await
    }

    pub(crate) async fn apply(
        self: &Arc<Self>,
        registry: Registry,
    ) -> Result<ReloadReport, AdminError> {
        // Validate everything that can fail before touching anything.
        let handlers = handler_set(&registry, &self.app_handlers).map_err(|e| match e {
            super::RuntimeError::Config(p) => AdminError::InvalidConfig(p),
            other => AdminError::Internal(other.to_string()),
        })?;
        let mut report = ReloadReport::default();
        let mut tenants = self.tenants.lock().await;
        let new_ids: Vec<TenantId> = registry.tenants.iter().map(TenantConfig::id).collect();

        // Removed tenants: stop, then revoke every lease under their prefix.
        let removed: Vec<TenantId> = tenants
            .keys()
            .filter(|id| !new_ids.contains(id))
            .cloned()
            .collect();
        for id in removed {
            if let Some(entry) = tenants.remove(&id) {
                entry.stop().await;
            }
            let prefix = format!("{}/{}/", id.provider, id.tenant);
            if let Err(e) = self.vault.revoke_prefix(&prefix).await {
                tracing::warn!(tenant = %id, error = %e, "revoking a removed tenant's leases failed");
            }
            report.removed.push(id.to_string());
        }
        for id in &new_ids {
            if let Err(e) = self.bus.register_tenant(id).await {
                tracing::warn!(tenant = %id, error = %e, "registering tenant on the bus failed");
            }
        }
        if self.role.runs_access() {
            credentials::publish_all(&self.vault, &registry).await;
            for t in &registry.tenants {
                let id = t.id();
                let keep = tenants
                    .get(&id)
                    .is_some_and(|e| same_tenant(&e.config, &e.fingerprint, t));
                if keep {
                    report.unchanged.push(id.to_string());
                    continue;
                }
                if let Some(old) = tenants.remove(&id) {
                    let new_identity = old.fingerprint != credentials::fingerprint(t);
                    let shards = old.shard_ids();
                    old.stop().await;
                    if new_identity {
                        // A session belongs to the credentials that opened it: with a
                        // new token the gateway identifies afresh instead of resuming.
                        let store = self.access.sessions(&registry).await;
                        for shard in shards {
                            if let Err(e) = store.clear(&id, shard).await {
                                tracing::warn!(tenant = %id, shard, error = %e, "forgetting a gateway session failed");
                            }
                        }
                    }
                    report.changed.push(id.to_string());
                } else {
                    report.added.push(id.to_string());
                }
                let entry = TenantEntry::start(self, Arc::new(t.clone()), &registry).await;
                tenants.insert(id, entry);
            }
        } else {
            for id in &new_ids {
                report.unchanged.push(id.to_string());
            }
        }
        drop(tenants);
        if let Some(pool) = self.pool.as_ref().and_then(super::root::PoolSlot::handle) {
            pool.set_handlers(handlers);
        }
        if let Some(cluster) = self.access.cluster() {
            cluster.set_tenants(registry.tenants.len());
        }
        *self.registry.lock().await = registry;
        tracing::info!(?report, "registry reloaded");
        Ok(report)
    }

    /// The folder tenant files live in.
    pub(crate) async fn tenants_dir(&self) -> Result<PathBuf, AdminError> {
        self.registry
            .lock()
            .await
            .runtime
            .tenants_dir
            .clone()
            .ok_or_else(|| {
                AdminError::Unsupported(
                    "runtime.tenants_dir is not set: tenants are managed in the registry file"
                        .to_owned(),
                )
            })
    }
}

/// Writes `body` to `path` atomically: a temporary file in the same folder, then a
/// rename, so a reader never sees half a file.
pub(crate) fn write_atomically(path: &Path, body: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("tenant"),
        std::process::id()
    ));
    std::fs::write(&tmp, body)?;
    std::fs::rename(&tmp, path)
}
