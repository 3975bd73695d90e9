//! The actor: leases the token, plans and starts the shard tasks, watches the lease,
//! and turns fatal closes and lost leases into a stop the supervisor understands.
//!
//! Everything that ends the actor — a request, a supervisor, a fatal close, a lost
//! lease — goes through `post_stop`, which closes the shards resumably, waits for
//! their sessions to be stored and releases the lease.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, Span};
use twilight_gateway::{Intents, Shard};

use super::GatewayExit;
use super::TenantState;
use super::error::GatewayError;
use super::health::{HealthCell, ShardCounters};
use super::runner::{self, ShardCtx, ShardEnd};
use super::session::StoredSession;
use super::setup::{self, ShardPlan};
use super::{FATAL_PREFIX, GatewayArgs, lease};
use crate::Report;
use crate::bus::BusError;
use crate::model::{TenantId, Topic};
use crate::providers::discord::gateway::{intent_names, parse_intents, privileged_intents};
use crate::vault::Lease;

/// Messages of the gateway actor (control only; events never pass through it).
pub(crate) enum GatewayMsg {
    /// A shard task ended on its own.
    ShardEnded {
        /// Shard id.
        shard: u32,
        /// Why.
        end: ShardEnd,
    },
    /// The lease was revoked or expired.
    LeaseLost {
        /// What happened.
        reason: String,
    },
    /// The lease approaches its maximum lifetime: take a fresh one.
    RolloverLease,
}

/// The gateway actor; its configuration arrives as [`GatewayArgs`].
pub(crate) struct GatewayActor;

/// Startup arguments: the caller's args and the health the handle reads.
pub(crate) struct Start {
    pub(crate) args: GatewayArgs,
    pub(crate) health: Arc<HealthCell>,
}

