//! The runtime as the admin API's backend. Health (`/readyz`, `/metrics`,
//! `/v1/status`) is built from the view the root supervisor publishes — no round
//! trip through the root or any child actor; changes (tenant files, reload) are
//! applied by the root.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::RuntimeInner;
use super::reload::write_atomically;
use super::root::{ChildState, PoolView, RootView};
use crate::actors::WorkerPoolHandle;
use crate::admin::{
    AdminBackend, AdminError, BacklogStatus, BusStatus, DeadLetterView, GroupStatus, Readiness,
    ReloadReport, RuntimeStatus, TenantState, TenantView, VaultStatus, WorkersStatus,
};
use crate::model::{TenantId, validate_segment};

/// The tenants a worker node serves (it runs none of their actors).
fn served_tenants<'a>(
    view: &'a RootView,
    waiting: &'a std::collections::HashMap<String, usize>,
) -> impl Iterator<Item = crate::admin::TenantStatus> + 'a {
    view.registry.tenants.iter().map(|t| {
        let id = t.id().to_string();
        crate::admin::TenantStatus {
            inbox: waiting.get(&id).copied().unwrap_or(0) as u64,
            id,
            state: TenantState::Running,
            reason: None,
            restarts: 0,
            shards: Vec::new(),
            rest: None,
            handler_panics: 0,
            quarantined: None,
            holder: None,
            commands: None,
            schedules: Vec::new(),
        }
    })
}

/// A pool as status shows it.
fn workers_status(slot: &PoolView) -> WorkersStatus {
    let (state, reason) = (slot.state, slot.reason.clone());
    let s = slot.handle.as_ref().map(WorkerPoolHandle::stats);
    WorkersStatus {
        workers: s.as_ref().map_or(0, |s| s.workers as u64),
        busy: s.as_ref().map_or(0, |s| s.busy),
        handled: s.as_ref().map_or(0, |s| s.handled),
        failed: s.as_ref().map_or(0, |s| s.failed),
        restarts: s.as_ref().map_or(0, |s| s.restarts),
        p99_us: s.as_ref().and_then(|s| s.p99).map(|d| d.as_micros() as u64),
        state: state.as_str().to_owned(),
        reason,
        pool_restarts: slot.restarts,
    }
}

/// Every worker group: its pool here (if this node runs it), backlog, outcomes.
fn groups_status(
    view: &RootView,
    bus: &crate::bus::BusStats,
    backlog: Option<&crate::bus::BusBacklog>,
) -> Vec<GroupStatus> {
    bus.groups
        .iter()
        .map(|g| {
            let b = backlog.and_then(|b| b.groups.iter().find(|b| b.group == g.name));
            GroupStatus {
                name: g.name.clone(),
                workers: view
                    .pools
                    .iter()
                    .find(|p| p.group == g.name)
                    .map(workers_status),
                lag: b.map(crate::bus::GroupBacklog::lag),
                pending: b.map(crate::bus::GroupBacklog::pending),
                acked: g.acked,
                retried: g.retried,
                dead_lettered: g.dead_lettered,
            }
        })
        .collect()
}

