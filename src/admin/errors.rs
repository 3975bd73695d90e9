//! Every error the admin API answers is JSON, `{"error": "..."}`, naming the problem.
//!
//! Handlers answer an [`ApiError`] or an [`AdminError`] (mapped onto a status here).
//! [`json_errors`] is the net under everything else that answers plain text or
//! nothing — axum's extractor rejections (415, 400, 422), an unknown route (404), a
//! method a route does not take (405) — so a new route or extractor cannot bring back
//! a text error.

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::backend::AdminError;

/// The largest error body [`json_errors`] reads to wrap it (axum's are one line).
const MAX_TEXT_ERROR: usize = 16 * 1024;

/// An error answered by the HTTP layer itself: a status and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub(super) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            Self::BadRequest(m) => (StatusCode::BAD_REQUEST, serde_json::json!({ "error": m })),
            Self::NotFound(m) => (StatusCode::NOT_FOUND, serde_json::json!({ "error": m })),
            Self::Conflict(m) | Self::Unsupported(m) => {
                (StatusCode::CONFLICT, serde_json::json!({ "error": m }))
            }
            Self::InvalidConfig(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                serde_json::json!({ "error": "invalid configuration; nothing changed", "problems": errors }),
            ),
            Self::Internal(m) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                serde_json::json!({ "error": m }),
            ),
        };
        (status, Json(body)).into_response()
    }
}

/// Client input quoted in an error message, cut to `max` characters so an error
/// never echoes a megabyte back.
pub(super) fn quoted(input: &str, max: usize) -> String {
    match input.char_indices().nth(max) {
        None => format!("{input:?}"),
        Some((cut, _)) => format!("{:?}… ({} bytes)", &input[..cut], input.len()),
    }
}

/// The fallback of the router: no route has this path.
pub(super) async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no such route: {} {}",
            req.method(),
            quoted(req.uri().path(), 200)
        ),
    )
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Middleware: turns any error answer that is not JSON into `{"error": "..."}`,
/// keeping its status and headers (`Allow`, `WWW-Authenticate`). The message is the
/// text the error carried, or one naming the method and path.
pub(super) async fn json_errors(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = quoted(req.uri().path(), 200);
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_TEXT_ERROR)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if status == StatusCode::METHOD_NOT_ALLOWED {
        let allowed = parts
            .headers
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok())
            .map(|a| format!(" (allowed: {a})"))
            .unwrap_or_default();
        format!("method {method} is not allowed on {path}{allowed}")
    } else if text.is_empty() {
        format!(
            "{} ({method} {path})",
            status.canonical_reason().unwrap_or("error")
        )
    } else {
        text
    };
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    (parts, Json(serde_json::json!({ "error": message }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_input_is_cut() {
        assert_eq!(quoted("abc", 5), "\"abc\"");
        let long = "x".repeat(1_000_000);
        let q = quoted(&long, 10);
        assert!(q.starts_with("\"xxxxxxxxxx\"…"), "{q}");
        assert!(q.ends_with("(1000000 bytes)"), "{q}");
        assert!(q.len() < 40);
        // A cut never splits a character.
        assert_eq!(quoted("éééé", 2), "\"éé\"… (8 bytes)");
    }
}