/// The actor's state.
pub(crate) struct GatewayState {
    args: GatewayArgs,
    id: TenantId,
    /// `gateway{provider, tenant}`: every log line of the actor and its shard tasks
    /// is in it.
    span: Span,
    health: Arc<HealthCell>,
    intents: Intents,
    gateway_url: Option<String>,
    plan: ShardPlan,
    stored: Vec<Option<StoredSession>>,
    counters: Vec<Arc<ShardCounters>>,
    self_id: Arc<AtomicU64>,
    /// The lease's fencing token, shared with the shard tasks (a rollover moves it).
    fence: Arc<AtomicU64>,
    lease: Option<Lease>,
    lease_watch: CancellationToken,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

/// The reason a tenant fails for a fatal close code.
pub(super) fn fatal_reason(code: Option<u16>, intents: Intents) -> String {
    match code {
        Some(4004) => "4004 authentication failed (token rejected)".to_owned(),
        Some(4014) => format!(
            "4014 disallowed intents: the bot asked for privileged intents [{}]; enable them \
             in the application's settings or remove them from gateway.intents",
            privileged_intents(intents).join(", ")
        ),
        Some(4013) => format!(
            "4013 invalid intents [{}]",
            intent_names(intents).join(", ")
        ),
        Some(4010) => "4010 invalid shard".to_owned(),
        Some(4011) => "4011 sharding required (set gateway.shards to auto or more)".to_owned(),
        Some(4012) => "4012 invalid API version".to_owned(),
        Some(c) => format!("{c} the gateway closed the connection for good"),
        None => "the shard stopped for good without a close code".to_owned(),
    }
}

async fn prepare(
    args: GatewayArgs,
    health: Arc<HealthCell>,
    span: Span,
) -> Result<GatewayState, GatewayError> {
    let id = args.tenant.id();
    Topic::new(&args.namespace, &id, "events", "x")?;
    let intents = parse_intents(&args.tenant.gateway.intents)?;
    let gateway_url = setup::gateway_url(&args.tenant)?;
    let lease = lease::acquire(&args).await?;
    if let Some(fence) = lease.fence() {
        // Before connecting: from now on the owner this one replaces (if any) can
        // publish nothing this gateway's live session also receives, so live
        // dispatches go out as first publishes (`Bus::publish_live`).
        args.bus
            .claim_fence(&id, fence)
            .await
            .map_err(|e| match e {
                BusError::Fenced { .. } => GatewayError::Stale { fence },
                e => GatewayError::Fence(Box::new(e)),
            })?;
    }
    let plan = setup::plan(&args.tenant, lease.secret()?).await?;
    let mut stored = Vec::with_capacity(plan.ids.len());
    let mut self_id = 0;
    for shard in &plan.ids {
        let s = args.sessions.load(&id, shard.number()).await?;
        if let Some(uid) = s.as_ref().and_then(|s| s.user_id) {
            self_id = uid;
        }
        stored.push(s);
    }
    let counters: Vec<_> = plan
        .ids
        .iter()
        .map(|s| Arc::new(ShardCounters::new(s.number(), s.total())))
        .collect();
    health.set_shards(counters.clone());
    Ok(GatewayState {
        id,
        span,
        health,
        intents,
        gateway_url,
        plan,
        stored,
        counters,
        self_id: Arc::new(AtomicU64::new(self_id)),
        fence: Arc::new(AtomicU64::new(lease.fence().unwrap_or(0))),
        lease: Some(lease),
        lease_watch: CancellationToken::new(),
        cancel: CancellationToken::new(),
        tracker: TaskTracker::new(),
        args,
    })
}

impl GatewayState {
    fn start_shards(&mut self, myself: &ActorRef<GatewayMsg>) -> Result<(), GatewayError> {
        let lease = self
            .lease
            .as_ref()
            .ok_or_else(|| GatewayError::Spawn("started without its lease".into()))?;
        let token = lease.secret()?;
        for ((shard_id, stored), counters) in
            self.plan.ids.iter().zip(&self.stored).zip(&self.counters)
        {
            let config = setup::shard_config(
                token,
                self.intents,
                self.gateway_url.as_deref(),
                &self.plan.queue,
                stored.as_ref(),
                self.plan.total,
            );
            let shard = Shard::with_config(*shard_id, config);
            let ctx = ShardCtx {
                tenant: self.id.clone(),
                namespace: Arc::from(self.args.namespace.as_str()),
                bus: self.args.bus.clone(),
                tokens: self.args.tokens.clone(),
                deferrals: self.args.deferrals.clone(),
                allow: self.args.tenant.allow.clone(),
                publish_raw: self.args.tenant.publish_raw,
                interest: self.args.interest.clone(),
                sessions: self.args.sessions.clone(),
                counters: Arc::clone(counters),
                self_id: Arc::clone(&self.self_id),
                fence: Arc::clone(&self.fence),
                actor: myself.clone(),
                cancel: self.cancel.child_token(),
                save_interval: self.args.save_interval,
                close_timeout: self.args.close_timeout,
            };
            let span = tracing::info_span!(parent: &self.span, "shard", shard = shard_id.number());
            self.tracker.spawn(runner::run(shard, ctx).instrument(span));
        }
        Ok(())
    }

    fn watch_lease(&mut self, myself: &ActorRef<GatewayMsg>) {
        self.lease_watch = self.cancel.child_token();
        if let Some(lease) = &self.lease {
            self.tracker.spawn(
                lease::watch(lease, myself.clone(), self.lease_watch.clone())
                    .instrument(self.span.clone()),
            );
        }
    }

