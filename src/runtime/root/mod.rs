//! `RootSupervisor`: the top of the supervision tree. Its children are the worker
//! pool, one `TenantSupervisor` per tenant and the vault actor (all linked to it).
//!
//! **The root's state owns the tree** (ractor's `examples/supervisor.rs` pattern):
//! the tenant supervisors, the pool, every restart budget and the running registry
//! live in [`RootState`](state::RootState), and nothing else writes them. The
//! runtime, reload and the admin backend talk to the root with [`RootMsg`]s through
//! a [`RootHandle`]; tenants are started only here (at start, on restart, on
//! reload). After each change the root publishes a [`RootView`] on a `watch`
//! channel, which health readers clone without a round trip.
//!
//! The root never waits in a handler for something that needs it to handle another
//! message: stopping tenants (a reload, shutdown) happens in a task or in the
//! runtime, while the root keeps processing supervision events.
//!
//! OTP-style one-for-one: a child that dies unexpectedly is restarted on its own,
//! after an exponential backoff, within a restart budget (`runtime.restart`); past
//! the budget it is marked failed and left stopped, and every other child keeps
//! running. ractor's default (stop the parent when a child exits) is overridden.
//!
//! - **Worker pools** (one per worker group this node runs, each with its own
//!   budget; one group's failures never stop another's pool): a pool fails when its own budget for failures no tenant caused is
//!   spent (a handler's panics are charged to its tenant, inside the pool). The root
//!   starts a fresh pool with the current handlers; past the root's budget the node
//!   stops taking work (`/readyz` says why) while its tenants, bus and admin API
//!   keep running.
//! - **Tenant supervisor**: it only dies on a bug (its children's failures are its
//!   own business). The root starts that tenant again; past the budget the tenant is
//!   marked failed.
//! - **Vault**: a fresh actor over the same store (secrets and exclusive holds are
//!   shared, so they survive; holders whose renewals fail lease again). Every clone of
//!   the `VaultHandle` follows. Past the budget the vault stays down and `/readyz`
//!   reports it.
//!
//! Exits during shutdown, and of tenants a reload removed, are expected and ignored.

mod apply;
mod msg;
mod state;
#[cfg(all(test, feature = "sim"))]
mod tests;

use std::sync::Arc;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SupervisionEvent};

use super::handlers;
use super::tenants::TenantEntry;
use crate::actors::{RestartBudget, WorkerPoolHandle};
use crate::model::TenantId;

pub(crate) use msg::{PoolStartError, RootHandle, RootMsg, ShutdownPlan};
pub(crate) use state::{ChildState, PoolView, RootArgs, RootView};
use state::{RootState, TenantSlot};

/// The root actor.
pub(crate) struct RootSupervisor;

impl RootSupervisor {
    /// Spawns the root and links the vault actor to it. Nothing else starts until
    /// [`RootHandle::start`].
    pub(crate) async fn spawn(args: RootArgs) -> Result<RootHandle, ractor::SpawnErr> {
        let vault = args.vault.clone();
        let (root, _) = Actor::spawn(None, Self, args).await?;
        vault.actor_cell().link(root.get_cell());
        Ok(RootHandle::new(root))
    }
}

impl RootState {
    /// Starts every worker group's pool (at build).
    async fn start_pools(&mut self, root: &ActorCell) -> Result<(), PoolStartError> {
        let groups: Vec<String> = self.pools.iter().map(|p| p.config.group.clone()).collect();
        for g in groups {
            self.start_pool(&g, root.clone()).await?;
        }
        Ok(())
    }

    /// Starts worker group `group`'s pool linked to the root with the registry's
    /// current handlers.
    async fn start_pool(&mut self, group: &str, root: ActorCell) -> Result<(), PoolStartError> {
        let handlers = handlers::group_handler_set(
            &self.registry,
            &self.app_handlers,
            &self.group_handlers,
            group,
        )
        .map_err(|source| PoolStartError::Handlers {
            group: group.to_owned(),
            source: Box::new(source),
        })?;
        let Some(slot) = self.pools.iter_mut().find(|p| p.config.group == group) else {
            return Ok(());
        };
        let (pool, _) =
            WorkerPoolHandle::start(slot.config.clone(), self.bus.clone(), handlers, Some(root))
                .await
                .map_err(|source| PoolStartError::Spawn {
                    group: group.to_owned(),
                    source,
                })?;
        slot.view.handle = Some(pool);
        slot.view.state = ChildState::Running;
        slot.view.reason = None;
        Ok(())
    }

