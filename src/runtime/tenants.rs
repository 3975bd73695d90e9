//! One tenant's access layer under supervision: `TenantSupervisor` owns its
//! `GatewayActor` and `RestActor` (spawned linked) and restarts a failed one
//! one-for-one, with exponential backoff, within the restart budget. A fatal failure
//! (a rejected token: gateway close 4004, REST 401; disallowed intents 4014) or a spent
//! budget marks the tenant failed and leaves it stopped; every other tenant keeps
//! running. ractor's default (stop the parent when a child exits) is overridden.
//!
//! A gateway whose exclusive lease another node holds is not a failure: the tenant
//! is **standby** here. The supervisor asks the vault how long the lease is still
//! held, sleeps that long (plus a little jitter, so standbys on several nodes do not
//! all try at once) and tries again; the node that wins the lease RESUMEs the
//! session the previous holder stored. Standby spends no restart budget and costs
//! one read per lease lifetime. A lease lost while running (expired during a pause
//! or an outage, or revoked) is taken back if it is free, else the tenant stands by.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};

use crate::actors::gateway::{self, GatewayArgs, GatewayExit, GatewayHandle, SessionStore};
use crate::actors::rest::{BudgetConfig, InvalidRequestBudget, RestArgs, RestConfig, RestHandle};
use crate::actors::{RestartBudget, RestartPolicy};
use crate::admin::{BucketStatus, RestStatus, ShardStatus, TenantState, TenantStatus};
use crate::bus::Bus;
use crate::cluster::{Cluster, Signal};
use crate::config::{BackendKind, Registry, TenantConfig};
use crate::model::TenantId;
use crate::providers::discord::interactions::{InteractionTokens, SharedTokenStore};
use crate::vault::VaultHandle;

mod standby;

/// What every tenant's access layer shares on a node. The root supervisor owns it
/// and hands it to each tenant it starts.
pub(crate) struct AccessShared {
    bus: Bus,
    vault: VaultHandle,
    /// Gateway sessions, so a restarted gateway resumes.
    sessions: tokio::sync::OnceCell<SessionStore>,
    /// Discord's invalid-request budget is per IP: one for the whole process.
    budget: Arc<InvalidRequestBudget>,
    /// The cluster this node joined (Redis mode).
    cluster: Option<Cluster>,
    /// Interaction tokens shared by the cluster's access nodes (Redis mode).
    tokens: Option<SharedTokenStore>,
}

impl AccessShared {
    pub(crate) fn new(
        bus: Bus,
        vault: VaultHandle,
        cluster: Option<Cluster>,
        tokens: Option<SharedTokenStore>,
    ) -> Self {
        Self {
            bus,
            vault,
            sessions: tokio::sync::OnceCell::new(),
            budget: Arc::new(InvalidRequestBudget::new(BudgetConfig::default())),
            cluster,
            tokens,
        }
    }

    /// A tenant's interaction-token store: shared through Redis when configured.
    pub(crate) fn interaction_tokens(&self, tenant: &TenantId) -> InteractionTokens {
        match &self.tokens {
            Some(store) => InteractionTokens::shared(store.clone(), tenant.clone()),
            None => InteractionTokens::new(),
        }
    }

    /// The cluster this node joined, if any.
    pub(crate) fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref()
    }

    pub(crate) async fn sessions(&self, registry: &Registry) -> SessionStore {
        self.sessions
            .get_or_init(|| async {
                let rt = &registry.runtime;
                // Sessions live next to the bus when it is shared, so another node
                // taking the tenant over can resume.
                let url = match (rt.bus.backend, &rt.bus.url) {
                    (BackendKind::Redis, Some(url)) => Some(url.clone()),
                    _ => None,
                };
                match url {
                    Some(url) => match SessionStore::redis(&url, &rt.redis_prefix).await {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::warn!(error = %e, "session store on Redis unavailable; keeping sessions in memory");
                            SessionStore::memory()
                        }
                    },
                    None => SessionStore::memory(),
                }
            })
            .await
            .clone()
    }
}

/// Which child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Child {
    Gateway,
    Rest,
}

