//! `WorkerPool`: supervises the generic [`WorkerActor`]s of one worker group
//! (`runtime.workers` for the default group, `runtime.groups.<name>.workers` for
//! another): they take that group's deliveries only ([`Bus::next_for`]), so each
//! group has its own pool, backlog and restart budget.
//!
//! **A handler's panic is charged to its tenant, not to the pool.** The worker that
//! ran it fails with the tenant's name ([`HandlerPanicked`]); the pool restarts it at
//! once and counts the panic against that tenant's budget (`tenant_panics`: at most
//! `max_restarts` in `period`). Past it the tenant is **quarantined** for `period`:
//! workers dead-letter its deliveries with the reason (nothing is lost; they can be
//! replayed) while every other tenant is served as before. The pool's state is the
//! only writer of the quarantine table; workers read it (`faults.rs`).
//!
//! A worker that fails for a reason no tenant caused is restarted after a backoff,
//! within the pool's own budget (`restart`); past it the pool winds down — every
//! other worker finishes the delivery in its hands (so nothing is dropped
//! mid-handler), then the pool stops with the reason, and its supervisor decides
//! what comes next (the root starts a fresh pool). Statistics are read from shared
//! counters, without an actor round trip.

mod faults;

use crate::state::StateStore;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SpawnErr, SupervisionEvent};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::latency::LatencyHistogram;
use super::restart::{RestartBudget, RestartPolicy};
use super::worker::{HandlerPanicked, WorkerActor};
use crate::bus::{Bus, GroupId};
use crate::handler::{CtxShared, HandlerSet};
use crate::model::TenantId;
use crate::vault::WorkerSecrets;
use faults::{FaultTable, TenantBudgets, TenantFaults};

/// How the pool runs.
#[derive(Clone)]
pub struct WorkerPoolConfig {
    /// The worker group whose deliveries the pool takes
    /// ([`DEFAULT_GROUP`](crate::bus::DEFAULT_GROUP) by default).
    pub group: String,
    /// How many workers.
    pub workers: usize,
    /// Longest a handler may run for one envelope before it counts as failed.
    pub handler_timeout: Duration,
    /// Longest a handler waits for the answer to one effect.
    pub request_timeout: Duration,
    /// Topic namespace for the commands handlers send.
    pub namespace: String,
    /// Restarts of workers that failed for a reason no tenant caused; past this
    /// budget the pool winds down.
    pub restart: RestartPolicy,
    /// Handler panics allowed per tenant (`max_restarts` in `period`); past it the
    /// tenant's deliveries are dead-lettered for `period`.
    pub tenant_panics: RestartPolicy,
    /// Where `Ctx::secret` leases app secrets: the capability the runtime mints with
    /// [`VaultHandle::worker_secrets`](crate::vault::VaultHandle::worker_secrets)
    /// (the served tenant's app secrets only), never a whole vault handle.
    pub secrets: Option<WorkerSecrets>,
    /// Where `Ctx::state` keeps handlers' state (the runtime gives a Redis store when
    /// the bus is on Redis, so every node sees the same); in-process by default.
    pub state: StateStore,
    /// Where `Ctx::store` reaches the tenant-scoped store (`runtime.store`); `None`:
    /// handlers get `CtxError::NoStore`.
    pub store: Option<crate::store::Store>,
    /// The embedder `TenantStore::similar` and the `embedding-indexer` use, and the
    /// app secret holding each tenant's API key for it; `None`: no embedder.
    pub embedder: Option<SecretEmbedder>,
}

/// An embedder and the app secret that holds each tenant's API key for it.
#[derive(Clone)]
pub struct SecretEmbedder {
    /// The embedder.
    pub embedder: Arc<dyn crate::embed::Embedder>,
    /// The app secret's name (`runtime.embeddings.secret`).
    pub secret: String,
}