    async fn rollover(&mut self, myself: &ActorRef<GatewayMsg>) -> Result<(), GatewayError> {
        // Stop watching first: releasing the old lease reports it revoked.
        self.lease_watch.cancel();
        if let Some(old) = self.lease.take()
            && let Err(e) = old.release().await
        {
            tracing::warn!(error = %Report(&e), "could not release the old gateway lease");
        }
        let lease = lease::acquire(&self.args).await?;
        self.fence
            .store(lease.fence().unwrap_or(0), Ordering::Relaxed);
        self.lease = Some(lease);
        self.watch_lease(myself);
        tracing::info!("gateway lease rolled over");
        Ok(())
    }
}

impl Actor for GatewayActor {
    type Msg = GatewayMsg;
    type State = GatewayState;
    type Arguments = Start;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        start: Start,
    ) -> Result<Self::State, ActorProcessingErr> {
        // twilight enables rustls without a provider; another part of the process may
        // have installed one already, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let Start { args, health } = start;
        let id = args.tenant.id();
        let span = tracing::info_span!(parent: None, "gateway", provider = %id.provider, tenant = %id.tenant);
        let prepared = prepare(args, Arc::clone(&health), span.clone());
        match prepared.instrument(span.clone()).await {
            Ok(state) => Ok(state),
            Err(e) if e.exit() == Some(GatewayExit::HeldElsewhere) => {
                span.in_scope(|| tracing::debug!("gateway lease held elsewhere"));
                health.set_exit(GatewayExit::HeldElsewhere);
                Err(Box::new(e))
            }
            Err(e) => {
                span.in_scope(|| tracing::error!(error = %Report(&e), "gateway cannot start"));
                health.fail(Report(&e).to_string());
                if let Some(exit) = e.exit() {
                    health.set_exit(exit);
                }
                Err(Box::new(e))
            }
        }
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let _span = state.span.clone().entered();
        if let Err(e) = state.start_shards(&myself) {
            state.health.fail(Report(&e).to_string());
            return Err(Box::new(e));
        }
        state.watch_lease(&myself);
        state.health.set_state(TenantState::Running);
        tracing::info!(
            shards = state.plan.ids.len(),
            resuming = state.stored.iter().filter(|s| s.is_some()).count(),
            "gateway running"
        );
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let span = state.span.clone();
        on_message(myself, msg, state).instrument(span).await;
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let span = state.span.clone();
        stop(state).instrument(span).await;
        Ok(())
    }
}

/// Handles one control message.
async fn on_message(myself: ActorRef<GatewayMsg>, msg: GatewayMsg, state: &mut GatewayState) {
    match msg {
        GatewayMsg::ShardEnded {
            shard,
            end: ShardEnd::Fatal(code),
        } => {
            let reason = fatal_reason(code, state.intents);
            tracing::error!(shard, %reason, "gateway closed for good; tenant failed");
            state.health.fail(reason.clone());
            state.health.set_exit(GatewayExit::Fatal(reason.clone()));
            myself.stop(Some(format!("{FATAL_PREFIX}{reason}")));
        }
        GatewayMsg::LeaseLost { reason } => {
            let reason = format!("lease lost: {reason}");
            tracing::warn!(%reason, "closing the gateway");
            state.health.fail(reason.clone());
            state
                .health
                .set_exit(GatewayExit::LeaseLost(reason.clone()));
            myself.stop(Some(reason));
        }
        GatewayMsg::RolloverLease => {
            if let Err(e) = state.rollover(&myself).await {
                let reason = format!("lease lost: {}", Report(&e));
                // Another node took the token between release and re-lease.
                let exit = e
                    .exit()
                    .filter(|x| *x == GatewayExit::HeldElsewhere)
                    .unwrap_or_else(|| GatewayExit::LeaseLost(reason.clone()));
                state.health.fail(reason.clone());
                state.health.set_exit(exit);
                myself.stop(Some(reason));
            }
        }
    }
}

/// Closes the shards resumably, waits for their sessions to be stored, and releases
/// the lease.
async fn stop(state: &mut GatewayState) {
    state.cancel.cancel();
    state.tracker.close();
    let bound = state.args.close_timeout + std::time::Duration::from_secs(2);
    if tokio::time::timeout(bound, state.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("shards did not stop in time");
    }
    if let Some(lease) = state.lease.take()
        && let Err(e) = lease.release().await
    {
        tracing::warn!(error = %Report(&e), "could not release the gateway lease");
    }
    if matches!(
        state.health.state(),
        TenantState::Running | TenantState::Starting
    ) {
        state.health.set_state(TenantState::Stopped);
    }
    tracing::info!("gateway stopped");
}