/// State readable without an actor round trip.
pub(crate) struct TenantShared {
    state: RwLock<(TenantState, Option<String>)>,
    restarts: AtomicU64,
    stopping: AtomicBool,
    gateway: RwLock<Option<GatewayHandle>>,
    rest: RwLock<Option<RestHandle>>,
}

impl TenantShared {
    fn set(&self, state: TenantState, reason: Option<String>) {
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = (state, reason);
    }

    fn get(&self) -> (TenantState, Option<String>) {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn gateway(&self) -> Option<GatewayHandle> {
        self.gateway
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn rest(&self) -> Option<RestHandle> {
        self.rest
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn stop_children(&self, why: &str) {
        for cell in [
            self.gateway().map(|g| g.actor()),
            self.rest().map(|r| r.cell()),
        ]
        .into_iter()
        .flatten()
        {
            cell.stop(Some(why.to_owned()));
        }
    }

    /// Marks the tenant failed for good and stops its actors; every other tenant
    /// keeps running.
    fn fail(&self, tenant: &TenantId, reason: String) {
        tracing::error!(provider = %tenant.provider, tenant = %tenant.tenant, reason, "tenant failed; left stopped");
        metrics::counter!("switchboard_tenant_failures_total").increment(1);
        self.set(TenantState::Failed, Some(reason));
        self.stopping.store(true, Ordering::SeqCst);
        self.stop_children("tenant failed");
    }
}

struct Ctx {
    config: Arc<TenantConfig>,
    namespace: String,
    bus: Bus,
    vault: VaultHandle,
    tokens: InteractionTokens,
    sessions: SessionStore,
    budget: Arc<InvalidRequestBudget>,
    lease_ttl: Duration,
    shared: Arc<TenantShared>,
    /// The cluster this node belongs to (Redis mode), for placement and hand-offs.
    cluster: Option<Cluster>,
}

struct TenantSupervisor;

pub(crate) enum SupMsg {
    Start(Child),
    /// Standby: is the gateway lease free yet? With `claim`, take it if it is (the
    /// placement wait is over).
    CheckLease {
        claim: bool,
    },
    /// The cluster asks something of this tenant.
    Cluster(Signal),
}

struct SupState {
    ctx: Ctx,
    budget: RestartBudget,
    /// Set while the gateway is being handed off to another node.
    handing_off: bool,
    /// After a hand-off, this node does not take the lease back before then.
    hold_until: Option<tokio::time::Instant>,
}

impl TenantSupervisor {
    fn fail(state: &SupState, reason: String) {
        state.ctx.shared.fail(&state.ctx.config.id(), reason);
    }

    fn retry(state: &mut SupState, myself: &ActorRef<SupMsg>, child: Child, reason: &str) {
        match state.budget.on_failure() {
            Some(delay) => {
                state.ctx.shared.restarts.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("switchboard_actor_restarts_total").increment(1);
                let t = state.ctx.config.id();
                tracing::warn!(provider = %t.provider, tenant = %t.tenant, ?child, reason, delay_ms = delay.as_millis() as u64, "restarting");
                state
                    .ctx
                    .shared
                    .set(TenantState::Restarting, Some(reason.to_owned()));
                myself.send_after(delay, move || SupMsg::Start(child));
            }
            None => Self::fail(state, format!("restart budget spent ({reason})")),
        }
    }
}

fn strip_fatal(reason: &str) -> Option<&str> {
    reason
        .strip_prefix(gateway::FATAL_PREFIX)
        .or_else(|| reason.strip_prefix("fatal:"))
        .map(str::trim)
}

impl Actor for TenantSupervisor {
    type Msg = SupMsg;
    type State = SupState;
    type Arguments = (Ctx, RestartPolicy);

    async fn pre_start(
        &self,
        myself: ActorRef<SupMsg>,
        (ctx, policy): Self::Arguments,
    ) -> Result<SupState, ActorProcessingErr> {
        let _ = myself.cast(SupMsg::Start(Child::Rest));
        if let Some(cluster) = &ctx.cluster {
            let me = myself.clone();
            cluster.add_tenant(
                &ctx.config.id(),
                Arc::new(move |signal| {
                    let _ = me.cast(SupMsg::Cluster(signal));
                }),
            );
            // Placement decides when this node takes the lease.
            let _ = myself.cast(SupMsg::CheckLease { claim: false });
        } else {
            let _ = myself.cast(SupMsg::Start(Child::Gateway));
        }
        Ok(SupState {
            ctx,
            budget: RestartBudget::new(policy),
            handing_off: false,
            hold_until: None,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SupMsg>,
        state: &mut SupState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(cluster) = &state.ctx.cluster {
            cluster.remove_tenant(&state.ctx.config.id());
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<SupMsg>,
        msg: SupMsg,
        state: &mut SupState,
    ) -> Result<(), ActorProcessingErr> {
        if state.ctx.shared.stopping.load(Ordering::SeqCst) {
            return Ok(());
        }
        let child = match msg {
            SupMsg::Start(child) => child,
            SupMsg::CheckLease { claim } => {
                Self::check_lease(state, &myself, claim).await;
                return Ok(());
            }
            SupMsg::Cluster(signal) => {
                Self::on_cluster(state, &myself, signal).await;
                return Ok(());
            }
        };
        let c = &state.ctx;
        match child {
            Child::Gateway => {
                let mut args = GatewayArgs::new(
                    c.config.clone(),
                    c.namespace.clone(),
                    c.bus.clone(),
                    c.vault.clone(),
                    c.tokens.clone(),
                    c.sessions.clone(),
                );
                args.lease_ttl = Some(c.lease_ttl);
                match GatewayHandle::start(args, Some(myself.get_cell())).await {
                    Ok((g, _)) => {
                        *c.shared
                            .gateway
                            .write()
                            .unwrap_or_else(PoisonError::into_inner) = Some(g);
                        c.shared.set(TenantState::Running, None);
                        if let Some(cluster) = &c.cluster {
                            cluster.set_held(&c.config.id(), true);
                        }
                    }
                    Err(e) => match e.exit() {
                        Some(GatewayExit::Fatal(why)) => Self::fail(state, why),
                        Some(GatewayExit::HeldElsewhere | GatewayExit::StoreUnavailable(_)) => {
                            Self::check_lease(state, &myself, false).await;
                        }
                        _ => Self::retry(state, &myself, child, &e.to_string()),
                    },
                }
            }
            Child::Rest => {
                let args = RestArgs {
                    tenant: c.config.clone(),
                    bus: c.bus.clone(),
                    vault: c.vault.clone(),
                    tokens: c.tokens.clone(),
                    budget: c.budget.clone(),
                    config: RestConfig {
                        lease_ttl: Some(c.lease_ttl),
                        ..RestConfig::default()
                    },
                };
                match RestHandle::start(args, Some(myself.get_cell())).await {
                    Ok((r, _)) => {
                        *c.shared
                            .rest
                            .write()
                            .unwrap_or_else(PoisonError::into_inner) = Some(r);
                    }
                    Err(e) => {
                        // A store outage is waited out, not charged to the tenant.
                        let store_up = c.vault.stats().await.is_ok_and(|s| s.backend_available);
                        if store_up {
                            Self::retry(state, &myself, child, &e.to_string());
                        } else {
                            let t = c.config.id();
                            tracing::warn!(provider = %t.provider, tenant = %t.tenant, error = %e, "REST actor waits for the vault's store");
                            myself
                                .send_after(Duration::from_secs(1), || SupMsg::Start(Child::Rest));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupMsg>,
        event: SupervisionEvent,
        state: &mut SupState,
    ) -> Result<(), ActorProcessingErr> {
        let Some((cell, reason)) = crate::actors::child_exit(event) else {
            return Ok(());
        };
        let shared = &state.ctx.shared;
        let mut exit = None;
        let child = if let Some(g) = shared
            .gateway()
            .filter(|g| g.actor().get_id() == cell.get_id())
        {
            exit = g.exit();
            *shared
                .gateway
                .write()
                .unwrap_or_else(PoisonError::into_inner) = None;
            Child::Gateway
        } else if shared
            .rest()
            .is_some_and(|r| r.cell().get_id() == cell.get_id())
        {
            *shared.rest.write().unwrap_or_else(PoisonError::into_inner) = None;
            Child::Rest
        } else {
            return Ok(());
        };
        if child == Child::Gateway {
            Self::gateway_gone(state, exit.as_ref()).await;
        }
        if shared.stopping.load(Ordering::SeqCst) {
            return Ok(());
        }
        if std::mem::take(&mut state.handing_off) {
            Self::handed_off(state, &myself);
            return Ok(());
        }
        match exit {
            Some(GatewayExit::Fatal(why)) => Self::fail(state, why),
            Some(GatewayExit::HeldElsewhere) => Self::check_lease(state, &myself, false).await,
            Some(GatewayExit::LeaseLost(why) | GatewayExit::StoreUnavailable(why)) => {
                let t = state.ctx.config.id();
                tracing::warn!(provider = %t.provider, tenant = %t.tenant, reason = why, "gateway lost its lease; taking it back if it is free");
                Self::check_lease(state, &myself, false).await;
            }
            // The REST actor still reports fatal failures in its stop reason.
            _ => match strip_fatal(&reason) {
                Some(why) => Self::fail(state, why.to_owned()),
                None => Self::retry(state, &myself, child, &reason),
            },
        }
        Ok(())
    }
}

/// A supervised tenant.
pub(crate) struct TenantEntry {
    pub(crate) config: Arc<TenantConfig>,
    pub(crate) fingerprint: [u8; 32],
    shared: Arc<TenantShared>,
    actor: Option<ActorRef<SupMsg>>,
}

impl TenantEntry {
    /// Starts the tenant's supervisor, linked to `root` (the only place tenants are
    /// started from is the root supervisor).
    pub(crate) async fn start(
        access: &AccessShared,
        config: Arc<TenantConfig>,
        registry: &Registry,
        root: ractor::ActorCell,
    ) -> Self {
        let shared = Arc::new(TenantShared {
            state: RwLock::new((TenantState::Starting, None)),
            restarts: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            gateway: RwLock::new(None),
            rest: RwLock::new(None),
        });
        let ctx = Ctx {
            config: config.clone(),
            namespace: registry.namespace.clone(),
            bus: access.bus.clone(),
            vault: access.vault.clone(),
            tokens: access.interaction_tokens(&config.id()),
            sessions: access.sessions(registry).await,
            budget: access.budget.clone(),
            lease_ttl: Duration::from_secs(registry.runtime.lease_ttl_secs),
            shared: shared.clone(),
            cluster: access.cluster().cloned(),
        };
        let policy = super::restart_policy(registry);
        let actor = match Actor::spawn_linked(None, TenantSupervisor, (ctx, policy), root).await {
            Ok((a, _)) => Some(a),
            Err(e) => {
                shared.set(
                    TenantState::Failed,
                    Some(format!("supervisor did not start: {e}")),
                );
                None
            }
        };
        Self {
            fingerprint: super::credentials::fingerprint(&config),
            config,
            shared,
            actor,
        }
    }

    /// The shards its gateway runs (whose sessions it saves).
    pub(crate) fn shard_ids(&self) -> Vec<u32> {
        self.shared
            .gateway()
            .map(|g| g.health().shards.iter().map(|s| s.id).collect())
            .unwrap_or_default()
    }

    /// The supervisor actor's id (how the root recognises this tenant's exit).
    pub(crate) fn supervisor_id(&self) -> Option<ractor::ActorId> {
        self.actor.as_ref().map(|a| a.get_id())
    }

    /// Whether a stop was asked for (reload, shutdown) or the tenant failed for good.
    pub(crate) fn is_stopping(&self) -> bool {
        self.shared.stopping.load(Ordering::SeqCst)
    }

    /// Kills the supervisor as a bug would (tests of the root's restart).
    #[cfg(test)]
    pub(crate) fn kill_supervisor(&self) {
        if let Some(a) = &self.actor {
            a.kill();
        }
    }

    /// Restarts of this tenant's actors so far.
    pub(crate) fn restarts(&self) -> u64 {
        self.shared.restarts.load(Ordering::Relaxed)
    }

    /// Carries the restart count over to a replacement entry.
    pub(crate) fn set_restarts(&self, n: u64) {
        self.shared.restarts.store(n, Ordering::Relaxed);
    }

    /// The supervisor died and the root will start the tenant again: stop what is
    /// left of its children so the replacement does not run beside them.
    pub(crate) fn mark_restarting(&self, why: &str) {
        self.shared.set(
            TenantState::Restarting,
            Some(format!("supervisor died: {why}")),
        );
        self.shared.stop_children("supervisor died");
    }

    /// The supervisor died past the root's budget: the tenant stays stopped.
    pub(crate) fn mark_failed(&self, reason: String) {
        self.shared.fail(&self.config.id(), reason);
    }

    /// Stops taking events in (the gateway closes resumably and saves its session)
    /// while the REST actor keeps serving the handlers still running.
    pub(crate) async fn stop_gateway(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(g) = self.shared.gateway() {
            g.stop().await;
        }
    }

    /// Marks the tenant as stopping, so its exits are expected (the root is about to
    /// hand it to a task that stops it).
    pub(crate) fn begin_stop(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
    }

    /// Stops the tenant: gateways close resumably and save their sessions, the REST
    /// actor answers what it holds, leases are released.
    pub(crate) async fn stop(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(g) = self.shared.gateway() {
            g.stop().await;
        }
        if let Some(r) = self.shared.rest() {
            r.stop().await;
        }
        if let Some(a) = &self.actor {
            let _ = a.stop_and_wait(None, Some(Duration::from_secs(10))).await;
        }
        if self.shared.get().0 != TenantState::Failed {
            self.shared.set(TenantState::Stopped, None);
        }
    }

    pub(crate) fn status(&self, inbox: u64) -> TenantStatus {
        let (mut state, mut reason) = self.shared.get();
        let mut shards = Vec::new();
        if let Some(g) = self.shared.gateway() {
            let h = g.health();
            match h.state {
                gateway::TenantState::Failed(r) => {
                    state = TenantState::Failed;
                    reason = Some(r);
                }
                gateway::TenantState::Starting if state == TenantState::Running => {
                    state = TenantState::Starting;
                }
                _ => {}
            }
            shards = h
                .shards
                .iter()
                .map(|s| ShardStatus {
                    id: s.id,
                    total: s.total,
                    state: serde_json::to_value(s.status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    seq: s.last_sequence.unwrap_or(0),
                    latency_ms: s.latency.map(|l| l.as_millis() as u64),
                    resumes: s.resumes,
                    reconnects: s.reconnects,
                    events: s.events_in,
                })
                .collect();
        }
        let rest = self.shared.rest().map(|r| {
            let h = r.health();
            RestStatus {
                requests: h.requests.success
                    + h.requests.client_error
                    + h.requests.server_error
                    + h.requests.transport_error,
                by_status: [
                    ("2xx", h.requests.success),
                    ("4xx", h.requests.client_error),
                    ("5xx", h.requests.server_error),
                    ("transport", h.requests.transport_error),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
                invalid_budget: Some((u64::from(h.budget.used), u64::from(h.budget.threshold))),
                rate_limited: h.ratelimited,
                circuit: serde_json::to_value(h.circuit)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                buckets: h
                    .buckets
                    .iter()
                    .map(|b| BucketStatus {
                        id: format!("{}:{}", b.id, b.major),
                        limit: u64::from(b.limit),
                        remaining: u64::from(b.remaining),
                        reset_after_ms: b.reset_after_ms.unwrap_or(0),
                    })
                    .collect(),
            }
        });
        TenantStatus {
            id: self.config.id().to_string(),
            state,
            reason,
            restarts: self.shared.restarts.load(Ordering::Relaxed),
            shards,
            rest,
            inbox,
            // Filled in from the worker pool, which charges handler panics.
            handler_panics: 0,
            quarantined: None,
        }
    }
}
