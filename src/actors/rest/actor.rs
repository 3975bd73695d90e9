//! The `RestActor`: leases the token, builds the client, runs the request pump, and
//! rebuilds the client when the token rotates.
//!
//! Commands are served by tasks (bounded by `max_in_flight`) that the pump spawns; the
//! actor's own messages are the lease's events and the fatal signal a task raises when
//! the token is rejected.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::core::{Core, Shared};
use super::exec::{Failure, unavailable};
use super::health::{BackfillGuard, TenantState, bump};
use super::memory::BucketMemory;
use super::register;
use super::serve::serve;
use super::start::RestArgs;
use crate::Report;
use crate::actors::access;
use crate::bus::Delivery;
use crate::model::{Command, Payload, RestErrorKind, RestResponse};
use crate::providers::discord::rest::{ClientError, build_client};
use crate::vault::{Capability, Lease, LeaseEvent, VaultError};

/// Why a REST actor could not start (or lost its token).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestError {
    /// The vault refused or failed the token lease.
    #[error("token lease: {0}")]
    Lease(#[from] VaultError),
    /// The client could not be built.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// The actor's messages.
#[derive(Debug)]
pub(crate) enum RestMsg {
    /// Something happened to the token lease.
    Lease(LeaseEvent),
    /// The tenant failed for good: answer what is pending and stop. The reason is
    /// text, not an error: it becomes the tenant's `TenantState::Failed` and
    /// `AccessExit::Fatal` (cloned into health and status), and where an error
    /// caused it, it was rendered with its chain through [`Report`] already.
    Fatal(String),
}

/// How long to wait before leasing the token again after the store failed.
const RELET_RETRY: Duration = Duration::from_secs(1);

/// The actor.
pub(crate) struct RestActor;

/// Its arguments: what the handle was given, and the shared health.
pub(crate) struct StartArgs {
    pub(crate) args: RestArgs,
    pub(crate) shared: Arc<Shared>,
}

/// Its state, built in `pre_start`.
pub(crate) struct RestState {
    core: Arc<Core>,
    args: RestArgs,
    lease: Lease,
    watcher: JoinHandle<()>,
    stop_pump: CancellationToken,
    tasks: TaskTracker,
}

async fn lease_token(args: &RestArgs) -> Result<Lease, RestError> {
    Ok(access::lease::acquire(
        &args.vault,
        &args.tenant,
        Capability::ProviderRest,
        args.config.lease_ttl,
    )
    .await?)
}

fn client_for(args: &RestArgs, lease: &Lease) -> Result<twilight_http::Client, RestError> {
    let global = u16::try_from(args.config.global_limit).unwrap_or(u16::MAX);
    Ok(build_client(
        lease.secret()?,
        args.tenant.endpoints.api.as_deref(),
        global,
        args.config.attempt_timeout,
    )?)
}

fn watch(lease: &Lease, actor: ActorRef<RestMsg>) -> JoinHandle<()> {
    access::lease::forward(lease, move |ev| actor.cast(RestMsg::Lease(ev)).is_ok())
}

impl Actor for RestActor {
    type Msg = RestMsg;
    type State = RestState;
    type Arguments = StartArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        StartArgs { args, shared }: StartArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let span = shared.span.clone();
        let started = async {
            let lease = lease_token(&args).await?;
            let client = client_for(&args, &lease)?;
            Ok::<_, RestError>((lease, client))
        }
        .instrument(span.clone())
        .await;
        let (lease, client) = match started {
            Ok(v) => v,
            Err(e) => {
                shared
                    .counters
                    .set_state(TenantState::Failed(format!("start: {}", Report(&e))));
                span.in_scope(
                    || tracing::error!(error = %Report(&e), "REST actor failed to start"),
                );
                return Err(Box::new(e));
            }
        };
        let core = Arc::new(Core::new(
            shared,
            client,
            args.bus.clone(),
            args.tokens.clone(),
            (args.deferrals.clone(), args.commands.clone()),
            myself.clone(),
        ));
        let stop_pump = CancellationToken::new();
        let tasks = TaskTracker::new();
        tasks.spawn(
            pump(Arc::clone(&core), stop_pump.clone(), tasks.clone()).instrument(span.clone()),
        );
        tasks.spawn(
            super::clock::run(Arc::clone(&core), stop_pump.clone()).instrument(span.clone()),
        );
        tasks.spawn(
            keep_layout(Arc::clone(&core), args.limits.clone(), stop_pump.clone())
                .instrument(span.clone()),
        );
        if let Some(sync) = args.commands.clone() {
            tasks.spawn(
                register::run(
                    Arc::clone(&core),
                    sync,
                    args.tenant.credentials.app_id.clone(),
                    stop_pump.clone(),
                )
                .instrument(span.clone()),
            );
        }
        let watcher = watch(&lease, myself);
        core.shared.counters.set_state(TenantState::Running);
        span.in_scope(|| tracing::info!("REST actor running"));
        Ok(RestState {
            core,
            args,
            lease,
            watcher,
            stop_pump,
            tasks,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let span = state.core.shared.span.clone();
        on_message(&myself, msg, state).instrument(span).await;
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let span = state.core.shared.span.clone();
        stop(state).instrument(span).await;
        Ok(())
    }
}

/// Handles one control message (lease events, a fatal failure).
async fn on_message(myself: &ActorRef<RestMsg>, msg: RestMsg, state: &mut RestState) {
    match msg {
        RestMsg::Lease(LeaseEvent::Renewed { .. }) => {}
        RestMsg::Lease(LeaseEvent::Revoked) => {
            state.core.fail("the token lease was revoked");
        }
        RestMsg::Lease(ev) => {
            // Rotated (a new token) or expired (renewals reached the maximum TTL):
            // lease again and rebuild the client.
            match relet(state, myself).await {
                Ok(()) => {
                    bump(&state.core.shared.counters.rotations);
                    tracing::info!(
                        event = ?ev, "REST client rebuilt with a fresh token lease"
                    );
                }
                // The store is down (or lost its data and the secret is being
                // published again): not a revocation; lease again shortly.
                Err(RestError::Lease(e))
                    if e.is_unavailable() || matches!(e, VaultError::NotFound { .. }) =>
                {
                    tracing::warn!(
                        error = %crate::Report(&e), "cannot lease the token again yet; retrying"
                    );
                    myself.send_after(RELET_RETRY, move || RestMsg::Lease(ev));
                }
                Err(e) => state
                    .core
                    .fail(&format!("token lease lost: {}", Report(&e))),
            }
        }
        RestMsg::Fatal(reason) => {
            state.core.fail(&reason);
            state.stop_pump.cancel();
            drain(&state.core).await;
            myself.stop(Some(format!("fatal: {reason}")));
        }
    }
}

/// Stops taking requests, lets in-flight ones finish (up to the drain timeout),
/// and gives the lease back.
async fn stop(state: &mut RestState) {
    state.stop_pump.cancel();
    state.tasks.close();
    let drain = state.core.shared.config.drain_timeout;
    let drained = tokio::time::timeout(drain, state.tasks.wait())
        .await
        .is_ok();
    if !drained {
        state.core.abort.cancel();
        state.tasks.wait().await;
    }
    // Drained: every request sent was answered, so the gate is exact.
    let shared = &state.core.shared;
    state
        .args
        .limits
        .stopped(&shared.tenant, &shared.buckets, drained)
        .await;
    state.watcher.abort();
    state.lease.stop_renewal();
    state.core.shared.counters.set_state(TenantState::Stopped);
}

async fn relet(state: &mut RestState, myself: &ActorRef<RestMsg>) -> Result<(), RestError> {
    let lease = lease_token(&state.args).await?;
    let client = client_for(&state.args, &lease)?;
    state.core.set_client(client);
    state.watcher.abort();
    state.watcher = watch(&lease, myself.clone());
    // Dropping the old lease releases it.
    state.lease = lease;
    Ok(())
}

/// Answers what is already queued for a failed tenant.
async fn drain(core: &Core) {
    let tenant = &core.shared.tenant;
    while let Ok(Some(d)) =
        tokio::time::timeout(Duration::from_millis(20), core.bus.next_request(tenant)).await
    {
        respond(core, d, unavailable().into()).await;
    }
}

async fn respond(core: &Core, delivery: Delivery, response: RestResponse) {
    if let Err(e) = core.bus.respond(delivery, response).await {
        tracing::warn!(
            error = %crate::Report(&e), "could not answer a REST request"
        );
    }
}

/// How long the layout keeper waits after a change before saving, so a burst of
/// new routes is one write.
const LAYOUT_DEBOUNCE: Duration = Duration::from_millis(500);

/// Saves the bucket layout whenever the gate learns a new route, bucket or window,
/// so the tenant's next holder knows it even if this one dies (see `memory.rs`).
async fn keep_layout(core: Arc<Core>, memory: BucketMemory, stop: CancellationToken) {
    let shared = &core.shared;
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            () = shared.buckets.layout_learned() => {}
        }
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            () = tokio::time::sleep(LAYOUT_DEBOUNCE) => {}
        }
        memory.save_layout(&shared.tenant, &shared.buckets).await;
    }
}

