//! The control API under `/__sim/` (for tests, the demo and users): inject messages,
//! interactions and member events, edit and delete messages, inflict gateway faults,
//! read what bots posted and the counters. Not rate limited, not authenticated.
//!
//! | Route | Body / answer |
//! |---|---|
//! | `POST /__sim/messages` | [`InjectMessage`] (+ `"attachments"`: [`SimAttachment`]s, bytes in base64 `"data"`) → `{"id"}` |
//! | `PATCH /__sim/channels/{c}/messages/{m}` | `{"content"}` → 204 (`MESSAGE_UPDATE`) |
//! | `DELETE /__sim/channels/{c}/messages/{m}` | 204 (`MESSAGE_DELETE`) |
//! | `GET /__sim/channels/{c}/messages[?all=true]` | `[`[`PostedMessage`]`]`, oldest first; bots' only unless `all` |
//! | `POST /__sim/interactions` | [`InjectInteraction`] → `{"id", "token"}`; 400 for a command not registered |
//! | `GET /__sim/interactions` | `[`[`InteractionLog`](super::InteractionLog)`]`, oldest first |
//! | `GET /__sim/interactions/{id}` | [`InteractionLog`](super::InteractionLog) |
//! | `POST /__sim/members` | [`MemberEvent`] → 204 |
//! | `POST /__sim/faults` | [`FaultRequest`] → `{"affected": n}` |
//! | `GET /__sim/stats` | [`SimStats`](super::SimStats) |
//!
//! Errors answer 400 or 404 with `{"message": "..."}`.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::cdn::SimAttachment;
use super::error::SimError;
use super::inject::{FaultRequest, InjectInteraction, InjectMessage, MemberEvent, MessageEdit};
use super::server::App;

/// A control-API error.
struct ControlError(StatusCode, String);

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({"message": self.1}))).into_response()
    }
}

impl From<SimError> for ControlError {
    fn from(e: SimError) -> Self {
        let status = match e {
            SimError::Invalid(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::NOT_FOUND,
        };
        Self(status, e.to_string())
    }
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ControlError> {
    serde_json::from_slice(body).map_err(|e| ControlError(StatusCode::BAD_REQUEST, e.to_string()))
}

fn id(s: &str) -> Result<u64, ControlError> {
    s.parse()
        .map_err(|_| ControlError(StatusCode::BAD_REQUEST, format!("{s:?} is not a snowflake")))
}

/// The control router.
pub(crate) fn router() -> Router<App> {
    Router::new()
        .route("/__sim/messages", post(inject_message))
        .route(
            "/__sim/channels/{channel_id}/messages/{message_id}",
            patch(edit_message).delete(delete_message),
        )
        .route(
            "/__sim/channels/{channel_id}/messages",
            get(channel_messages),
        )
        .route(
            "/__sim/interactions",
            post(inject_interaction).get(interaction_logs),
        )
        .route("/__sim/interactions/{id}", get(interaction_log))
        .route("/__sim/members", post(member_event))
        .route("/__sim/faults", post(fault))
        .route("/__sim/stats", get(stats))
}

async fn inject_message(AxState(app): AxState<App>, body: Bytes) -> Result<Response, ControlError> {
    /// The optional files next to the message's fields.
    #[derive(serde::Deserialize)]
    struct Files {
        #[serde(default)]
        attachments: Vec<SimAttachment>,
    }
    let req: InjectMessage = parse(&body)?;
    let files: Files = parse(&body)?;
    let id = app
        .state
        .inject_message_with_attachments(req, files.attachments)?;
    Ok(axum::Json(json!({"id": id.to_string()})).into_response())
}

async fn edit_message(
    AxState(app): AxState<App>,
    Path((channel, message)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ControlError> {
    #[derive(serde::Deserialize)]
    struct Edit {
        content: String,
    }
    let e: Edit = parse(&body)?;
    app.state.edit_message(&MessageEdit {
        channel_id: id(&channel)?,
        message_id: id(&message)?,
        content: e.content,
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_message(
    AxState(app): AxState<App>,
    Path((channel, message)): Path<(String, String)>,
) -> Result<Response, ControlError> {
    app.state.delete_message(id(&channel)?, id(&message)?)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn channel_messages(
    AxState(app): AxState<App>,
    Path(channel): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ControlError> {
    let all = q.get("all").is_some_and(|v| v == "true");
    let list = app.state.posted_messages(id(&channel)?, all);
    Ok(axum::Json(list).into_response())
}

async fn inject_interaction(
    AxState(app): AxState<App>,
    body: Bytes,
) -> Result<Response, ControlError> {
    let req: InjectInteraction = parse(&body)?;
    let out = app.state.inject_interaction(&req)?;
    Ok(axum::Json(out).into_response())
}

async fn interaction_logs(AxState(app): AxState<App>) -> Response {
    axum::Json(app.state.interaction_logs()).into_response()
}

async fn interaction_log(
    AxState(app): AxState<App>,
    Path(interaction): Path<String>,
) -> Result<Response, ControlError> {
    let id = id(&interaction)?;
    let log = app
        .state
        .interaction_log(id)
        .ok_or_else(|| ControlError(StatusCode::NOT_FOUND, format!("unknown interaction {id}")))?;
    Ok(axum::Json(log).into_response())
}

async fn member_event(AxState(app): AxState<App>, body: Bytes) -> Result<Response, ControlError> {
    let ev: MemberEvent = parse(&body)?;
    app.state.member_event(ev)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn fault(AxState(app): AxState<App>, body: Bytes) -> Result<Response, ControlError> {
    let req: FaultRequest = parse(&body)?;
    let n = app.state.fault(&req.tenant, req.fault, req.shard)?;
    Ok(axum::Json(json!({"affected": n})).into_response())
}

async fn stats(AxState(app): AxState<App>) -> Response {
    axum::Json(app.state.stats()).into_response()
}
