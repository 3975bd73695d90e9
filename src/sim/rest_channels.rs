//! REST routes on channel messages: create (with `nonce` / `enforce_nonce` and
//! replies), get one, list (`before` / `after` / `around` / `limit`), edit, delete.

use std::collections::HashMap;
use std::time::Instant;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::{ApiError, SimError};
use super::messages::{self, Anchor, EPHEMERAL};
use super::rest::{Caller, json_body, ok, snowflake};
use super::server::App;
use super::state::{ChannelOwner, State};

/// The calling tenant and the channel it addresses, checked for access.
fn access(
    state: &State,
    caller: Caller,
    channel: &str,
) -> Result<(usize, u64, ChannelOwner), ApiError> {
    let t = caller.0.ok_or_else(ApiError::unauthorized)?;
    let channel = snowflake(channel)?;
    let owner = state
        .channel_owner(channel)
        .ok_or(SimError::UnknownChannel(channel))?;
    if !state.tenant_sees(t, &owner) {
        return Err(match owner {
            ChannelOwner::Guild(_) => ApiError::missing_access(),
            ChannelOwner::Dm(..) => SimError::UnknownChannel(channel).into(),
        });
    }
    Ok((t, channel, owner))
}

/// `POST /channels/{channel_id}/messages`.
pub(crate) async fn create(
    AxState(app): AxState<App>,
    Extension(caller): Extension<Caller>,
    Path(channel): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let state = &app.state;
    let (t, channel, owner) = access(state, caller, &channel)?;
    let body = json_body(&body)?;
    let guild = match owner {
        ChannelOwner::Guild(g) => Some(g),
        ChannelOwner::Dm(..) => None,
    };
    let nonce = match body.get("nonce") {
        None | Some(Value::Null) => None,
        Some(n @ Value::Number(_)) => Some(n.clone()),
        Some(n @ Value::String(s)) if s.chars().count() <= 25 => Some(n.clone()),
        Some(_) => {
            return Err(ApiError::form(
                "nonce",
                "BASE_TYPE_BAD_LENGTH",
                "Must be an integer or a string of at most 25 characters.",
            ));
        }
    };
    let enforce = body
        .get("enforce_nonce")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mentions: Vec<_> = body
        .get("content")
        .and_then(Value::as_str)
        .map(messages::parse_mentions)
        .unwrap_or_default()
        .into_iter()
        .map(|id| state.user(id))
        .collect();
    let tenant = &state.tenants[t];
    let mut world = state.world();
    if let (true, Some(n)) = (enforce, &nonce) {
        let since = Instant::now()
            .checked_sub(state.config.nonce_ttl)
            .unwrap_or(state.started);
        if let Some(m) = world.messages.find_nonce(channel, tenant.bot.id, n, since) {
            return Ok(ok(m.to_json()));
        }
    }
    let mut msg = state.new_message(
        channel,
        guild,
        Some(t),
        tenant.bot.clone(),
        String::new(),
        mentions,
    );
    messages::apply_body(&mut msg, &body, true)?;
    msg.flags &= !EPHEMERAL;
    msg.nonce = nonce;
    let mut referenced = None;
    if let Some(r) = body.get("message_reference").filter(|r| !r.is_null()) {
        let ref_channel = r
            .get("channel_id")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .unwrap_or(channel);
        let ref_id = r.get("message_id").and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        });
        let found = ref_id.and_then(|id| world.messages.get(ref_channel, id));
        let fail = r
            .get("fail_if_not_exists")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        match (found, ref_id) {
            (Some(m), Some(id)) => {
                referenced = Some(m.to_json());
                msg.kind = 19;
                let mut reference = json!({"type": 0, "message_id": id.to_string(),
                    "channel_id": ref_channel.to_string()});
                if let Some(g) = m.guild_id {
                    reference["guild_id"] = json!(g.to_string());
                }
                msg.message_reference = Some(reference);
            }
            _ if fail => {
                return Err(ApiError::form(
                    "message_reference",
                    "REPLIES_UNKNOWN_MESSAGE",
                    "Unknown message",
                ));
            }
            _ => {}
        }
    }
    let mut out = msg.to_json();
    if let Some(r) = referenced {
        out["referenced_message"] = r;
    }
    state.insert_and_dispatch(&mut world, msg);
    drop(world);
    state.changed.notify_waiters();
    Ok(ok(out))
}

