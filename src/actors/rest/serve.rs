//! One command, end to end: mapped to Discord calls, sent, and answered.

use twilight_model::channel::Message;

use super::core::Core;
use super::exec::{Failure, Reply, send};
use super::{answer, clock};
use crate::model::{
    Command, Envelope, InteractionFailed, InteractionResponse, MessageBody, RestErrorKind,
    RestResponse, RestResult,
};
use crate::providers::discord::rest::{self as calls, BuildError, message_to_event, nonce_for};

/// Answers one command.
pub(crate) async fn serve(core: &Core, env: &Envelope, cmd: &Command) -> RestResponse {
    match serve_inner(core, env, cmd).await {
        Ok(r) => r,
        Err(f) => f.into(),
    }
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(bad)`
fn bad(e: BuildError) -> Failure {
    Failure::new(
        0,
        RestErrorKind::InvalidRequest,
        crate::Report(&e).to_string(),
    )
}

fn success(reply: &Reply, result: RestResult) -> RestResponse {
    let mut r = RestResponse::success(reply.status, result);
    r.bucket.clone_from(&reply.bucket);
    r
}

fn parse<T: serde::de::DeserializeOwned>(reply: &Reply) -> Result<T, Failure> {
    serde_json::from_slice(&reply.body).map_err(|e| {
        Failure::new(
            reply.status,
            RestErrorKind::Other,
            format!("unexpected response body: {e}"),
        )
    })
}

fn message_result(reply: &Reply) -> Result<RestResponse, Failure> {
    match calls::message_ids(&reply.body) {
        Some((message_id, channel_id)) => Ok(success(
            reply,
            RestResult::Message {
                message_id,
                channel_id,
            },
        )),
        None => Err(Failure::new(
            reply.status,
            RestErrorKind::Other,
            "response is not a message",
        )),
    }
}

async fn serve_inner(core: &Core, env: &Envelope, cmd: &Command) -> Result<RestResponse, Failure> {
    // Retries of a handler publish new requests with the same causation (the event
    // being handled), so nonces derived from it deduplicate them.
    let origin = env.causation.unwrap_or(env.id).to_string();
    match cmd {
        Command::PostMessage(p) => {
            let reply_to = p.reply_to.as_deref().unwrap_or_default();
            let nonce = nonce_for(
                p.nonce.as_deref(),
                &origin,
                &[&p.channel_id, &p.content, reply_to],
            );
            let call = calls::post_message(p, &nonce).map_err(bad)?;
            message_result(&send(core, &call).await?)
        }
        Command::RespondInteraction(r) => match answer::respond(core, r).await? {
            Some(reply) if !answer::is_initial(&r.response) || is_message(&reply) => {
                message_result(&reply)
            }
            Some(reply) => Ok(success(&reply, RestResult::Empty)),
            None => Ok(RestResponse::success(200, RestResult::Empty)),
        },
        Command::InteractionFailed(f) => {
            interaction_failed(core, f).await;
            Ok(RestResponse::success(200, RestResult::Empty))
        }
        Command::AssignRole(c) | Command::RemoveRole(c) => {
            let add = matches!(cmd, Command::AssignRole(_));
            let reply = send(core, &calls::role(c, add).map_err(bad)?).await?;
            Ok(success(&reply, RestResult::Empty))
        }
        Command::SendDirectMessage(d) => {
            let open = send(core, &calls::create_dm(&d.user_id).map_err(bad)?).await?;
            let channel_id = calls::channel_id(&open.body).ok_or_else(|| {
                Failure::new(open.status, RestErrorKind::Other, "no DM channel id")
            })?;
            let nonce = nonce_for(None, &origin, &["dm", &d.user_id, &d.content]);
            let call = calls::dm_message(channel_id, &d.content, &d.embeds, &nonce).map_err(bad)?;
            message_result(&send(core, &call).await?)
        }
        Command::FetchHistory(f) => {
            let reply = send(core, &calls::history(f).map_err(bad)?).await?;
            let messages: Vec<Message> = parse(&reply)?;
            let bot = bot_user(core).await;
            let page = messages.iter().map(|m| message_to_event(m, bot)).collect();
            Ok(success(&reply, RestResult::History(page)))
        }
    }
}

/// Whether a reply's body is a message (a translated answer: edit or followup).
fn is_message(reply: &Reply) -> bool {
    calls::message_ids(&reply.body).is_some()
}

/// A worker gave up on an interaction: answer with the error unless answered.
async fn interaction_failed(core: &Core, f: &InteractionFailed) {
    let id = &f.interaction_id;
    if let Some(watch) = core.deferrals.get(id) {
        let mut phase = watch.phase.lock().await;
        clock::fail(core, &watch, &mut phase, &f.reason).await;
        return;
    }
    // Not watched (deferrals off): try a first answer; 40060 means one was given.
    let body = MessageBody {
        ephemeral: true,
        ..MessageBody::text(clock::ERROR_TEXT)
    };
    match answer::send_as_is(core, id, &InteractionResponse::Message(body)).await {
        Ok(_) => {
            metrics::counter!("switchboard_interaction_failures_total", "reason" => "handler_failed").increment(1);
            tracing::warn!(interaction = %id, reason = %f.reason, "interaction answered with an error in the handler's place");
        }
        Err(e) if e.code == Some(calls::ALREADY_ACKNOWLEDGED) => {}
        Err(e) => {
            tracing::warn!(interaction = %id, reason = %f.reason, error = %e.message, "could not answer a failed interaction");
        }
    }
}

/// The bot's user id, fetched once (`None` if that failed; tried again next time).
async fn bot_user(core: &Core) -> Option<u64> {
    if let Some(v) = core.bot_user.get() {
        return *v;
    }
    let call = calls::current_user().ok()?;
    let reply = send(core, &call).await.ok()?;
    let id = calls::user_id(&reply.body)?;
    let _ = core.bot_user.set(Some(id));
    Some(id)
}
