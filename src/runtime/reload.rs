//! Reloading: read the registry file, then the root supervisor applies the
//! difference (`root/apply.rs`) — start added tenants, stop removed ones (revoking
//! their leases), restart changed ones — leaving every other tenant and the workers
//! untouched. Here: when two versions of a tenant differ, the slow stopping half the
//! root runs in a task, and the tenant files the admin API writes into
//! `runtime.tenants_dir` (atomically: temp file + rename).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::RuntimeInner;
use super::credentials;
use super::tenants::{AccessShared, TenantEntry};
use crate::actors::access::CommandPlan;
use crate::admin::{AdminError, ReloadReport};
use crate::bus::Bus;
use crate::config::{LoadOptions, Registry, TenantConfig};
use crate::model::TenantId;
use crate::vault::VaultHandle;

/// Whether two versions of a tenant can keep running as they are.
pub(crate) fn same_tenant(a: &TenantConfig, a_print: &[u8; 32], b: &TenantConfig) -> bool {
    a_print == &credentials::fingerprint(b)
        && a.credentials.app_id == b.credentials.app_id
        && a.allow == b.allow
        && a.storage == b.storage
        && a.gateway == b.gateway
        && a.endpoints == b.endpoints
        && a.publish_raw == b.publish_raw
}

/// How long a retiring tenant's REST actor may take to settle its commands.
const COMMANDS_SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

/// A tenant the root took out of its state, for [`retire`] to stop.
pub(crate) struct Retire {
    id: TenantId,
    entry: Arc<TenantEntry>,
    /// Removed from the registry: its leases are revoked.
    removed: bool,
    /// Changed credentials: its saved gateway sessions are forgotten.
    new_identity: bool,
    /// What its registered commands become before it stops: none when removed;
    /// when changed, the old commands in the targets the next version keeps (the
    /// next version registers its own there, and nothing is overwritten twice).
    commands: CommandPlan,
}

impl Retire {
    pub(crate) fn removed(id: TenantId, entry: Arc<TenantEntry>) -> Self {
        Self {
            id,
            entry,
            removed: true,
            new_identity: false,
            commands: CommandPlan::none(),
        }
    }

    /// A tenant whose new version is `next`.
    pub(crate) fn changed(
        id: TenantId,
        entry: Arc<TenantEntry>,
        next: &TenantConfig,
        next_plan: &CommandPlan,
    ) -> Self {
        let new_identity = entry.fingerprint != credentials::fingerprint(next);
        let old = entry.command_plan();
        let commands = CommandPlan {
            targets: old
                .targets
                .iter()
                .filter(|t| next_plan.targets.contains(t))
                .copied()
                .collect(),
            commands: old.commands.clone(),
        };
        Self {
            id,
            entry,
            removed: false,
            new_identity,
            commands,
        }
    }
}

/// The slow half of an apply, run in a task while the root keeps supervising: stop
/// removed tenants and revoke every lease under their prefix, register the new
/// registry's tenants on the bus, publish its credentials, stop changed tenants
/// (forgetting their sessions when their credentials changed). The root starts the
/// new versions when this returns.
pub(crate) async fn retire(
    bus: &Bus,
    vault: &VaultHandle,
    access: Option<&AccessShared>,
    registry: &Registry,
    retiring: Vec<Retire>,
) {
    let (removed, changed): (Vec<_>, Vec<_>) = retiring.into_iter().partition(|r| r.removed);
    for r in removed {
        // Its commands go with it (on the node whose REST actor holds it).
        r.entry
            .settle_commands(r.commands, COMMANDS_SETTLE_TIMEOUT)
            .await;
        r.entry.stop().await;
        let prefix = format!("{}/{}/", r.id.provider, r.id.tenant);
        if let Err(e) = vault.revoke_prefix(&prefix).await {
            tracing::warn!(provider = %r.id.provider, tenant = %r.id.tenant, error = %crate::Report(&e), "revoking a removed tenant's leases failed");
        }
    }
    for t in &registry.tenants {
        let id = t.id();
        if let Err(e) = bus.register_tenant(&id).await {
            tracing::warn!(provider = %id.provider, tenant = %id.tenant, error = %crate::Report(&e), "registering tenant on the bus failed");
        }
    }
    let Some(access) = access else {
        return;
    };
    credentials::publish_all(vault, registry).await;
    for r in changed {
        r.entry
            .settle_commands(r.commands, COMMANDS_SETTLE_TIMEOUT)
            .await;
        let shards = r.entry.shard_ids();
        r.entry.stop().await;
        if r.new_identity {
            // A session belongs to the credentials that opened it: with a new token
            // the gateway identifies afresh instead of resuming.
            let store = access.sessions(registry).await;
            for shard in shards {
                if let Err(e) = store.clear(&r.id, shard).await {
                    tracing::warn!(provider = %r.id.provider, tenant = %r.id.tenant, shard, error = %crate::Report(&e), "forgetting a gateway session failed");
                }
            }
        }
    }
}

impl RuntimeInner {
    /// Re-reads the registry file (outside the root) and has the root apply it.
    pub(crate) async fn reload_from_file(&self) -> Result<ReloadReport, AdminError> {
        let source = self.view().registry.source.clone();
        let opts = LoadOptions {
            resolve_env: self.role.runs_access(),
            ..LoadOptions::default()
        };
        let invalid = |e: crate::config::ConfigError| {
            AdminError::InvalidConfig(e.issues.iter().map(ToString::to_string).collect())
        };
        let mut registry = Registry::load_with(&source, &opts).map_err(invalid)?;
        if let Some(store) = &self.tenant_store {
            let docs = store
                .documents()
                .await
                .map_err(|e| AdminError::Internal(crate::Report(&e).to_string()))?;
            registry = registry
                .with_tenant_documents(&docs, &opts)
                .map_err(invalid)?;
        }
        self.root.apply(registry).await
    }

    /// The folder tenant files live in.
    pub(crate) fn tenants_dir(&self) -> Result<PathBuf, AdminError> {
        self.view()
            .registry
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