/// `GET /channels/{channel_id}/messages/{message_id}`.
pub(crate) async fn get_one(
    AxState(app): AxState<App>,
    Extension(caller): Extension<Caller>,
    Path((channel, message)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let state = &app.state;
    let (t, channel, _) = access(state, caller, &channel)?;
    let id = snowflake(&message)?;
    let tenant = &state.tenants[t];
    let world = state.world();
    let m = world
        .messages
        .get(channel, id)
        .ok_or(SimError::UnknownMessage(id))?;
    Ok(ok(m.view(tenant.bot.id, tenant.privileged.message_content)))
}

/// `GET /channels/{channel_id}/messages`: newest first.
pub(crate) async fn list(
    AxState(app): AxState<App>,
    Extension(caller): Extension<Caller>,
    Path(channel): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let state = &app.state;
    let (t, channel, _) = access(state, caller, &channel)?;
    let limit = match q.get("limit") {
        None => 50,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=100).contains(l))
            .ok_or_else(|| {
                ApiError::form("limit", "NUMBER_TYPE_MAX", "Must be between 1 and 100.")
            })?,
    };
    let anchor = if let Some(a) = q.get("around") {
        Anchor::Around(snowflake(a)?)
    } else if let Some(b) = q.get("before") {
        Anchor::Before(snowflake(b)?)
    } else if let Some(a) = q.get("after") {
        Anchor::After(snowflake(a)?)
    } else {
        Anchor::Latest
    };
    let tenant = &state.tenants[t];
    let world = state.world();
    let page: Vec<Value> = world
        .messages
        .page(channel, anchor, limit)
        .into_iter()
        .filter(|m| m.flags & EPHEMERAL == 0)
        .map(|m| m.view(tenant.bot.id, tenant.privileged.message_content))
        .collect();
    Ok(ok(Value::Array(page)))
}

/// `PATCH /channels/{channel_id}/messages/{message_id}`: only the author may edit.
pub(crate) async fn edit(
    AxState(app): AxState<App>,
    Extension(caller): Extension<Caller>,
    Path((channel, message)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let state = &app.state;
    let (t, channel, _) = access(state, caller, &channel)?;
    let id = snowflake(&message)?;
    let body = json_body(&body)?;
    {
        let world = state.world();
        let m = world
            .messages
            .get(channel, id)
            .ok_or(SimError::UnknownMessage(id))?;
        if m.author.id != state.tenants[t].bot.id {
            return Err(ApiError::new(
                403,
                "Cannot edit a message authored by another user",
                50005,
            ));
        }
        messages::apply_body(&mut m.clone(), &body, false)?;
    }
    let out = state.update_message(channel, id, |m| {
        // Validated above on a copy.
        let _ = messages::apply_body(m, &body, false);
    })?;
    Ok(ok(out))
}

/// `DELETE /channels/{channel_id}/messages/{message_id}`: 204.
pub(crate) async fn delete(
    AxState(app): AxState<App>,
    Extension(caller): Extension<Caller>,
    Path((channel, message)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let state = &app.state;
    let (t, channel, owner) = access(state, caller, &channel)?;
    let id = snowflake(&message)?;
    {
        let world = state.world();
        let m = world
            .messages
            .get(channel, id)
            .ok_or(SimError::UnknownMessage(id))?;
        let own = m.author.id == state.tenants[t].bot.id;
        if !own && matches!(owner, ChannelOwner::Dm(..)) {
            return Err(ApiError::new(
                403,
                "Cannot execute action on a DM channel",
                50003,
            ));
        }
    }
    state.delete_message(channel, id)?;
    state.changed.notify_waiters();
    Ok(StatusCode::NO_CONTENT.into_response())
}
