//! `WorkerActor`: takes deliveries from the bus, runs the tenant's handlers, acks.
//!
//! A worker holds no token and serves any tenant: it reads the tenant from the
//! envelope and builds a [`Ctx`](crate::handler::Ctx) scoped to it. A handler that
//! fails or times out fails the delivery (it is retried, then dead-lettered); a handler
//! that panics fails the delivery *and* the worker, with the tenant's name, so its
//! pool charges the panic to that tenant and restarts the worker. Deliveries of a
//! tenant the pool has quarantined are dead-lettered without running a handler.
//!
//! When an interaction's delivery is dead-lettered (its handlers failed on the last
//! attempt, or its tenant is quarantined), the worker tells the tenant's access
//! layer ([`Command::InteractionFailed`]), which answers the user with an ephemeral
//! error instead of leaving "This interaction failed".

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tracing::Instrument;

use super::pool::PoolShared;
use crate::bus::Delivery;
use crate::handler::Ctx;
use crate::handler::DynHandler;
use crate::model::{
    Command, Envelope, Event, InteractionFailed, InteractionKind, Payload, TenantId,
};

/// The worker's only message: take the next delivery.
#[derive(Debug)]
pub(crate) enum WorkerMsg {
    Next,
}

pub(crate) struct WorkerActor;

/// Why a delivery's handling ended the worker: a handler of `tenant` panicked.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct HandlerPanicked {
    /// Whose handler it was: the pool charges the panic to this tenant.
    pub(crate) tenant: TenantId,
    message: String,
}

impl Actor for WorkerActor {
    type Msg = WorkerMsg;
    type State = Arc<PoolShared>;
    type Arguments = Arc<PoolShared>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        shared: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        // Infallible by design: a worker that cannot start would make its pool's
        // restart fail; the only step here is queueing its first message.
        let _ = myself.cast(WorkerMsg::Next);
        Ok(shared)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        WorkerMsg::Next: Self::Msg,
        shared: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Once cancelled, take nothing new even if a delivery is ready.
        let delivery = tokio::select! {
            biased;
            () = shared.cancel.cancelled() => None,
            d = shared.bus.next_for(shared.group) => d,
        };
        let Some(delivery) = delivery else {
            myself.stop(Some("shutdown".to_owned()));
            return Ok(());
        };
        shared.stats.busy.fetch_add(1, Ordering::Relaxed);
        let env = &delivery.envelope;
        // Everything logged while handling it names the delivery.
        let span = tracing::info_span!(
            "delivery",
            provider = %env.provider,
            tenant = %env.tenant,
            envelope = %env.id,
            attempt = env.attempt,
            group = shared.bus.group_name(shared.group),
        );
        let outcome = process(shared, delivery).instrument(span).await;
        shared.stats.busy.fetch_sub(1, Ordering::Relaxed);
        outcome?;
        let _ = myself.cast(WorkerMsg::Next);
        Ok(())
    }
}

/// Acks a delivery whose handlers all succeeded, else fails it (reporting an
/// interaction no attempt will answer).
async fn settle(shared: &PoolShared, delivery: Delivery, finished: &[String], errors: &[String]) {
    let result = if errors.is_empty() {
        shared.stats.handled.fetch_add(1, Ordering::Relaxed);
        // The marks ride with the acknowledgement.
        shared.bus.ack_done(delivery, finished);
        Ok(())
    } else {
        // Mark what finished before the retry is scheduled, so the retry skips it.
        let tenant = delivery.envelope.tenant_id();
        for mark in finished {
            if let Err(e) = shared
                .bus
                .mark_done(&tenant, delivery.envelope.id, mark)
                .await
            {
                tracing::warn!(error = %crate::Report(&e), "recording handler completion failed");
            }
        }
        shared.stats.failed.fetch_add(1, Ordering::Relaxed);
        let error = errors.join("; ");
        if shared.bus.is_last_attempt(&delivery.envelope) {
            report_interaction(shared, &delivery.envelope, &error).await;
        }
        shared.bus.fail(delivery, &error).await
    };
    if let Err(e) = result {
        tracing::warn!(error = %crate::Report(&e), "settling the delivery failed; it will be redelivered");
    }
}