impl std::fmt::Debug for WorkerPoolConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerPoolConfig")
            .field("group", &self.group)
            .field("workers", &self.workers)
            .field("handler_timeout", &self.handler_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("namespace", &self.namespace)
            .field("restart", &self.restart)
            .field("tenant_panics", &self.tenant_panics)
            .field("state", &self.state.backend_name())
            .finish_non_exhaustive()
    }
}

impl WorkerPoolConfig {
    /// How the store embeds text for a tenant, from `embedder` and `secrets`.
    pub(crate) fn semantic(&self) -> Option<crate::store::Semantic> {
        self.embedder.as_ref().map(|e| crate::store::Semantic {
            embedder: Arc::clone(&e.embedder),
            secret: Arc::from(e.secret.as_str()),
            secrets: self.secrets.clone(),
        })
    }
}

impl Default for WorkerPoolConfig {
    fn default() -> Self {
        Self {
            group: crate::bus::DEFAULT_GROUP.to_owned(),
            workers: 8,
            handler_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            namespace: crate::model::DEFAULT_NAMESPACE.to_owned(),
            restart: RestartPolicy::default(),
            tenant_panics: RestartPolicy::default(),
            secrets: None,
            state: StateStore::memory(),
            store: None,
            embedder: None,
        }
    }
}

#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) busy: AtomicU64,
    pub(crate) handled: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) unknown_tenant: AtomicU64,
    pub(crate) quarantined: AtomicU64,
    pub(crate) restarts: AtomicU64,
    pub(crate) latency: LatencyHistogram,
}

/// What every worker of a pool shares.
pub(crate) struct PoolShared {
    pub(crate) bus: Bus,
    /// The worker group this pool serves.
    pub(crate) group: GroupId,
    pub(crate) config: WorkerPoolConfig,
    pub(crate) ctx: CtxShared,
    pub(crate) cancel: CancellationToken,
    pub(crate) stats: Stats,
    handlers: RwLock<HandlerSet>,
    /// Per-tenant panics and quarantines; written only by the pool actor.
    pub(crate) faults: FaultTable,
}