    /// Sets what each tenant of `registry` wants published (its handlers'
    /// interest, over every worker group), before its tenants start. A node that
    /// does not run the default group (an access-only node) cannot tell what the
    /// workers' code wants, so its gateways publish everything.
    pub(super) fn set_interests(&self, registry: &crate::config::Registry) {
        let Some(access) = &self.access else { return };
        let runs_default = self
            .pools
            .iter()
            .any(|p| p.config.group == crate::bus::DEFAULT_GROUP);
        let interests = if runs_default {
            handlers::interests(registry, &self.app_handlers, &self.group_handlers)
        } else {
            registry
                .tenants
                .iter()
                .map(|t| (t.id(), crate::handler::Interest::ALL))
                .collect()
        };
        access.set_interests(&interests);
    }

    /// Starts one tenant's supervisor and puts it in the state.
    async fn start_tenant(&mut self, config: Arc<crate::config::TenantConfig>, root: ActorCell) {
        let Some(access) = self.access.clone() else {
            return;
        };
        let id = config.id();
        let plan = self.plan_of(&id);
        let entry = TenantEntry::start(&access, config, &self.registry, plan, root).await;
        let budget = self
            .tenants
            .remove(&id)
            .map_or_else(|| RestartBudget::new(self.policy), |old| old.budget);
        self.tenants.insert(
            id,
            TenantSlot {
                entry: Arc::new(entry),
                budget,
            },
        );
    }

    /// The command plan of a tenant of the running registry.
    pub(super) fn plan_of(&self, id: &TenantId) -> crate::actors::access::CommandPlan {
        self.plans
            .get(id)
            .map(|p| (**p).clone())
            .unwrap_or_default()
    }

    fn pool_down(&mut self, myself: &ActorRef<RootMsg>, group: &str, why: &str) {
        let Some(slot) = self.pools.iter_mut().find(|p| p.config.group == group) else {
            return;
        };
        slot.view.handle = None;
        if let Some(delay) = slot.budget.on_failure() {
            slot.view.restarts += 1;
            metrics::counter!("switchboard_actor_restarts_total").increment(1);
            tracing::warn!(
                group,
                reason = why,
                delay_ms = delay.as_millis() as u64,
                "worker pool failed; restarting it"
            );
            slot.view.state = ChildState::Restarting;
            slot.view.reason = Some(why.to_owned());
            let group = group.to_owned();
            myself.send_after(delay, move || RootMsg::StartPool(group));
        } else {
            let reason = format!("restart budget spent ({why})");
            tracing::error!(group, reason, "worker pool failed; left stopped");
            slot.view.state = ChildState::Failed;
            slot.view.reason = Some(reason);
        }
    }

