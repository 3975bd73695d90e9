//! A handler's answer to an interaction, through its watch ([`Deferrals`]).
//!
//! While the interaction is pending the answer goes out as sent, under the watch's
//! lock, so the clock cannot defer at the same moment. Once the access layer has
//! deferred (or answered with an error), the answer is translated, invisibly to the
//! handler:
//!
//! | handler's answer | after type 5 (command, modal submit) | after type 6 (component) |
//! |---|---|---|
//! | `Message`, same visibility as the deferral | edit `@original` | followup |
//! | `Message`, other visibility | followup with its own flag, then delete `@original` | followup |
//! | `UpdateMessage` | as `Message` | edit `@original` (the component's message) |
//! | `DeferredMessage` / `DeferredUpdate` | nothing to send | nothing to send |
//! | `Modal` | refused: a modal must be the first answer | refused |
//! | `Followup`, `EditOriginal`, `Autocomplete` | as sent | as sent |
//!
//! A handler that defers by itself is watched the same way: if its answer does not
//! follow within `answer_within_ms`, the clock answers with the error.
//!
//! A deferral fixes the visibility of the original response, so an ephemeral answer
//! after a public deferral becomes an ephemeral followup and the "thinking…"
//! original is deleted (and the other way round): the user sees one answer, with the
//! visibility the handler chose. Once `@original` has been edited or deleted, further
//! messages are followups.
//!
//! [`Deferrals`]: crate::actors::access::Deferrals

use std::time::Duration;

use secrecy::SecretString;
use tokio::time::Instant;

use super::core::Core;
use super::exec::{Failure, Reply, send};
use crate::actors::access::{DeferKind, Deferred, Phase, Since};
use crate::model::{InteractionResponse, MessageBody, RespondInteraction, RestErrorKind};
use crate::providers::discord::rest::{self as calls, BuildError};

#[allow(clippy::needless_pass_by_value)] // used as `map_err(bad)`
fn bad(e: BuildError) -> Failure {
    Failure::new(
        0,
        RestErrorKind::InvalidRequest,
        crate::Report(&e).to_string(),
    )
}

/// The token of a live interaction, or `InteractionExpired`.
pub(crate) async fn token(core: &Core, id: &str) -> Result<(SecretString, String), Failure> {
    core.tokens.fetch(id).await.ok_or_else(|| {
        Failure::new(
            0,
            RestErrorKind::InteractionExpired,
            "unknown or expired interaction",
        )
    })
}

/// Sends one interaction response as is.
pub(crate) async fn send_as_is(
    core: &Core,
    id: &str,
    response: &InteractionResponse,
) -> Result<Reply, Failure> {
    let (token, app) = token(core, id).await?;
    let call = calls::interaction(response, id, &app, &token).map_err(bad)?;
    send(core, &call).await
}

/// Deletes the original response.
pub(crate) async fn delete_original(core: &Core, id: &str) -> Result<Reply, Failure> {
    let (token, app) = token(core, id).await?;
    let call = calls::delete_original(id, &app, &token).map_err(bad)?;
    send(core, &call).await
}

/// Whether a response is a first answer (a callback) rather than a webhook call.
pub(crate) fn is_initial(r: &InteractionResponse) -> bool {
    !matches!(
        r,
        InteractionResponse::Followup(_) | InteractionResponse::EditOriginal(_)
    )
}

