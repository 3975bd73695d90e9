//! What each admin route does. Handlers check the shape of what the client sent
//! (content type, encoding, names, dead-letter ids, channel ids) before touching the runtime, so a
//! malformed request is a 4xx naming the problem and 5xx is left to real faults.
//! Authentication and limits are middleware (`auth.rs`, `limits.rs`): no handler
//! checks them.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::backend::{AdminBackend, AdminError};
use super::errors::{ApiError, quoted};
use super::metrics::{export_status, prometheus};

/// What every handler reaches.
#[derive(Clone)]
pub(super) struct AppState {
    pub(super) backend: Arc<dyn AdminBackend>,
}

pub(super) async fn healthz() -> &'static str {
    "ok\n"
}

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

pub(super) async fn readyz(State(s): State<AppState>) -> Response {
    let r = s.backend.readiness().await;
    let status = s.backend.status().await;
    let tenants: Vec<_> = status
        .tenants
        .iter()
        .map(|t| serde_json::json!({ "id": t.id, "state": t.state, "reason": t.reason }))
        .collect();
    let body = serde_json::json!({
        "ready": r.ready,
        "reasons": r.reasons,
        "tenants": tenants,
        "memory": { "rss_bytes": rss_bytes() },
    });
    let code = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

pub(super) async fn metrics_text(State(s): State<AppState>) -> Response {
    export_status(&s.backend.status().await);
    match prometheus() {
        Some(h) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response(),
        None => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "another metrics recorder is installed",
        )
        .into_response(),
    }
}

pub(super) async fn status(State(s): State<AppState>) -> Response {
    Json(s.backend.status().await).into_response()
}

pub(super) async fn tenants(State(s): State<AppState>) -> Response {
    Json(s.backend.tenants().await).into_response()
}

/// Media types a tenant entry may be sent as (no `Content-Type` is accepted too).
const TENANT_ENTRY_TYPES: &[&str] = &[
    "application/yaml",
    "application/x-yaml",
    "text/yaml",
    "text/x-yaml",
    "application/json",
    "text/plain",
];

/// The body of a tenant route as text: an accepted content type, UTF-8, not empty.
fn tenant_entry(headers: &HeaderMap, body: &Bytes) -> Result<String, ApiError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let media = ct
            .to_str()
            .ok()
            .and_then(|v| v.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase());
        if !media
            .as_deref()
            .is_some_and(|m| TENANT_ENTRY_TYPES.contains(&m))
        {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "Content-Type {} is not a tenant entry: send YAML or JSON ({})",
                    quoted(media.as_deref().unwrap_or("(not text)"), 100),
                    TENANT_ENTRY_TYPES.join(", ")
                ),
            ));
        }
    }
    let text = std::str::from_utf8(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not UTF-8 text: {e}")))?;
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(
            "empty body: expected a YAML or JSON tenant entry",
        ));
    }
    Ok(text.to_owned())
}