/// If `env` is an interaction (other than autocomplete), asks the tenant's access
/// layer to answer it with an error: no handler will.
async fn report_interaction(shared: &PoolShared, env: &Envelope, reason: &str) {
    let Payload::Event(Event::InteractionCreated(i)) = &env.payload else {
        return;
    };
    if i.kind == InteractionKind::Autocomplete {
        return;
    }
    let ctx = Ctx::new(
        shared.ctx.clone(),
        env,
        Arc::from("switchboard"),
        Arc::new(serde_json::Value::Null),
        None,
        shared.cancel.child_token(),
    );
    let command = Command::InteractionFailed(InteractionFailed {
        interaction_id: i.interaction_id.clone(),
        reason: reason.to_owned(),
    });
    // The effect is dropped: the access layer logs what becomes of it.
    if let Err(e) = ctx.submit(command).await {
        tracing::warn!(interaction = %i.interaction_id, error = %crate::Report(&e), "could not report a failed interaction to the access layer");
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

/// Time from ingest to the first handling of an event (retries would count their
/// backoff). Wall clocks of two nodes, so clamped at zero.
fn record_ingest_latency(env: &Envelope) {
    if env.attempt == 0 {
        let waited_ms = crate::model::now_ms().saturating_sub(env.ts);
        metrics::histogram!("switchboard_ingest_to_handler_seconds")
            .record(waited_ms as f64 / 1000.0);
    }
}

/// How long a "once per message" claim is kept: longer than any retry schedule or
/// gateway replay of the message.
const ONCE_PER_MESSAGE_TTL: Duration = Duration::from_secs(3600);

/// Whether this tenant runs the once-per-message handler `handler` for `event`:
/// the first tenant of the namespace to claim `(provider, event kind, message id)`
/// does (and again on a retry of its delivery); events that are not about a message
/// run for every tenant. A store that cannot answer runs it anyway: at least once,
/// as for the idempotency marks.
async fn once_mine(shared: &PoolShared, tenant: &TenantId, event: &Event, handler: &str) -> bool {
    let message = match event {
        Event::SocialMessageCreated(m) => m.message_id.as_str(),
        Event::SocialMessageUpdated(m) => m.message_id.as_str(),
        Event::SocialMessageDeleted(m) => m.message_id.as_str(),
        _ => return true,
    };
    let me = format!("{}/{}", tenant.provider, tenant.tenant);
    let claim = shared
        .ctx
        .state
        .channels(&shared.ctx.namespace)
        .claim_once(
            tenant.provider.as_str(),
            event.name(),
            message,
            handler,
            &me,
            ONCE_PER_MESSAGE_TTL,
        )
        .await;
    match claim {
        Ok(mine) => mine,
        Err(e) => {
            tracing::warn!(handler, error = %crate::Report(&e), "once-per-message claim failed; running the handler");
            true
        }
    }
}

/// The name a handler's idempotency marks, once-per-message claims and effect keys
/// are kept under: its own in the default group (the keys existing data uses), else
/// `<group>/<name>`, so the same handler in two groups runs in each.
fn mark_name<'a>(shared: &PoolShared, name: &'a str) -> std::borrow::Cow<'a, str> {
    if shared.config.group == crate::bus::DEFAULT_GROUP {
        std::borrow::Cow::Borrowed(name)
    } else {
        std::borrow::Cow::Owned(format!("{}/{name}", shared.config.group))
    }
}

/// Whether handler `h` still has to run for this envelope: not if it does not want
/// the event ([`Handler::interest`](crate::handler::Handler::interest)), nor if it finished it
/// before (an idempotency mark, not looked up for a `fresh` delivery: the first of
/// a first publish), nor if it runs once per message and another tenant of the
/// namespace claimed the message.
async fn should_run(
    shared: &PoolShared,
    tenant: &TenantId,
    delivery: &Delivery,
    event: &Event,
    h: &dyn DynHandler,
) -> bool {
    if !h.interest().wants(event) {
        return false;
    }
    let mark = mark_name(shared, h.name());
    if !delivery.fresh {
        match shared.bus.is_done(tenant, delivery.envelope.id, &mark).await {
            Ok(true) => return false,
            Ok(false) => {}
            // Not knowing is no reason to skip: at-least-once, effects are idempotent.
            Err(e) => tracing::warn!(error = %crate::Report(&e), "idempotency lookup failed"),
        }
    }
    !h.once_per_message() || once_mine(shared, tenant, event, &mark).await
}