impl RuntimeInner {
    /// The status tree from one view of the root.
    /// In a cluster, names the node holding each tenant (one heartbeat old at most).
    fn name_holders(&self, tenants: &mut [crate::admin::TenantStatus]) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        let holders: std::collections::HashMap<String, String> = cluster
            .nodes()
            .into_iter()
            .flat_map(|n| n.held.into_iter().map(move |t| (t, n.id.clone())))
            .collect();
        for t in tenants {
            t.holder = holders.get(&t.id).cloned();
        }
    }

    /// Each tenant's schedules, as this node's scheduler runs them.
    fn schedules(&self, tenants: &mut [crate::admin::TenantStatus]) {
        if let Some(jobs) = &self.jobs {
            for t in tenants {
                t.schedules = jobs.status(&t.id);
            }
        }
    }

    pub(crate) async fn status_of(&self, view: &RootView) -> RuntimeStatus {
        let bus = self.bus.stats();
        let waiting: std::collections::HashMap<String, usize> =
            bus.scheduler.waiting_by_tenant.iter().cloned().collect();
        let mut tenants = Vec::new();
        for (id, entry) in &view.tenants {
            let inbox = waiting.get(&id.to_string()).copied().unwrap_or(0) as u64;
            tenants.push(entry.status(inbox));
        }
        if !self.role.runs_access() {
            // Worker nodes run no tenant actors; list the tenants they serve.
            tenants.extend(served_tenants(view, &waiting));
        }
        // Handler panics are charged per tenant by this node's pools (each group
        // keeps its own budget; status shows their sum and any quarantine).
        for pool in view.pools.iter().filter_map(|p| p.handle.as_ref()) {
            let mut faults: std::collections::HashMap<String, _> = pool
                .tenant_faults()
                .into_iter()
                .map(|(id, f)| (id.to_string(), f))
                .collect();
            for t in &mut tenants {
                let Some(f) = faults.remove(&t.id) else {
                    continue;
                };
                t.handler_panics += f.panics;
                if t.quarantined.is_none() {
                    t.quarantined = f.quarantined;
                }
            }
        }
        self.name_holders(&mut tenants);
        self.schedules(&mut tenants);
        let vault = self.vault.stats().await.ok();
        // One round trip on Redis; if it fails the backlog is left out (readiness
        // reports an unreachable bus).
        let backlog = self
            .bus
            .backlog()
            .await
            .inspect_err(
                |e| tracing::debug!(error = %crate::Report(e), "reading the bus backlog failed"),
            )
            .ok();
        RuntimeStatus {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            node: self.node_id.clone(),
            role: self.role.as_str().to_owned(),
            uptime_secs: self.started.elapsed().as_secs(),
            tenants,
            workers: view.pool().map(workers_status),
            groups: if bus.groups.len() > 1 {
                groups_status(view, &bus, backlog.as_ref())
            } else {
                Vec::new()
            },
            bus: BusStatus {
                backend: bus.backend.to_owned(),
                published: bus.published,
                acked: bus.acked,
                retried: bus.retried,
                dead_lettered: bus.dead_lettered,
                waiting: bus.scheduler.waiting as u64,
                in_flight: bus.scheduler.in_flight as u64,
                dead_letter_depth: backlog.as_ref().map(|b| b.dead_letters),
                backlog: backlog.map_or_else(Vec::new, |b| {
                    b.tenants
                        .into_iter()
                        .map(|t| BacklogStatus {
                            tenant: t.tenant.to_string(),
                            lag: t.lag,
                            pending: t.pending,
                        })
                        .collect()
                }),
            },
            vault: VaultStatus {
                backend: vault
                    .as_ref()
                    .map_or("unreachable", |v| v.backend)
                    .to_owned(),
                leases: vault.map_or(0, |v| v.local_leases as u64),
                available: vault.is_some_and(|v| v.backend_available),
            },
        }
    }
}

/// The admin API's view of a runtime.
pub(crate) struct AdminFacade(pub(crate) Arc<RuntimeInner>);

fn tenant_file_name(provider: &str, tenant: &str) -> Result<String, AdminError> {
    for (what, v) in [("provider", provider), ("tenant", tenant)] {
        validate_segment(v).map_err(|e| AdminError::BadRequest(format!("{what} {v:?} {e}")))?;
    }
    Ok(format!("{provider}__{tenant}.yml"))
}

impl AdminFacade {
    async fn put(&self, body: String, create: bool) -> Result<ReloadReport, AdminError> {
        let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(&body)
            .map_err(|e| AdminError::BadRequest(format!("not a YAML or JSON tenant entry: {e}")))?;
        let field = |k: &str| {
            value
                .get(k)
                .and_then(serde_yaml_ng::Value::as_str)
                .map(str::to_owned)
        };
        let (Some(provider), Some(tenant)) = (field("provider"), field("tenant")) else {
            return Err(AdminError::BadRequest(
                "the tenant entry needs provider and tenant".to_owned(),
            ));
        };
        if let Some(store) = &self.0.tenant_store {
            return self
                .put_shared(store, &provider, &tenant, &body, create)
                .await;
        }
        let dir = self.0.tenants_dir()?;
        let path = dir.join(tenant_file_name(&provider, &tenant)?);
        let exists_in_registry = self
            .0
            .view()
            .registry
            .tenants
            .iter()
            .any(|t| t.provider.as_str() == provider && t.tenant.as_str() == tenant);
        if create && exists_in_registry {
            return Err(AdminError::Conflict(format!(
                "tenant {provider}/{tenant} exists"
            )));
        }
        let previous = std::fs::read_to_string(&path).ok();
        if !create && previous.is_none() {
            return Err(AdminError::NotFound(format!(
                "tenant {provider}/{tenant} has no file in {}",
                dir.display()
            )));
        }
        write_atomically(&path, &body)
            .map_err(|e| AdminError::Internal(format!("writing {}: {e}", path.display())))?;
        match self.0.reload_from_file().await {
            Ok(report) => Ok(report),
            Err(e) => {
                // Put the files back as they were: an invalid change leaves nothing behind.
                let restored = match &previous {
                    Some(old) => write_atomically(&path, old),
                    None => std::fs::remove_file(&path),
                };
                if let Err(re) = restored {
                    tracing::error!(path = %path.display(), error = %re, "restoring a tenant file failed");
                }
                Err(e)
            }
        }
    }