/// Takes requests off the bus while there is room, and serves each in a task.
async fn pump(core: Arc<Core>, stop: CancellationToken, tasks: TaskTracker) {
    let cfg = &core.shared.config;
    let general = Arc::new(Semaphore::new(cfg.max_in_flight.max(1)));
    let backfill_queue = Arc::new(Semaphore::new(cfg.backfill_queue.max(1)));
    let tenant = core.shared.tenant.clone();
    loop {
        let permit = tokio::select! {
            biased;
            () = stop.cancelled() => return,
            p = Arc::clone(&general).acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let delivery = tokio::select! {
            biased;
            () = stop.cancelled() => return,
            d = core.bus.next_request(&tenant) => match d { Some(d) => d, None => return },
        };
        let backfill = matches!(
            &delivery.envelope.payload,
            Payload::Command(Command::FetchHistory(_))
        );
        let permit = if backfill {
            // Backfill waits for its own cap without holding a general slot.
            drop(permit);
            tokio::select! {
                biased;
                () = stop.cancelled() => {
                    respond(&core, delivery, unavailable().into()).await;
                    return;
                }
                p = Arc::clone(&backfill_queue).acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            }
        } else {
            permit
        };
        // A span per command when DEBUG is on; the tenant's span otherwise.
        let span = tracing::debug_span!(
            parent: &core.shared.span, "command", envelope = %delivery.envelope.id
        );
        let span = if span.is_disabled() {
            core.shared.span.clone()
        } else {
            span
        };
        tasks
            .spawn(handle_delivery(Arc::clone(&core), delivery, permit, backfill).instrument(span));
    }
}

async fn handle_delivery(
    core: Arc<Core>,
    delivery: Delivery,
    _permit: OwnedSemaphorePermit,
    backfill: bool,
) {
    let counters = &core.shared.counters;
    bump(&counters.in_flight);
    let response = match &delivery.envelope.payload {
        Payload::Command(cmd) if !core.is_failed() => {
            let work = async {
                let _cap = if backfill {
                    Arc::clone(&core.backfill).acquire_owned().await.ok()
                } else {
                    None
                };
                let _running = backfill.then(|| BackfillGuard::new(&core.shared.counters));
                serve(&core, &delivery.envelope, cmd).await
            };
            tokio::select! {
                biased;
                r = tokio::time::timeout(core.shared.config.command_timeout, work) => {
                    r.unwrap_or_else(|_| {
                        Failure::new(0, RestErrorKind::Timeout, "command deadline passed").into()
                    })
                }
                () = core.abort.cancelled() => unavailable().into(),
            }
        }
        Payload::Command(_) => unavailable().into(),
        _ => RestResponse::failure(0, RestErrorKind::Unsupported, "not a command"),
    };
    counters
        .in_flight
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    bump(&counters.commands);
    respond(&core, delivery, response).await;
}