/// Handles one delivery. Returns `Err` only when a handler panicked.
async fn process(shared: &PoolShared, delivery: Delivery) -> Result<(), HandlerPanicked> {
    let env = &delivery.envelope;
    let tenant = env.tenant_id();
    let Payload::Event(event) = &env.payload else {
        // Raw payloads are for external consumers; workers have nothing to run.
        if let Err(e) = shared.bus.ack(delivery).await {
            tracing::warn!(error = %crate::Report(&e), "ack failed");
        }
        return Ok(());
    };
    let table = shared.handlers();
    let Some(th) = table.get(&tenant) else {
        shared.stats.unknown_tenant.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("switchboard_worker_unknown_tenant_total").increment(1);
        tracing::error!("envelope for an unknown tenant; dead-lettering");
        let error = format!("unknown tenant {tenant}: no handlers are configured for it");
        if let Err(e) = shared.bus.reject(delivery, &error).await {
            tracing::warn!(error = %crate::Report(&e), "dead-lettering failed");
        }
        return Ok(());
    };
    if let Some(why) = shared.faults.quarantined(&tenant) {
        shared.stats.quarantined.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("switchboard_worker_quarantined_total").increment(1);
        tracing::warn!(reason = %why, "tenant quarantined; dead-lettering");
        let error = format!("tenant {tenant} is quarantined: {why}");
        report_interaction(shared, env, &error).await;
        if let Err(e) = shared.bus.reject(delivery, &error).await {
            tracing::warn!(error = %crate::Report(&e), "dead-lettering failed");
        }
        return Ok(());
    }
    let event: &Event = event;
    record_ingest_latency(env);
    let mut errors: Vec<String> = Vec::new();
    // The idempotency marks of the handlers that finished, written as it settles.
    let mut finished: Vec<String> = Vec::new();
    let mut panicked = None;
    for h in &th.handlers {
        let name = h.name();
        if !should_run(shared, &tenant, &delivery, event, h.as_ref()).await {
            continue;
        }
        let cancel = shared.cancel.child_token();
        let ctx = Ctx::new(
            shared.ctx.clone(),
            env,
            // Qualified outside the default group, so the same handler in two groups
            // derives distinct effect idempotency keys.
            Arc::from(&*mark_name(shared, name)),
            th.settings.clone(),
            th.coordination,
            cancel.clone(),
        );
        let started = Instant::now();
        let run = AssertUnwindSafe(h.handle(&ctx, event)).catch_unwind();
        let result = tokio::time::timeout(shared.config.handler_timeout, run).await;
        let elapsed = started.elapsed();
        shared.stats.latency.record(elapsed);
        metrics::histogram!("switchboard_handler_seconds", "handler" => name.to_owned())
            .record(elapsed.as_secs_f64());
        match result {
            Ok(Ok(Ok(()))) => finished.push(mark_name(shared, name).into_owned()),
            Ok(Ok(Err(e))) => {
                tracing::warn!(handler = name, error = %crate::Report(&*e), "handler failed");
                errors.push(format!("handler {name}: {}", crate::Report(&*e)));
            }
            Ok(Err(payload)) => {
                let msg = panic_message(payload.as_ref());
                tracing::error!(handler = name, panic = %msg, "handler panicked");
                errors.push(format!("handler {name} panicked: {msg}"));
                panicked = Some(format!("handler {name} panicked: {msg}"));
                break;
            }
            Err(_) => {
                cancel.cancel();
                tracing::warn!(handler = name, "handler timed out");
                errors.push(format!(
                    "handler {name} timed out after {} ms",
                    shared.config.handler_timeout.as_millis()
                ));
            }
        }
    }
    settle(shared, delivery, &finished, &errors).await;
    match panicked {
        Some(message) => Err(HandlerPanicked { tenant, message }),
        None => Ok(()),
    }
}
