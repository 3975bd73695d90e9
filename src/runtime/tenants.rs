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
//!
//! # Layout
//! - this file: the supervisor actor (messages, state, restarts);
//! - `standby.rs`: standby, placement waits, hand-offs, announced releases;
//! - `entry.rs`: [`TenantEntry`], the tenant as the root holds it, and its status;
//! - `access.rs`: [`AccessShared`], what every tenant's access layer shares on a node.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tracing::Instrument;

use crate::actors::access::CommandSync;
use crate::actors::gateway::{GatewayArgs, GatewayExit, GatewayHandle, SessionStore};
use crate::actors::rest::{BucketMemory, InvalidRequestBudget, RestArgs, RestConfig, RestHandle};
use crate::actors::{RestartBudget, RestartPolicy};
use crate::admin::TenantState;
use crate::bus::Bus;
use crate::cluster::{Cluster, Signal};
use crate::config::TenantConfig;
use crate::model::TenantId;
use crate::providers::discord::interactions::InteractionTokens;
use crate::vault::VaultHandle;

mod access;
mod entry;
mod standby;

pub(crate) use access::AccessShared;
pub(crate) use entry::TenantEntry;

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
    /// The tenant's application commands: the plan its REST actor registers, and
    /// how that went. Outlives REST actor restarts.
    commands: CommandSync,
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
    /// The vault's authority: the supervisor mints its children's scopes from it and
    /// asks it, unaudited, how long another node still holds the gateway lease.
    vault: VaultHandle,
    tokens: InteractionTokens,
    /// The tenant's watched interactions, shared by its gateway and REST actor
    /// (outliving their restarts).
    deferrals: crate::actors::access::Deferrals,
    sessions: SessionStore,
    budget: Arc<InvalidRequestBudget>,
    /// Where its REST actor's bucket gate outlives the actor.
    limits: BucketMemory,
    lease_ttl: Duration,
    shared: Arc<TenantShared>,
    /// The cluster this node belongs to (Redis mode), for placement and hand-offs.
    cluster: Option<Cluster>,
    /// What the tenant's handlers want: its gateway publishes nothing else.
    interest: crate::handler::InterestCell,
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
    /// `tenant{provider, tenant}`: supervision decisions log in it.
    span: tracing::Span,
    budget: RestartBudget,
    /// Set while the gateway is being handed off to another node.
    handing_off: bool,
    /// After a hand-off, this node does not take the lease back before then.
    hold_until: Option<tokio::time::Instant>,
    /// In a cluster the REST actor runs only beside a running gateway: set while it
    /// is stopped for that reason (its exit is expected, not restarted).
    rest_parked: bool,
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
                tracing::warn!(
                    ?child,
                    reason,
                    delay_ms = delay.as_millis() as u64,
                    "restarting"
                );
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

impl Actor for TenantSupervisor {
    type Msg = SupMsg;
    type State = SupState;
    type Arguments = (Ctx, RestartPolicy);

