//! One command, end to end: mapped to Discord calls, sent, and answered.

use serde_json::Value;
use twilight_model::channel::Message;

use super::core::Core;
use super::exec::{Failure, Reply, send};
use crate::model::{
    Command, Envelope, InteractionResponse, RestErrorKind, RestResponse, RestResult,
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
    Failure::new(0, RestErrorKind::InvalidRequest, e.to_string())
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
    let m: Value = parse(reply)?;
    let id = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
    match (id("id"), id("channel_id")) {
        (Some(message_id), Some(channel_id)) => Ok(success(
            reply,
            RestResult::Message {
                message_id,
                channel_id,
            },
        )),
        _ => Err(Failure::new(
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
        Command::RespondInteraction(r) => {
            let Some((token, app)) = core.tokens.fetch(&r.interaction_id).await else {
                return Err(Failure::new(
                    0,
                    RestErrorKind::InteractionExpired,
                    "unknown or expired interaction",
                ));
            };
            let call =
                calls::interaction(&r.response, &r.interaction_id, &app, &token).map_err(bad)?;
            let reply = send(core, &call).await?;
            match r.response {
                InteractionResponse::Followup(_) | InteractionResponse::EditOriginal(_) => {
                    message_result(&reply)
                }
                _ => Ok(success(&reply, RestResult::Empty)),
            }
        }
        Command::AssignRole(c) | Command::RemoveRole(c) => {
            let add = matches!(cmd, Command::AssignRole(_));
            let reply = send(core, &calls::role(c, add).map_err(bad)?).await?;
            Ok(success(&reply, RestResult::Empty))
        }
        Command::SendDirectMessage(d) => {
            let open = send(core, &calls::create_dm(&d.user_id).map_err(bad)?).await?;
            let channel: Value = parse(&open)?;
            let channel_id = channel
                .get("id")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| {
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

/// The bot's user id, fetched once (`None` if that failed; tried again next time).
async fn bot_user(core: &Core) -> Option<u64> {
    if let Some(v) = core.bot_user.get() {
        return *v;
    }
    let call = calls::current_user().ok()?;
    let reply = send(core, &call).await.ok()?;
    let me: Value = parse(&reply).ok()?;
    let id = me.get("id")?.as_str()?.parse::<u64>().ok()?;
    let _ = core.bot_user.set(Some(id));
    Some(id)
}
