//! The interaction clock: one task per REST actor that defers interactions whose
//! handler is slow, and answers with an ephemeral error those whose handler never
//! answers (or failed for good, as the worker reports with
//! [`Command::InteractionFailed`](crate::model::Command::InteractionFailed)).
//!
//! A watch is due `defer_after` after its interaction arrived: still pending, it is
//! deferred (type 5, ephemeral if the command is declared
//! [`ephemeral`](crate::commands::AppCommand::ephemeral); type 6 for components) and
//! due again `answer_within` later, when — if the handler still has not answered —
//! the access layer answers in its place: the edit of an ephemeral original, else an
//! ephemeral followup and the deletion of the public "thinking…" original (after a
//! type 6, a followup), so only the user who asked sees the error. Each such case is
//! logged with tenant and interaction id and counted.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::answer::{deliver_message, send_as_is};
use super::core::Core;
use crate::actors::access::{DeferKind, Deferred, Phase, Since, Watch};
use crate::model::{InteractionResponse, MessageBody, RestErrorKind};
use crate::providers::discord::rest::ALREADY_ACKNOWLEDGED;

/// What the user sees when the handler failed or never answered.
pub(crate) const ERROR_TEXT: &str =
    "Something went wrong while handling this. Please try again in a moment.";

/// Runs the clock until `stop`.
pub(crate) async fn run(core: Arc<Core>, stop: CancellationToken) {
    loop {
        let due = tokio::select! {
            biased;
            () = stop.cancelled() => return,
            due = core.deferrals.next_due() => due,
        };
        for watch in due {
            let core = Arc::clone(&core);
            // Each in its own task: one slow call must not hold the others back.
            let span = core.shared.span.clone();
            tokio::spawn(async move { on_due(&core, &watch).await }.instrument(span));
        }
    }
}

/// Whether the tenant's declared command `name` answers ephemerally.
fn ephemeral_hint(core: &Core, name: Option<&str>) -> bool {
    let (Some(name), Some(sync)) = (name, &core.commands) else {
        return false;
    };
    let (_, plan) = sync.plan();
    plan.commands.iter().any(|c| c.name == name && c.ephemeral)
}

async fn on_due(core: &Core, watch: &Watch) {
    let mut phase = watch.phase.lock().await;
    match *phase {
        Phase::Pending => defer(core, watch, &mut phase).await,
        Phase::Deferred(d) if d.since == Since::Nobody => {
            // An earlier deadline of this watch (e.g. `defer_after` when the handler
            // deferred by itself) is not the error's.
            if Instant::now() < d.error_at {
                return;
            }
            fail(core, watch, &mut phase, "no answer").await;
        }
        _ => core.deferrals.forget(&watch.id),
    }
}

async fn defer(core: &Core, watch: &Watch, phase: &mut Phase) {
    let ephemeral =
        watch.kind == DeferKind::Message && ephemeral_hint(core, watch.command.as_deref());
    let response = match watch.kind {
        DeferKind::Message => InteractionResponse::DeferredMessage { ephemeral },
        DeferKind::Update => InteractionResponse::DeferredUpdate,
    };
    let answer_within = core
        .deferrals
        .timing()
        .map_or(Duration::from_secs(10), |t| t.answer_within);
    match send_as_is(core, &watch.id, &response).await {
        Ok(_) => {
            let kind = match watch.kind {
                DeferKind::Message => "message",
                DeferKind::Update => "update",
            };
            metrics::counter!("switchboard_interaction_deferrals_total", "kind" => kind)
                .increment(1);
            tracing::debug!(interaction = %watch.id, kind, "interaction deferred for a slow handler");
            // The handler's time runs from when Discord has the deferral.
            let deferred = Deferred {
                kind: watch.kind,
                ephemeral,
                open: watch.kind == DeferKind::Message,
                by_us: true,
                since: Since::Nobody,
                error_at: Instant::now() + answer_within,
            };
            *phase = Phase::Deferred(deferred);
            core.deferrals.schedule(&watch.id, deferred.error_at);
        }
        // Acknowledged by someone else (another node's answer): nothing to defer.
        Err(f) if f.code == Some(ALREADY_ACKNOWLEDGED) => {
            *phase = Phase::Answered;
            core.deferrals.forget(&watch.id);
        }
        Err(f) => {
            metrics::counter!("switchboard_interaction_failures_total", "reason" => "defer_failed")
                .increment(1);
            tracing::warn!(interaction = %watch.id, error = %f.message, "could not defer a slow interaction");
            if f.kind == RestErrorKind::InteractionExpired {
                *phase = Phase::Gone;
                core.deferrals.forget(&watch.id);
            }
        }
    }
}

/// Answers with the error in the handler's place, if nothing has answered yet.
/// Returns whether an error answer went out.
pub(crate) async fn fail(core: &Core, watch: &Watch, phase: &mut Phase, reason: &str) -> bool {
    let body = MessageBody {
        ephemeral: true,
        ..MessageBody::text(ERROR_TEXT)
    };
    let sent = match *phase {
        Phase::Pending => {
            let r = send_as_is(core, &watch.id, &InteractionResponse::Message(body)).await;
            r.map(|_| {
                *phase = Phase::Deferred(Deferred {
                    kind: watch.kind,
                    ephemeral: true,
                    open: false,
                    by_us: false,
                    since: Since::Error,
                    error_at: Instant::now(),
                });
            })
        }
        Phase::Deferred(mut d) if d.since == Since::Nobody => {
            let r = deliver_message(core, &watch.id, &mut d, &body).await;
            d.since = Since::Error;
            *phase = Phase::Deferred(d);
            r.map(|_| ())
        }
        _ => return false,
    };
    let label = if reason == "no answer" {
        "no_answer"
    } else {
        "handler_failed"
    };
    metrics::counter!("switchboard_interaction_failures_total", "reason" => label).increment(1);
    match sent {
        Ok(()) => {
            tracing::warn!(interaction = %watch.id, reason, "interaction answered with an error in the handler's place");
            true
        }
        Err(f) => {
            tracing::warn!(interaction = %watch.id, reason, error = %f.message, "could not answer a failed interaction");
            false
        }
    }
}
