//! `RootSupervisor`: the top of the supervision tree. Its children are the worker
//! pool, one `TenantSupervisor` per tenant and the vault actor (all linked to it).
//!
//! OTP-style one-for-one: a child that dies unexpectedly is restarted on its own,
//! after an exponential backoff, within a restart budget (`runtime.restart`); past
//! the budget it is marked failed and left stopped, and every other child keeps
//! running. ractor's default (stop the parent when a child exits) is overridden.
//!
//! - **Worker pool**: it fails when its own worker-restart budget is spent (a handler
//!   that keeps panicking). The root starts a fresh pool with the current handlers;
//!   past the root's budget the node stops taking work (`/readyz` says why) while its
//!   tenants, bus and admin API keep running.
//! - **Tenant supervisor**: it only dies on a bug (its children's failures are its
//!   own business). The root starts that tenant again; past the budget the tenant is
//!   marked failed.
//! - **Vault**: a fresh actor over the same store (secrets and exclusive holds are
//!   shared, so they survive; holders whose renewals fail lease again). Every clone of
//!   the `VaultHandle` follows. Past the budget the vault stays down and `/readyz`
//!   reports it.
//!
//! Exits during shutdown, and of tenants a reload removed, are expected and ignored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SupervisionEvent};

use super::RuntimeInner;
use super::handlers;
use crate::actors::{RestartBudget, RestartPolicy, WorkerPoolConfig, WorkerPoolHandle};
use crate::model::TenantId;

/// The root's messages.
pub(crate) enum RootMsg {
    /// Start the worker pool again.
    StartPool,
    /// Start a tenant's supervisor again.
    RestartTenant(TenantId),
    /// Start the vault actor again.
    RestartVault,
}

/// A child's state as the root sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChildState {
    Running,
    Restarting,
    Failed,
}

impl ChildState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Restarting => "restarting",
            Self::Failed => "failed",
        }
    }
}

/// The worker pool's place in the tree: the running pool (replaced on restart), its
/// state, and how often the root restarted it.
pub(crate) struct PoolSlot {
    config: WorkerPoolConfig,
    pool: RwLock<Option<WorkerPoolHandle>>,
    state: RwLock<(ChildState, Option<String>)>,
    restarts: AtomicU64,
}

impl PoolSlot {
    pub(crate) fn new(config: WorkerPoolConfig) -> Self {
        Self {
            config,
            pool: RwLock::new(None),
            state: RwLock::new((ChildState::Running, None)),
            restarts: AtomicU64::new(0),
        }
    }