impl PoolShared {
    pub(crate) fn handlers(&self) -> HandlerSet {
        self.handlers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The pool's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStats {
    /// Configured workers.
    pub workers: usize,
    /// Workers handling a delivery now.
    pub busy: u64,
    /// Deliveries whose handlers all succeeded.
    pub handled: u64,
    /// Deliveries with a failed handler (retried or dead-lettered).
    pub failed: u64,
    /// Deliveries for tenants with no handlers (dead-lettered).
    pub unknown_tenant: u64,
    /// Deliveries of quarantined tenants (dead-lettered).
    pub quarantined: u64,
    /// Worker restarts.
    pub restarts: u64,
    /// 99th percentile handler run time (factor-of-two accuracy).
    pub p99: Option<Duration>,
}

/// The pool actor.
pub(crate) struct WorkerPool;

/// The pool actor's messages.
#[derive(Debug)]
pub(crate) enum PoolMsg {
    /// Start (or restart) worker `index`.
    Spawn(usize),
}

pub(crate) struct PoolState {
    shared: Arc<PoolShared>,
    workers: Vec<Option<ActorCell>>,
    budget: RestartBudget,
    /// Handler panics per tenant, against `tenant_panics`.
    tenant_budgets: TenantBudgets,
    /// Why the pool is winding down, once its restart budget is spent.
    failure: Option<String>,
}

impl Actor for WorkerPool {
    type Msg = PoolMsg;
    type State = PoolState;
    type Arguments = Arc<PoolShared>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        shared: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let n = shared.config.workers.max(1);
        for i in 0..n {
            let _ = myself.cast(PoolMsg::Spawn(i));
        }
        Ok(PoolState {
            budget: RestartBudget::new(shared.config.restart),
            tenant_budgets: TenantBudgets::new(shared.config.tenant_panics),
            failure: None,
            workers: vec![None; n],
            shared,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        PoolMsg::Spawn(i): Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if state.shared.cancel.is_cancelled() {
            return Ok(());
        }
        let (worker, _) =
            Actor::spawn_linked(None, WorkerActor, state.shared.clone(), myself.get_cell()).await?;
        if let Some(slot) = state.workers.get_mut(i) {
            *slot = Some(worker.get_cell());
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // A handler's panic names its tenant: charge it there, not to the pool.
        let culprit = match &event {
            SupervisionEvent::ActorFailed(_, err) => err
                .downcast_ref::<HandlerPanicked>()
                .map(|p| p.tenant.clone()),
            _ => None,
        };
        let Some((cell, reason)) = super::child_exit(event) else {
            return Ok(());
        };
        let Some(index) = state
            .workers
            .iter()
            .position(|w| w.as_ref().is_some_and(|w| w.get_id() == cell.get_id()))
        else {
            return Ok(());
        };
        state.workers[index] = None;
        if !state.shared.cancel.is_cancelled() {
            if let Some(tenant) = culprit {
                state
                    .tenant_budgets
                    .charge(&state.shared.faults, &tenant, &reason);
                // The worker itself is fine: it is replaced at once, and the
                // tenant's budget bounds how often that can happen.
                state.shared.stats.restarts.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("switchboard_worker_restarts_total").increment(1);
                let _ = myself.cast(PoolMsg::Spawn(index));
                return Ok(());
            }
            if let Some(delay) = state.budget.on_failure() {
                state.shared.stats.restarts.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("switchboard_worker_restarts_total").increment(1);
                tracing::warn!(
                    worker = index,
                    reason,
                    delay_ms = delay.as_millis() as u64,
                    "restarting worker"
                );
                myself.send_after(delay, move || PoolMsg::Spawn(index));
                return Ok(());
            }
            tracing::error!(
                worker = index,
                "worker restart budget spent; the pool winds down"
            );
            // Not `Err`: ractor would then kill the other workers mid-delivery.
            // Cancelled, they finish (and settle) what they hold, then stop.
            state.failure = Some(format!(
                "worker {index} exceeded its restart budget: {reason}"
            ));
            state.shared.cancel.cancel();
        }
        // Shutting down or winding down: stop once the last worker is gone.
        if state.workers.iter().all(Option::is_none) {
            let why = state
                .failure
                .clone()
                .unwrap_or_else(|| "all workers stopped".to_owned());
            myself.stop(Some(why));
        }
        Ok(())
    }
}

/// A handle on a running pool.
#[derive(Clone)]
pub struct WorkerPoolHandle {
    actor: ActorRef<PoolMsg>,
    shared: Arc<PoolShared>,
}

impl std::fmt::Debug for WorkerPoolHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerPoolHandle")
            .field("stats", &self.stats())
            .finish()
    }
}

impl WorkerPoolHandle {
    /// Starts a pool of workers taking the deliveries of worker group
    /// `config.group` from `bus` and running `handlers`. With `supervisor`, the pool
    /// is linked to it.
    ///
    /// # Errors
    /// [`SpawnErr`] if the pool actor cannot start, or the bus has no such group.
    pub async fn start(
        config: WorkerPoolConfig,
        bus: Bus,
        handlers: HandlerSet,
        supervisor: Option<ActorCell>,
    ) -> Result<(Self, JoinHandle<()>), SpawnErr> {
        let group = bus.group(&config.group).ok_or_else(|| {
            SpawnErr::StartupFailed(
                format!(
                    "the bus has no worker group {:?} (groups: {})",
                    config.group,
                    bus.group_names().join(", ")
                )
                .into(),
            )
        })?;
        let ctx = CtxShared {
            bus: bus.clone(),
            namespace: Arc::from(config.namespace.as_str()),
            secrets: config.secrets.clone(),
            state: config.state.clone(),
            store: config.store.clone(),
            semantic: config.semantic(),
            request_timeout: config.request_timeout,
            handler_timeout: config.handler_timeout,
        };
        let shared = Arc::new(PoolShared {
            bus,
            group,
            config,
            ctx,
            cancel: CancellationToken::new(),
            stats: Stats::default(),
            handlers: RwLock::new(handlers),
            faults: FaultTable::default(),
        });
        let (actor, join) = match supervisor {
            Some(sup) => Actor::spawn_linked(None, WorkerPool, shared.clone(), sup).await?,
            None => Actor::spawn(None, WorkerPool, shared.clone()).await?,
        };
        Ok((Self { actor, shared }, join))
    }

