//! The remaining REST routes: interaction callback and webhook followups (token in
//! the path), member roles, DM channels, the current user and `GET /gateway[/bot]`
//! (application commands: `rest_commands.rs`).

use std::collections::HashMap;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::{ApiError, SimError};
use super::interactions::Target;
use super::payloads;
use super::rest::{Caller, json_body, ok, snowflake};
use super::server::App;

fn tenant(caller: Caller) -> Result<usize, ApiError> {
    caller.0.ok_or_else(ApiError::unauthorized)
}

/// `POST /interactions/{id}/{token}/callback`: 204, or 200 with `with_response=true`.
pub(crate) async fn interaction_callback(
    AxState(app): AxState<App>,
    Path((id, token)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = id
        .parse::<u64>()
        .map_err(|_| ApiError::invalid_webhook_token())?;
    let body = json_body(&body)?;
    let out = app.state.interaction_callback(id, &token, &body)?;
    if q.get("with_response").is_some_and(|v| v == "true") {
        Ok(ok(out))
    } else {
        Ok(StatusCode::NO_CONTENT.into_response())
    }
}

fn app_id(s: &str) -> Result<u64, ApiError> {
    s.parse::<u64>()
        .map_err(|_| ApiError::invalid_webhook_token())
}

/// `POST /webhooks/{application_id}/{token}`: a followup message.
pub(crate) async fn followup(
    AxState(app): AxState<App>,
    Path((application, token)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = json_body(&body)?;
    let out = app
        .state
        .webhook_followup(app_id(&application)?, &token, &body)?;
    Ok(ok(out))
}

fn target(s: &str) -> Result<Target, ApiError> {
    Target::parse(s).ok_or_else(|| ApiError::new(404, "Unknown Message", 10008))
}

/// `GET /webhooks/{application_id}/{token}/messages/{message_id|@original}`.
pub(crate) async fn webhook_get(
    AxState(app): AxState<App>,
    Path((application, token, message)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let out = app
        .state
        .webhook_get(app_id(&application)?, &token, target(&message)?)?;
    Ok(ok(out))
}

/// `PATCH /webhooks/{application_id}/{token}/messages/{message_id|@original}`.
pub(crate) async fn webhook_edit(
    AxState(app): AxState<App>,
    Path((application, token, message)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = json_body(&body)?;
    let out = app
        .state
        .webhook_edit(app_id(&application)?, &token, target(&message)?, &body)?;
    Ok(ok(out))
}

/// `DELETE /webhooks/{application_id}/{token}/messages/{message_id|@original}`.
pub(crate) async fn webhook_delete(
    AxState(app): AxState<App>,
    Path((application, token, message)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    app.state
        .webhook_delete(app_id(&application)?, &token, target(&message)?)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn set_role(
    app: &App,
    caller: Caller,
    (guild, user, role): (String, String, String),
    add: bool,
) -> Result<Response, ApiError> {
    let t = tenant(caller)?;
    let (guild, user, role) = (snowflake(&guild)?, snowflake(&user)?, snowflake(&role)?);
    if !app.state.guilds.contains_key(&guild) {
        return Err(SimError::UnknownGuild(guild).into());
    }
    if !app.state.tenants[t].in_guild(guild) {
        return Err(ApiError::missing_access());
    }
    app.state.set_member_role(guild, user, role, add)?;
    app.state.changed.notify_waiters();
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /guilds/{guild_id}/members/{user_id}/roles/{role_id}`: 204.
pub(crate) async fn add_role(
    AxState(app): AxState<App>,
    Extension(caller): Extension<Caller>,
    Path(p): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    set_role(&app, caller, p, true)
}

/// `DELETE /guilds/{guild_id}/members/{user_id}/roles/{role_id}`: 204.
pub(crate) async fn remove_role(
    AxState(app): AxState<App>,
    Extension(caller): Extension<Caller>,
    Path(p): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    set_role(&app, caller, p, false)
}

/// `POST /users/@me/channels {recipient_id}`: the DM channel with a user.
pub(crate) async fn create_dm(
    AxState(app): AxState<App>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let t = tenant(caller)?;
    let body = json_body(&body)?;
    let recipient = body
        .get("recipient_id")
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .ok_or_else(|| {
            ApiError::form(
                "recipient_id",
                "BASE_TYPE_REQUIRED",
                "This field is required",
            )
        })?;
    let user = app.state.user(recipient);
    let id = app.state.dm_channel(t, user.clone());
    Ok(ok(payloads::dm_channel(id, &user)))
}

/// `GET /users/@me`.
pub(crate) async fn current_user(
    AxState(app): AxState<App>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let bot = &app.state.tenants[tenant(caller)?].bot;
    Ok(ok(payloads::current_user(bot.id, &bot.username)))
}

/// `GET /gateway/bot`.
pub(crate) async fn gateway_bot(
    AxState(app): AxState<App>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let t = tenant(caller)?;
    let state = &app.state;
    let used = state.tenants[t].counters.snapshot().identifies;
    Ok(ok(json!({
        "url": state.gateway_url(),
        "shards": state.config.recommended_shards,
        "session_start_limit": {
            "total": 1000,
            "remaining": 1000u64.saturating_sub(used),
            "reset_after": 14_400_000,
            "max_concurrency": state.config.max_concurrency,
        },
    })))
}

/// `GET /gateway` (no authentication needed).
pub(crate) async fn gateway(AxState(app): AxState<App>) -> Response {
    ok(json!({"url": app.state.gateway_url()}))
}