    /// `put` with the cluster's shared tenant registry: the document goes to Redis
    /// (secrets only as `${VAR}` references), this node applies it, and every other
    /// node applies it when the change is announced. An invalid document is taken
    /// back out.
    async fn put_shared(
        &self,
        store: &crate::cluster::TenantStore,
        provider: &str,
        tenant: &str,
        body: &str,
        create: bool,
    ) -> Result<ReloadReport, AdminError> {
        let id = TenantId::parse(provider, tenant)
            .map_err(|e| AdminError::BadRequest(format!("invalid tenant id: {e}")))?;
        let internal =
            |e: crate::cluster::ClusterError| AdminError::Internal(crate::Report(&e).to_string());
        let previous = store.get(&id).await.map_err(internal)?;
        let in_registry = self.0.view().registry.tenants.iter().any(|t| t.id() == id);
        if create && in_registry {
            return Err(AdminError::Conflict(format!("tenant {id} exists")));
        }
        if !create && previous.is_none() {
            return Err(AdminError::NotFound(format!(
                "tenant {id} is not in the shared registry (tenants of the registry file are edited there)"
            )));
        }
        store.put(&id, body).await.map_err(internal)?;
        match self.0.reload_from_file().await {
            Ok(report) => Ok(report),
            Err(e) => {
                let undo = match previous {
                    Some(p) => store.put(&id, &p).await,
                    None => store.remove(&id).await.map(|_| ()),
                };
                if let Err(u) = undo {
                    tracing::error!(tenant = %id, error = %u, "taking back an invalid shared tenant failed");
                }
                Err(e)
            }
        }
    }

    async fn delete(&self, provider: String, tenant: String) -> Result<ReloadReport, AdminError> {
        if let Some(store) = &self.0.tenant_store {
            let id = TenantId::parse(&provider, &tenant)
                .map_err(|e| AdminError::BadRequest(format!("invalid tenant id: {e}")))?;
            let removed = store
                .remove(&id)
                .await
                .map_err(|e| AdminError::Internal(crate::Report(&e).to_string()))?;
            if !removed {
                return Err(AdminError::NotFound(format!(
                    "tenant {id} is not in the shared registry (tenants of the registry file are edited there)"
                )));
            }
            return self.0.reload_from_file().await;
        }
        let dir = self.0.tenants_dir()?;
        let path = dir.join(tenant_file_name(&provider, &tenant)?);
        let Ok(previous) = std::fs::read_to_string(&path) else {
            return Err(AdminError::NotFound(format!(
                "tenant {provider}/{tenant} has no file in {} (tenants of the main registry file are edited there)",
                dir.display()
            )));
        };
        std::fs::remove_file(&path)
            .map_err(|e| AdminError::Internal(format!("removing {}: {e}", path.display())))?;
        match self.0.reload_from_file().await {
            Ok(report) => Ok(report),
            Err(e) => {
                if let Err(re) = write_atomically(&path, &previous) {
                    tracing::error!(path = %path.display(), error = %re, "restoring a tenant file failed");
                }
                Err(e)
            }
        }
    }
}