    async fn pre_start(
        &self,
        myself: ActorRef<SupMsg>,
        (ctx, policy): Self::Arguments,
    ) -> Result<SupState, ActorProcessingErr> {
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
            // One node: the REST actor runs from the start, beside the gateway.
            let _ = myself.cast(SupMsg::Start(Child::Rest));
            let _ = myself.cast(SupMsg::Start(Child::Gateway));
        }
        let rest_parked = ctx.cluster.is_some();
        let id = ctx.config.id();
        Ok(SupState {
            span: tracing::info_span!(parent: None, "tenant", provider = %id.provider, tenant = %id.tenant),
            ctx,
            budget: RestartBudget::new(policy),
            handing_off: false,
            hold_until: None,
            rest_parked,
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
        let span = state.span.clone();
        async move {
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
                    // The supervisor mints the gateway's capability: the actor never
                    // names its own principal.
                    let mut args = GatewayArgs::new(
                        c.config.clone(),
                        c.namespace.clone(),
                        c.bus.clone(),
                        c.vault.gateway_scope(&c.config.id()),
                        c.tokens.clone(),
                        c.sessions.clone(),
                    );
                    args.lease_ttl = Some(c.lease_ttl);
                    args.deferrals = c.deferrals.clone();
                    args.interest = c.interest.clone();
                    match GatewayHandle::start(args, Some(myself.get_cell())).await {
                        Ok((g, _)) => {
                            if !c.shared.commands.is_ready() {
                                spawn_ready_watch(g.clone(), c.shared.commands.clone());
                            }
                            *c.shared
                                .gateway
                                .write()
                                .unwrap_or_else(PoisonError::into_inner) = Some(g);
                            c.shared.set(TenantState::Running, None);
                            if let Some(cluster) = &c.cluster {
                                cluster.set_held(&c.config.id(), true);
                                // The holder serves the tenant's REST requests.
                                if c.shared.rest().is_none() {
                                    state.rest_parked = false;
                                    let _ = myself.cast(SupMsg::Start(Child::Rest));
                                }
                            }
                        }
                        Err(e) => match e.exit() {
                            Some(GatewayExit::Fatal(why)) => Self::fail(state, why),
                            Some(GatewayExit::HeldElsewhere | GatewayExit::StoreUnavailable(_)) => {
                                Self::check_lease(state, &myself, false).await;
                            }
                            _ => Self::retry(state, &myself, child, &crate::Report(&e).to_string()),
                        },
                    }
                }
                Child::Rest if state.rest_parked || c.shared.rest().is_some() => {}
                Child::Rest => {
                    let args = RestArgs {
                        tenant: c.config.clone(),
                        bus: c.bus.clone(),
                        vault: c.vault.rest_scope(&c.config.id()),
                        tokens: c.tokens.clone(),
                        deferrals: c.deferrals.clone(),
                        budget: c.budget.clone(),
                        config: RestConfig {
                            lease_ttl: Some(c.lease_ttl),
                            ..RestConfig::default()
                        },
                        commands: Some(c.shared.commands.clone()),
                        limits: c.limits.clone(),
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
                                Self::retry(state, &myself, child, &crate::Report(&e).to_string());
                            } else {
                                tracing::warn!(error = %crate::Report(&e), "REST actor waits for the vault's store");
                                myself
                                    .send_after(Duration::from_secs(1), || SupMsg::Start(Child::Rest));
                            }
                        }
                    }
                }
            }
            Ok(())
        }
        .instrument(span)
        .await
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupMsg>,
        event: SupervisionEvent,
        state: &mut SupState,
    ) -> Result<(), ActorProcessingErr> {
        let span = state.span.clone();
        async move {
            let Some((cell, reason)) = crate::actors::child_exit(event) else {
                return Ok(());
            };
            let shared = Arc::clone(&state.ctx.shared);
            // Why the child stopped, from its handle: a typed exit, not a parsed reason.
            let (child, exit) = if let Some(g) = shared
                .gateway()
                .filter(|g| g.actor().get_id() == cell.get_id())
            {
                *shared
                    .gateway
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = None;
                (Child::Gateway, g.exit())
            } else if let Some(r) = shared.rest().filter(|r| r.cell().get_id() == cell.get_id()) {
                *shared.rest.write().unwrap_or_else(PoisonError::into_inner) = None;
                if state.rest_parked {
                    return Ok(());
                }
                (Child::Rest, r.exit())
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
                    tracing::warn!(
                        reason = why,
                        "gateway lost its lease; taking it back if it is free"
                    );
                    Self::check_lease(state, &myself, false).await;
                }
                None => Self::retry(state, &myself, child, &reason),
            }
            Ok(())
        }
        .instrument(span)
        .await
    }
}

/// Lets the tenant's command registration begin once its gateway has a session
/// (polls the gateway's health cell; ends with the gateway).
fn spawn_ready_watch(gateway: GatewayHandle, commands: CommandSync) {
    tokio::spawn(async move {
        loop {
            let h = gateway.health();
            if h.shards.iter().any(|s| {
                s.status == crate::actors::gateway::ShardStatus::Ready
                    || s.identifies + s.resumes > 0
            }) {
                commands.set_ready();
                return;
            }
            if matches!(
                h.state,
                crate::actors::gateway::TenantState::Failed(_)
                    | crate::actors::gateway::TenantState::Stopped
            ) || commands.is_ready()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}
