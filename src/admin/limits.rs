//! What every admin request is held to: a body size cap and one deadline.
//!
//! The middleware reads the whole body (up to the cap) before any handler runs, so a
//! slow or stalled client holds a connection, never a handler: past the deadline it
//! is answered 408. A declared `Content-Length` over the cap is answered 413 without
//! reading a byte; a body that grows past it while streaming, as soon as it does; the
//! body of a `GET` or `HEAD` (the only requests served without a token) is not read. The
//! handler then gets what remains of the deadline; if it has not answered by then
//! the client gets 503 (a change it started, such as a reload, may still complete:
//! the root supervisor applies it whether or not anyone waits).

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::extract::State;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::time::Instant;

use super::errors::ApiError;

/// The cap and the deadline.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) body_limit: usize,
    pub(super) timeout: Duration,
}

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("the request body is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("reading the request body failed: {0}")]
    Read(axum::Error),
}

impl Limits {
    fn too_large(self) -> Response {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::TooLarge {
                limit: self.body_limit,
            }
            .to_string(),
        )
        .into_response()
    }

    async fn read(self, body: Body) -> Result<Bytes, BodyError> {
        let mut stream = body.into_data_stream();
        let mut buf = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(BodyError::Read)?;
            if buf.len() + chunk.len() > self.body_limit {
                return Err(BodyError::TooLarge {
                    limit: self.body_limit,
                });
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(buf))
    }
}

/// Middleware: enforces [`Limits`] on one request.
pub(super) async fn enforce(
    State(limits): State<Arc<Limits>>,
    req: Request,
    next: Next,
) -> Response {
    let limits = *limits;
    let deadline = Instant::now() + limits.timeout;
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.body_limit as u64) {
        return limits.too_large();
    }
    // No read takes a body: an unauthenticated client cannot make the server buffer one.
    if parts.method == Method::GET || parts.method == Method::HEAD {
        let req = Request::from_parts(parts, Body::empty());
        return answer(limits, deadline, next, req).await;
    }
    let bytes = match tokio::time::timeout_at(deadline, limits.read(body)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(BodyError::TooLarge { .. })) => return limits.too_large(),
        Ok(Err(e)) => return ApiError::bad_request(e.to_string()).into_response(),
        Err(_) => {
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} ms",
                    limits.timeout.as_millis()
                ),
            )
            .into_response();
        }
    };
    let req = Request::from_parts(parts, Body::from(bytes));
    answer(limits, deadline, next, req).await
}

/// Runs the handler until `deadline`.
async fn answer(limits: Limits, deadline: Instant, next: Next, req: Request) -> Response {
    match tokio::time::timeout_at(deadline, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "no answer within {} ms; a change this request started may still complete (see /v1/status)",
                limits.timeout.as_millis()
            ),
        )
        .into_response(),
    }
}