/// Answers a handler's `RespondInteraction`. `Ok(None)`: nothing had to be sent.
pub(crate) async fn respond(core: &Core, r: &RespondInteraction) -> Result<Option<Reply>, Failure> {
    let Some(watch) = core.deferrals.get(&r.interaction_id) else {
        return send_as_is(core, &r.interaction_id, &r.response)
            .await
            .map(Some);
    };
    let mut phase = watch.phase.lock().await;
    match *phase {
        Phase::Pending if is_initial(&r.response) => {
            let sent = send_as_is(core, &r.interaction_id, &r.response).await;
            match &sent {
                // The handler deferred by itself: it still owes an answer, which
                // the clock awaits as after its own deferral.
                Ok(_)
                    if let Some(timing) = core.deferrals.timing()
                        && let Some(d) = handler_deferral(&r.response, timing.answer_within) =>
                {
                    *phase = Phase::Deferred(d);
                    core.deferrals.schedule(&watch.id, d.error_at);
                }
                Ok(_) => {
                    *phase = Phase::Answered;
                    core.deferrals.forget(&watch.id);
                }
                Err(f) if f.kind == RestErrorKind::InteractionExpired => {
                    *phase = Phase::Gone;
                    core.deferrals.forget(&watch.id);
                }
                Err(_) => {}
            }
            sent.map(Some)
        }
        Phase::Deferred(mut d) => {
            let initial = is_initial(&r.response);
            let sent = if initial {
                translate(core, &r.interaction_id, &mut d, &r.response).await
            } else {
                send_as_is(core, &r.interaction_id, &r.response)
                    .await
                    .map(Some)
            };
            if sent.is_ok() {
                if matches!(r.response, InteractionResponse::EditOriginal(_)) {
                    d.open = false;
                }
                if d.by_us && d.since != Since::Handler {
                    metrics::counter!("switchboard_interaction_late_answers_total").increment(1);
                }
                d.since = Since::Handler;
            }
            *phase = Phase::Deferred(d);
            sent
        }
        _ => send_as_is(core, &r.interaction_id, &r.response)
            .await
            .map(Some),
    }
}

/// The state after a handler's own deferral (`None`: not a deferral).
fn handler_deferral(r: &InteractionResponse, answer_within: Duration) -> Option<Deferred> {
    let (kind, ephemeral) = match r {
        InteractionResponse::DeferredMessage { ephemeral } => (DeferKind::Message, *ephemeral),
        InteractionResponse::DeferredUpdate => (DeferKind::Update, false),
        _ => return None,
    };
    Some(Deferred {
        kind,
        ephemeral,
        open: kind == DeferKind::Message,
        by_us: false,
        since: Since::Nobody,
        error_at: Instant::now() + answer_within,
    })
}

/// A first answer after the access layer's deferral, as what Discord now expects.
async fn translate(
    core: &Core,
    id: &str,
    d: &mut Deferred,
    response: &InteractionResponse,
) -> Result<Option<Reply>, Failure> {
    match (response, d.kind) {
        (InteractionResponse::DeferredMessage { .. } | InteractionResponse::DeferredUpdate, _) => {
            Ok(None)
        }
        (InteractionResponse::UpdateMessage(b), DeferKind::Update) => {
            let mut b = b.clone();
            b.ephemeral = false;
            send_as_is(core, id, &InteractionResponse::EditOriginal(b))
                .await
                .map(Some)
        }
        (InteractionResponse::Message(b) | InteractionResponse::UpdateMessage(b), _) => {
            deliver_message(core, id, d, b).await.map(Some)
        }
        (InteractionResponse::Modal { .. }, _) => {
            tracing::warn!(
                interaction = id,
                "a modal came after the access layer deferred the interaction; refused"
            );
            Err(Failure::new(
                0,
                RestErrorKind::InvalidRequest,
                "the interaction was deferred because its handler took longer than \
                 runtime.interactions.defer_after_ms; a modal must be the first answer",
            ))
        }
        (other, _) => send_as_is(core, id, other).await.map(Some),
    }
}

/// A message after a deferral: the edit of a still-open original of the same
/// visibility, else a followup (deleting an open original of the other visibility).
pub(crate) async fn deliver_message(
    core: &Core,
    id: &str,
    d: &mut Deferred,
    b: &MessageBody,
) -> Result<Reply, Failure> {
    if d.kind == DeferKind::Message && d.open && b.ephemeral == d.ephemeral {
        let mut b = b.clone();
        // The deferral fixed the visibility; an edit cannot change it.
        b.ephemeral = false;
        let sent = send_as_is(core, id, &InteractionResponse::EditOriginal(b)).await?;
        d.open = false;
        return Ok(sent);
    }
    let sent = send_as_is(core, id, &InteractionResponse::Followup(b.clone())).await?;
    if d.kind == DeferKind::Message && d.open {
        d.open = false;
        if let Err(f) = delete_original(core, id).await {
            tracing::warn!(
                interaction = id, error = %f.message,
                "could not delete the deferred original response"
            );
        }
    }
    Ok(sent)
}