    fn vault_down(&mut self, myself: &ActorRef<RootMsg>, why: &str) {
        metrics::counter!("switchboard_vault_failures_total").increment(1);
        if let Some(delay) = self.vault_budget.on_failure() {
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

    fn tenant_down(
        &mut self,
        myself: &ActorRef<RootMsg>,
        id: &TenantId,
        cell: &ActorCell,
        why: &str,
    ) {
        let Some(slot) = self.tenants.get_mut(id) else {
            return;
        };
        if slot.entry.is_stopping() {
            return;
        }
        match slot.budget.on_failure() {
            Some(delay) => {
                tracing::warn!(provider = %id.provider, tenant = %id.tenant, reason = why,
                    delay_ms = delay.as_millis() as u64, "tenant supervisor died; restarting it");
                metrics::counter!("switchboard_actor_restarts_total").increment(1);
                slot.entry.mark_restarting(why);
                let (id, dead) = (id.clone(), cell.get_id());
                myself.send_after(delay, move || RootMsg::RestartTenant(id, dead));
            }
            None => slot
                .entry
                .mark_failed(format!("supervisor restart budget spent ({why})")),
        }
    }

    /// Hands every child over for shutdown; from now on every exit is expected.
    fn shutdown(&mut self) -> ShutdownPlan {
        self.shutting_down = true;
        for (_, reply) in self.queued.drain(..) {
            let _ = reply.send(Err(crate::admin::AdminError::Unsupported(
                "the runtime is shutting down".to_owned(),
            )));
        }
        let tenants = std::mem::take(&mut self.tenants)
            .into_values()
            .map(|slot| {
                slot.entry.begin_stop();
                slot.entry
            })
            .collect();
        ShutdownPlan {
            tenants,
            pools: self
                .pools
                .iter()
                .filter_map(|p| p.view.handle.clone())
                .collect(),
        }
    }
}

impl Actor for RootSupervisor {
    type Msg = RootMsg;
    type State = RootState;
    type Arguments = RootArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<RootMsg>,
        args: RootArgs,
    ) -> Result<RootState, ActorProcessingErr> {
        Ok(RootState::new(args))
    }

    async fn handle(
        &self,
        myself: ActorRef<RootMsg>,
        msg: RootMsg,
        state: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RootMsg::View(reply) => {
                let _ = reply.send(state.view());
                return Ok(());
            }
            RootMsg::Shutdown(reply) => {
                let plan = state.shutdown();
                state.publish();
                let _ = reply.send(plan);
                return Ok(());
            }
            RootMsg::Apply(registry, reply) => state.apply(&myself, registry, reply),
            RootMsg::Retired => state.finish_apply(&myself).await,
            _ if state.shutting_down => return Ok(()),
            RootMsg::Start(reply) => {
                let started = state.start_pools(&myself.get_cell()).await;
                let registry = state.registry.clone();
                state.set_interests(&registry);
                let configs: Vec<_> = state
                    .registry
                    .tenants
                    .iter()
                    .cloned()
                    .map(Arc::new)
                    .collect();
                for config in configs {
                    state.start_tenant(config, myself.get_cell()).await;
                }
                let _ = reply.send(started);
            }
            RootMsg::StartPool(group) => {
                if let Err(e) = state.start_pool(&group, myself.get_cell()).await {
                    state.pool_down(&myself, &group, &crate::Report(&e).to_string());
                }
            }
            RootMsg::RestartVault => match state.vault.restart(Some(myself.get_cell())).await {
                Ok(()) => tracing::info!("vault actor restarted"),
                Err(e) => state.vault_down(&myself, &format!("did not start: {e}")),
            },
            RootMsg::RestartTenant(id, dead) => {
                // Only if the supervisor that died is still the tenant's current one:
                // a reload may have replaced or removed the tenant meanwhile.
                let Some(old) = state.tenants.get(&id) else {
                    return Ok(());
                };
                if old.entry.supervisor_id() != Some(dead) {
                    return Ok(());
                }
                let restarts = old.entry.restarts() + 1;
                let config = old.entry.config.clone();
                state.start_tenant(config, myself.get_cell()).await;
                if let Some(new) = state.tenants.get(&id) {
                    new.entry.set_restarts(restarts);
                }
            }
        }
        state.publish();
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
        if state.shutting_down {
            // Shutting down: every exit is expected.
            return Ok(());
        }
        if let Some(group) = state
            .pools
            .iter()
            .find(|s| s.is(&cell))
            .map(|s| s.config.group.clone())
        {
            state.pool_down(&myself, &group, &reason);
        } else if state.vault.actor_cell().get_id() == cell.get_id() {
            state.vault_down(&myself, &reason);
        } else if let Some(id) = state.tenant_of(&cell) {
            state.tenant_down(&myself, &id, &cell, &reason);
        } else {
            // A tenant a reload already took out of the state.
            return Ok(());
        }
        state.publish();
        Ok(())
    }
}