impl AdminBackend for AdminFacade {
    fn status(&self) -> BoxFuture<'_, RuntimeStatus> {
        Box::pin(async move { self.0.status_of(&self.0.view()).await })
    }

    fn readiness(&self) -> BoxFuture<'_, Readiness> {
        Box::pin(async move {
            let mut reasons = Vec::new();
            if let Err(e) = self.0.bus.dead_letters(1).await {
                reasons.push(format!("bus unreachable: {}", crate::Report(&e)));
            }
            match self.0.vault.stats().await {
                Ok(s) if !s.backend_available => {
                    reasons.push("vault backend unreachable".to_owned());
                }
                Ok(_) => {}
                Err(e) => reasons.push(format!("vault: {e}")),
            }
            let view = self.0.view();
            for pool in view.pools.iter().filter(|p| p.state == ChildState::Failed) {
                let what = if pool.group == crate::bus::DEFAULT_GROUP {
                    "worker pool".to_owned()
                } else {
                    format!("worker pool of group {}", pool.group)
                };
                reasons.push(format!(
                    "{what} failed: {}",
                    pool.reason.as_deref().unwrap_or_default()
                ));
            }
            if self.0.role.runs_access() {
                let status = self.0.status_of(&view).await;
                if !status.tenants.is_empty()
                    && !status
                        .tenants
                        .iter()
                        .any(|t| matches!(t.state, TenantState::Running | TenantState::Standby))
                {
                    reasons.push("no tenant is connected".to_owned());
                }
            }
            Readiness {
                ready: reasons.is_empty(),
                reasons,
            }
        })
    }

    fn reload(&self) -> BoxFuture<'_, Result<ReloadReport, AdminError>> {
        Box::pin(self.0.reload_from_file())
    }

    fn tenants(&self) -> BoxFuture<'_, Vec<TenantView>> {
        Box::pin(async move {
            let view = self.0.view();
            let reg = &view.registry;
            let dir = reg.runtime.tenants_dir.clone();
            reg.tenants
                .iter()
                .map(|t| TenantView {
                    id: t.id().to_string(),
                    source: t.source.display().to_string(),
                    managed: dir.as_ref().is_some_and(|d| t.source.starts_with(d)),
                })
                .collect()
        })
    }

    fn put_tenant(
        &self,
        body: String,
        create: bool,
    ) -> BoxFuture<'_, Result<ReloadReport, AdminError>> {
        Box::pin(self.put(body, create))
    }

    fn delete_tenant(
        &self,
        provider: String,
        tenant: String,
    ) -> BoxFuture<'_, Result<ReloadReport, AdminError>> {
        Box::pin(self.delete(provider, tenant))
    }

    fn dead_letters(&self, limit: usize) -> BoxFuture<'_, Result<Vec<DeadLetterView>, AdminError>> {
        Box::pin(async move {
            let letters = self
                .0
                .bus
                .dead_letters(limit)
                .await
                .map_err(|e| AdminError::Internal(crate::Report(&e).to_string()))?;
            Ok(letters
                .into_iter()
                .map(|d| DeadLetterView {
                    tenant: d.envelope.as_ref().map(|e| e.tenant_id().to_string()),
                    envelope: d
                        .envelope
                        .as_ref()
                        .and_then(|e| serde_json::to_value(e).ok()),
                    raw_bytes: d.raw.as_ref().map(Vec::len),
                    id: d.id,
                    error: d.error,
                    attempts: d.attempts,
                    ts: d.ts,
                    group: d.group,
                })
                .collect())
        })
    }

    fn replay(&self, id: String) -> BoxFuture<'_, Result<bool, AdminError>> {
        Box::pin(async move {
            self.0
                .bus
                .replay_dead_letter(&id)
                .await
                .map_err(|e| AdminError::Internal(crate::Report(&e).to_string()))
        })
    }

    fn leases(&self) -> BoxFuture<'_, Result<serde_json::Value, AdminError>> {
        Box::pin(async move {
            let s = self
                .0
                .vault
                .stats()
                .await
                .map_err(|e| AdminError::Internal(crate::Report(&e).to_string()))?;
            Ok(serde_json::json!({
                "backend": s.backend,
                "local_leases": s.local_leases,
                "backend_available": s.backend_available,
            }))
        })
    }

    fn start_backfill(
        &self,
        provider: String,
        tenant: String,
        request: crate::store::indexer::BackfillRequest,
    ) -> BoxFuture<'_, Result<crate::admin::BackfillView, AdminError>> {
        Box::pin(async move { self.publish_backfill(&provider, &tenant, request).await })
    }

    fn backfill(
        &self,
        provider: String,
        tenant: String,
        channel: String,
    ) -> BoxFuture<'_, Result<crate::admin::BackfillView, AdminError>> {
        Box::pin(async move { self.read_backfill(&provider, &tenant, &channel).await })
    }

    fn cluster(&self) -> BoxFuture<'_, Option<crate::admin::ClusterStatus>> {
        Box::pin(async move {
            self.0
                .cluster
                .as_ref()
                .map(|c| crate::admin::ClusterStatus::new(c.node_id(), c.nodes()))
        })
    }
}