pub(super) async fn create_tenant(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match tenant_entry(&headers, &body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match s.backend.put_tenant(body, true).await {
        Ok(report) => (StatusCode::CREATED, Json(report)).into_response(),
        Err(e) => e.into_response(),
    }
}

pub(super) async fn replace_tenant(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((provider, tenant)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let body = match tenant_entry(&headers, &body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    // The body must describe the tenant the path names.
    let value: serde_yaml_ng::Value = match serde_yaml_ng::from_str(&body) {
        Ok(v) => v,
        Err(e) => {
            return ApiError::bad_request(format!("not a YAML or JSON tenant entry: {e}"))
                .into_response();
        }
    };
    let field = |k: &str| value.get(k).and_then(serde_yaml_ng::Value::as_str);
    if (field("provider"), field("tenant")) != (Some(provider.as_str()), Some(tenant.as_str())) {
        return ApiError::bad_request(format!(
            "the body must be a tenant entry with provider: {} and tenant: {}",
            quoted(&provider, 64),
            quoted(&tenant, 64)
        ))
        .into_response();
    }
    match s.backend.put_tenant(body, false).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => e.into_response(),
    }
}

pub(super) async fn delete_tenant(
    State(s): State<AppState>,
    Path((provider, tenant)): Path<(String, String)>,
) -> Response {
    match s.backend.delete_tenant(provider, tenant).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => e.into_response(),
    }
}

pub(super) async fn reload(State(s): State<AppState>) -> Response {
    match s.backend.reload().await {
        Ok(report) => Json(report).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub(super) struct Limit {
    limit: Option<usize>,
}

pub(super) async fn dlq(State(s): State<AppState>, Query(q): Query<Limit>) -> Response {
    match s
        .backend
        .dead_letters(q.limit.unwrap_or(100).min(10_000))
        .await
    {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub(super) struct ReplayBody {
    id: String,
}

/// Whether `id` can name a dead letter: `<ms>-<seq>` (a Redis stream id) or `<seq>`
/// (the in-process bus), each part decimal digits that fit a `u64`.
fn is_dead_letter_id(id: &str) -> bool {
    let number = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u64>().is_ok()
    };
    match id.split_once('-') {
        Some((ms, seq)) => number(ms) && number(seq),
        None => number(id),
    }
}

/// A JSON body, or the rejection's status and text followed by what was expected
/// (`expected`: the body's shape).
fn json_body<T>(body: Result<Json<T>, JsonRejection>, expected: &str) -> Result<T, ApiError> {
    body.map(|Json(b)| b).map_err(|rejection| {
        ApiError::new(
            rejection.status(),
            format!("{}; expected a JSON body {expected}", rejection.body_text()),
        )
    })
}

pub(super) async fn replay(
    State(s): State<AppState>,
    body: Result<Json<ReplayBody>, JsonRejection>,
) -> Response {
    let body = match json_body(body, r#"{"id": "<dead-letter id>"}"#) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    if !is_dead_letter_id(&body.id) {
        return ApiError::bad_request(format!(
            "{} is not a dead-letter id: expected <ms>-<seq> (Redis bus) or <seq> (in-process bus), digits only, as GET /v1/dlq lists them",
            quoted(&body.id, 64)
        ))
        .into_response();
    }
    match s.backend.replay(body.id.clone()).await {
        Ok(true) => Json(serde_json::json!({ "replayed": body.id })).into_response(),
        Ok(false) => {
            AdminError::NotFound(format!("no replayable dead letter {}", body.id)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

pub(super) async fn leases(State(s): State<AppState>) -> Response {
    match s.backend.leases().await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

pub(super) async fn cluster(State(s): State<AppState>) -> Response {
    match s.backend.cluster().await {
        Some(c) => Json(c).into_response(),
        None => AdminError::NotFound(
            "this node is not in a cluster (the in-process bus runs one node)".to_owned(),
        )
        .into_response(),
    }
}

/// The body of `POST …/backfills`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BackfillBody {
    channel: String,
    #[serde(default)]
    limit: Option<u64>,
}

/// A channel id from the client: a snowflake, else a 400 naming it.
fn channel_id(channel: &str) -> Result<(), ApiError> {
    if crate::config::is_snowflake(channel) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "channel {} is not a channel id: expected a snowflake (1-20 digits)",
            quoted(channel, 64)
        )))
    }
}

pub(super) async fn start_backfill(
    State(s): State<AppState>,
    Path((provider, tenant)): Path<(String, String)>,
    body: Result<Json<BackfillBody>, JsonRejection>,
) -> Response {
    let body = match json_body(
        body,
        r#"{"channel": "<id>", "limit": <n>} (limit optional)"#,
    ) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = channel_id(&body.channel) {
        return e.into_response();
    }
    if body.limit == Some(0) {
        return ApiError::bad_request(
            "limit 0 would fetch nothing: leave it out for the whole history",
        )
        .into_response();
    }
    let request = crate::store::indexer::BackfillRequest {
        channel: body.channel,
        limit: body.limit,
    };
    match s.backend.start_backfill(provider, tenant, request).await {
        Ok(view) => (StatusCode::ACCEPTED, Json(view)).into_response(),
        Err(e) => e.into_response(),
    }
}

pub(super) async fn backfill(
    State(s): State<AppState>,
    Path((provider, tenant, channel)): Path<(String, String, String)>,
) -> Response {
    if let Err(e) = channel_id(&channel) {
        return e.into_response();
    }
    match s.backend.backfill(provider, tenant, channel).await {
        Ok(view) => Json(view).into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letter_ids_are_stream_ids_or_sequence_numbers() {
        for ok in ["0", "17", "1700000000000-0", "1-18446744073709551615"] {
            assert!(is_dead_letter_id(ok), "{ok}");
        }
        for bad in [
            "",
            "-",
            "1-",
            "-1",
            "1-2-3",
            "no-such-entry",
            "1700000000000-*",
            "+",
            "18446744073709551616",
            " 1",
            "١٢",
        ] {
            assert!(!is_dead_letter_id(bad), "{bad}");
        }
        assert!(!is_dead_letter_id(&"9".repeat(1_000_000)));
    }

    #[test]
    fn tenant_entries_need_a_text_type_utf8_and_content() {
        let with = |ct: Option<&str>| {
            let mut h = HeaderMap::new();
            if let Some(ct) = ct {
                h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
            }
            h
        };
        let yaml = Bytes::from_static(b"provider: discord\ntenant: x\n");
        for ok in [
            None,
            Some("application/yaml"),
            Some("application/json; charset=utf-8"),
            Some("Text/YAML"),
        ] {
            assert!(tenant_entry(&with(ok), &yaml).is_ok(), "{ok:?}");
        }
        let e = tenant_entry(&with(Some("image/png")), &yaml).unwrap_err();
        assert!(e.to_string().starts_with("415"), "{e}");
        assert!(
            e.to_string()
                .contains("\"image/png\" is not a tenant entry"),
            "{e}"
        );
        let e = tenant_entry(&with(None), &Bytes::from_static(b"\xff\xfe")).unwrap_err();
        assert!(e.to_string().starts_with("400"), "{e}");
        let e = tenant_entry(&with(None), &Bytes::from_static(b"  \n")).unwrap_err();
        assert!(e.to_string().contains("empty body"), "{e}");
    }
}