    /// The running pool, if any.
    pub(crate) fn handle(&self) -> Option<WorkerPoolHandle> {
        self.pool
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn state(&self) -> (ChildState, Option<String>) {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Pool restarts made by the root.
    pub(crate) fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    fn set_state(&self, state: ChildState, reason: Option<String>) {
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = (state, reason);
    }

    fn is(&self, cell: &ActorCell) -> bool {
        self.handle()
            .is_some_and(|p| p.actor().get_id() == cell.get_id())
    }

    /// Starts a pool linked to `supervisor` with the registry's current handlers.
    pub(crate) async fn start(
        &self,
        rt: &RuntimeInner,
        supervisor: ActorCell,
    ) -> Result<(), String> {
        let handlers = {
            let registry = rt.registry.lock().await;
            handlers::handler_set(&registry, &rt.app_handlers).map_err(|e| e.to_string())?
        };
        let (pool, _) = WorkerPoolHandle::start(
            self.config.clone(),
            rt.bus.clone(),
            handlers,
            Some(supervisor),
        )
        .await
        .map_err(|e| e.to_string())?;
        *self.pool.write().unwrap_or_else(PoisonError::into_inner) = Some(pool);
        self.set_state(ChildState::Running, None);
        Ok(())
    }
}

/// The root actor.
pub(crate) struct RootSupervisor;

/// The root's state: restart budgets per child.
pub(crate) struct RootState {
    rt: Weak<RuntimeInner>,
    policy: RestartPolicy,
    pool_budget: RestartBudget,
    vault_budget: RestartBudget,
    tenant_budgets: HashMap<TenantId, RestartBudget>,
}

impl RootSupervisor {
    /// Spawns the root for `rt` and links the vault actor to it.
    pub(crate) async fn spawn(
        rt: &Arc<RuntimeInner>,
        policy: RestartPolicy,
    ) -> Result<ActorRef<RootMsg>, ractor::SpawnErr> {
        let (root, _) = Actor::spawn(None, Self, (Arc::downgrade(rt), policy)).await?;
        rt.vault.actor_cell().link(root.get_cell());
        Ok(root)
    }

    fn pool_down(state: &mut RootState, rt: &RuntimeInner, myself: &ActorRef<RootMsg>, why: &str) {
        let Some(slot) = &rt.pool else { return };
        *slot.pool.write().unwrap_or_else(PoisonError::into_inner) = None;
        if let Some(delay) = state.pool_budget.on_failure() {
            slot.restarts.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("switchboard_actor_restarts_total").increment(1);
            tracing::warn!(
                reason = why,
                delay_ms = delay.as_millis() as u64,
                "worker pool failed; restarting it"
            );
            slot.set_state(ChildState::Restarting, Some(why.to_owned()));
            myself.send_after(delay, || RootMsg::StartPool);
        } else {
            let reason = format!("restart budget spent ({why})");
            tracing::error!(reason, "worker pool failed; left stopped");
            slot.set_state(ChildState::Failed, Some(reason));
        }
    }

    fn vault_down(state: &mut RootState, myself: &ActorRef<RootMsg>, why: &str) {
        metrics::counter!("switchboard_vault_failures_total").increment(1);
        if let Some(delay) = state.vault_budget.on_failure() {
            metrics::counter!("switchboard_actor_restarts_total").increment(1);
            tracing::warn!(
                reason = why,
                delay_ms = delay.as_millis() as u64,
                "vault actor stopped; restarting it"
            );
            myself.send_after(delay, || RootMsg::RestartVault);
        } else {
            tracing::error!(
                reason = why,
                "vault actor stopped past its restart budget; left stopped"
            );
        }
    }

    async fn tenant_down(
        state: &mut RootState,
        rt: &RuntimeInner,
        myself: &ActorRef<RootMsg>,
        cell: &ActorCell,
        why: &str,
    ) {
        let tenants = rt.tenants.lock().await;
        let Some((id, entry)) = tenants
            .iter()
            .find(|(_, e)| e.supervisor_id() == Some(cell.get_id()))
        else {
            // A tenant a reload already removed.
            return;
        };
        if entry.is_stopping() {
            return;
        }
        let budget = state
            .tenant_budgets
            .entry(id.clone())
            .or_insert_with(|| RestartBudget::new(state.policy));
        match budget.on_failure() {
            Some(delay) => {
                tracing::warn!(provider = %id.provider, tenant = %id.tenant, reason = why,
                    delay_ms = delay.as_millis() as u64, "tenant supervisor died; restarting it");
                metrics::counter!("switchboard_actor_restarts_total").increment(1);
                entry.mark_restarting(why);
                let id = id.clone();
                myself.send_after(delay, move || RootMsg::RestartTenant(id));
            }
            None => entry.mark_failed(format!("supervisor restart budget spent ({why})")),
        }
    }
}

impl Actor for RootSupervisor {
    type Msg = RootMsg;
    type State = RootState;
    type Arguments = (Weak<RuntimeInner>, RestartPolicy);

    async fn pre_start(
        &self,
        _myself: ActorRef<RootMsg>,
        (rt, policy): Self::Arguments,
    ) -> Result<RootState, ActorProcessingErr> {
        Ok(RootState {
            rt,
            policy,
            pool_budget: RestartBudget::new(policy),
            vault_budget: RestartBudget::new(policy),
            tenant_budgets: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<RootMsg>,
        msg: RootMsg,
        state: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        let Some(rt) = state.rt.upgrade() else {
            return Ok(());
        };
        if rt.cancel.is_cancelled() {
            return Ok(());
        }
        match msg {
            RootMsg::StartPool => {
                let Some(slot) = &rt.pool else {
                    return Ok(());
                };
                if let Err(e) = slot.start(&rt, myself.get_cell()).await {
                    Self::pool_down(state, &rt, &myself, &format!("pool did not start: {e}"));
                }
            }
            RootMsg::RestartVault => match rt.vault.restart(Some(myself.get_cell())).await {
                Ok(()) => tracing::info!("vault actor restarted"),
                Err(e) => Self::vault_down(state, &myself, &format!("did not start: {e}")),
            },
            RootMsg::RestartTenant(id) => {
                let mut tenants = rt.tenants.lock().await;
                let Some(old) = tenants.get(&id) else {
                    return Ok(());
                };
                if old.is_stopping() {
                    return Ok(());
                }
                let registry = rt.registry.lock().await.clone();
                let config = old.config.clone();
                let restarts = old.restarts() + 1;
                let entry = super::tenants::TenantEntry::start(&rt, config, &registry).await;
                entry.set_restarts(restarts);
                tenants.insert(id, entry);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<RootMsg>,
        event: SupervisionEvent,
        state: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        let Some((cell, reason)) = crate::actors::child_exit(event) else {
            return Ok(());
        };
        let Some(rt) = state.rt.upgrade() else {
            return Ok(());
        };
        if rt.cancel.is_cancelled() {
            // Shutting down: every exit is expected.
            return Ok(());
        }
        if rt.pool.as_ref().is_some_and(|s| s.is(&cell)) {
            Self::pool_down(state, &rt, &myself, &reason);
        } else if rt.vault.actor_cell().get_id() == cell.get_id() {
            Self::vault_down(state, &myself, &reason);
        } else {
            Self::tenant_down(state, &rt, &myself, &cell, &reason).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::admin::TenantState;
    use crate::config::{LoadOptions, Registry};
    use crate::runtime::Runtime;
    use crate::sim::{Sim, SimConfig};

    /// A tenant supervisor only dies on a bug, so the test kills it: the root starts
    /// the tenant again (a new supervisor, counted as a restart) and it reconnects.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dead_tenant_supervisor_is_started_again() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let yaml = "providers:\n  - provider: discord\n    tenant: duck\n    credentials:\n      bot_token: fake-duck-root\n    gateway: { intents: [guilds, guild_messages] }\n";
        let mut reg = Registry::from_yaml_str(yaml, "t.yml", &LoadOptions::default()).unwrap();
        let sim = Sim::start(SimConfig::from_registry(&reg).unwrap(), "127.0.0.1:0")
            .await
            .unwrap();
        reg.tenants[0].endpoints.api = Some(format!("http://{}", sim.api_host()));
        reg.tenants[0].endpoints.gateway = Some(sim.gateway_url());
        let runtime = Runtime::builder()
            .config(reg)
            .admin_listen(None)
            .build()
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let running = |rt: Runtime| async move {
            let st = rt.status().await;
            st.tenants[0].state == TenantState::Running
        };
        while !(sim.connected_sessions("duck") == 1 && running(runtime.clone()).await) {
            assert!(tokio::time::Instant::now() < deadline, "duck never ran");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let id = crate::model::TenantId::parse("discord", "duck").unwrap();
        let first = {
            let tenants = runtime.inner.tenants.lock().await;
            let entry = tenants.get(&id).unwrap();
            entry.kill_supervisor();
            entry.supervisor_id().unwrap()
        };
        loop {
            let replaced = {
                let tenants = runtime.inner.tenants.lock().await;
                let e = tenants.get(&id).unwrap();
                e.supervisor_id().is_some_and(|s| s != first) && e.restarts() == 1
            };
            if replaced && sim.connected_sessions("duck") == 1 && running(runtime.clone()).await {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "duck was not started again: {:?}",
                runtime.status().await.tenants
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        runtime.shutdown(Duration::from_secs(10)).await;
        sim.shutdown().await;
    }
}