    /// Replaces the handler table (on reload). Deliveries being handled finish with
    /// the old one.
    pub fn set_handlers(&self, handlers: HandlerSet) {
        *self
            .shared
            .handlers
            .write()
            .unwrap_or_else(PoisonError::into_inner) = handlers;
    }

    /// Handler panics per tenant, and which tenants are quarantined (read from
    /// shared state, without an actor round trip).
    #[must_use]
    pub(crate) fn tenant_faults(&self) -> HashMap<TenantId, TenantFaults> {
        self.shared.faults.snapshot()
    }

    /// The pool's counters.
    #[must_use]
    pub fn stats(&self) -> PoolStats {
        let s = &self.shared.stats;
        PoolStats {
            workers: self.shared.config.workers.max(1),
            busy: s.busy.load(Ordering::Relaxed),
            handled: s.handled.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            unknown_tenant: s.unknown_tenant.load(Ordering::Relaxed),
            quarantined: s.quarantined.load(Ordering::Relaxed),
            restarts: s.restarts.load(Ordering::Relaxed),
            p99: s.latency.quantile(0.99),
        }
    }

    /// The pool actor's cell, for supervision.
    #[must_use]
    pub fn actor(&self) -> ActorCell {
        self.actor.get_cell()
    }

    /// Stops taking deliveries, lets handlers finish their current delivery, and stops
    /// the pool. Handlers see their `Ctx::cancellation` fire; each delivery they hold
    /// is settled (acked, retried) before the pool stops, since stopping the pool
    /// actor ends its workers wherever they are. A handler that ignores the
    /// cancellation is cut off after the handler timeout; its delivery stays
    /// unsettled (redelivered on Redis).
    pub async fn shutdown(&self) {
        self.shared.cancel.cancel();
        let limit = self.shared.config.handler_timeout + Duration::from_secs(1);
        // Shutdown only: workers hold no channel to announce their last settle on.
        let settled = tokio::time::timeout(limit, async {
            while self.shared.stats.busy.load(Ordering::Relaxed) > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        if settled.is_err() {
            tracing::warn!(
                busy = self.shared.stats.busy.load(Ordering::Relaxed),
                "handlers still running at shutdown; their deliveries are not settled"
            );
        }
        let _ = self
            .actor
            .stop_and_wait(Some("shutdown".to_owned()), Some(limit))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{WorkerPoolConfig, WorkerPoolHandle};
    use crate::actors::RestartPolicy;
    use crate::bus::{Bus, BusConfig};
    use crate::handler::HandlerSet;

    /// Failures no tenant caused (here: workers killed) spend the pool's own budget;
    /// past it the pool winds down and stops, for its supervisor to decide.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn workers_failing_for_no_tenant_spend_the_pools_budget_then_it_stops() {
        let config = WorkerPoolConfig {
            workers: 2,
            restart: RestartPolicy {
                max_restarts: 1,
                period: Duration::from_secs(3600),
                backoff_base: Duration::from_millis(1),
                backoff_max: Duration::from_millis(1),
            },
            ..WorkerPoolConfig::default()
        };
        let bus = Bus::memory(BusConfig::default());
        let (pool, join) = WorkerPoolHandle::start(config, bus, HandlerSet::new(), None)
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut killed = Vec::new();
        while !join.is_finished() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the pool never stopped: {:?}",
                pool.stats()
            );
            if let Some(w) = pool
                .actor()
                .get_children()
                .into_iter()
                .find(|w| !killed.contains(&w.get_id()))
                && killed.len() < 2
            {
                killed.push(w.get_id());
                w.kill();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            pool.stats().restarts,
            1,
            "one restart, then the budget is spent"
        );
    }
}
