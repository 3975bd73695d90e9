//! A deterministic, local OpenAI-compatible embeddings server for tests: axum on
//! `127.0.0.1:0`, `POST /v1/embeddings` (`{model, input: [..]}` →
//! `{data: [{index, embedding}]}`). Vectors are a hashed bag of words, L2-normalised,
//! so equal texts get equal vectors and texts sharing words are close. It counts
//! requests, records every `Authorization` header, batch size and input it saw, can answer
//! 429 (or 500) the next `n` times, can require a key (else 401 echoing the key it
//! got, as some services do), and answers its items in reverse order (clients must
//! place vectors by `index`). Tests never touch the network.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Vector length of the deterministic embeddings.
pub const DIM: usize = 32;

/// What the server saw and how it misbehaves.
#[derive(Default)]
struct Inner {
    requests: AtomicUsize,
    auth: Mutex<Vec<String>>,
    batches: Mutex<Vec<usize>>,
    seen: Mutex<Vec<(String, Vec<String>)>>,
    fail_next: AtomicU32,
    fail_status: AtomicU32,
    retry_after_ms: Mutex<Option<u64>>,
    expected_key: Mutex<Option<String>>,
}

/// A running server; stopped when dropped.
pub struct EmbedServer {
    url: String,
    inner: Arc<Inner>,
    cancel: CancellationToken,
}

impl Drop for EmbedServer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// 64-bit FNV-1a.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The deterministic vector of a text: each lower-cased word adds ±1 to a hashed
/// dimension; the result is L2-normalised (an empty text is the first unit vector).
#[must_use]
pub fn vector(text: &str) -> Vec<f32> {
    let mut v = vec![0f32; DIM];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let h = fnv(word.to_lowercase().as_bytes());
        let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
        v[(h % DIM as u64) as usize] += sign;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm == 0.0 {
        v[0] = 1.0;
    } else {
        for x in &mut v {
            *x /= norm;
        }
    }
    v
}

async fn embeddings(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    inner.requests.fetch_add(1, Ordering::SeqCst);
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    inner.auth.lock().unwrap().push(auth.clone());
    let expected = inner.expected_key.lock().unwrap().clone();
    if let Some(key) = expected
        && auth != format!("Bearer {key}")
    {
        let presented = auth.strip_prefix("Bearer ").unwrap_or(&auth);
        let msg = format!("Incorrect API key provided: {presented}.");
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": {"message": msg, "type": "invalid_request_error"}})),
        )
            .into_response();
    }
    if inner
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        let status = StatusCode::from_u16(inner.fail_status.load(Ordering::SeqCst) as u16)
            .unwrap_or(StatusCode::TOO_MANY_REQUESTS);
        let mut response = (
            status,
            axum::Json(json!({"error": {"message": "slow down", "type": "rate_limit"}})),
        )
            .into_response();
        if let Some(ms) = *inner.retry_after_ms.lock().unwrap() {
            response
                .headers_mut()
                .insert("retry-after-ms", ms.to_string().parse().unwrap());
        }
        return response;
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    let Some(input) = req["input"].as_array() else {
        return (StatusCode::BAD_REQUEST, "input must be an array").into_response();
    };
    inner.batches.lock().unwrap().push(input.len());
    inner.seen.lock().unwrap().push((
        auth,
        input
            .iter()
            .map(|t| t.as_str().unwrap_or_default().to_owned())
            .collect(),
    ));
    let mut data: Vec<Value> = input
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"object": "embedding", "index": i,
                   "embedding": vector(t.as_str().unwrap_or_default())})
        })
        .collect();
    data.reverse();
    axum::Json(json!({
        "object": "list",
        "data": data,
        "model": req["model"],
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }))
    .into_response()
}

impl EmbedServer {
    /// Starts a server on an ephemeral loopback port.
    pub async fn start() -> Self {
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route("/v1/embeddings", post(embeddings))
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
        });
        Self { url, inner, cancel }
    }

    /// The base URL (`http://127.0.0.1:PORT`), for `runtime.embeddings.url`.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Requests received so far (failed ones included).
    #[must_use]
    pub fn requests(&self) -> usize {
        self.inner.requests.load(Ordering::SeqCst)
    }

    /// Every `Authorization` header received, in order.
    #[must_use]
    pub fn auth_headers(&self) -> Vec<String> {
        self.inner.auth.lock().unwrap().clone()
    }

    /// The number of texts of every answered request, in order.
    #[must_use]
    pub fn batches(&self) -> Vec<usize> {
        self.inner.batches.lock().unwrap().clone()
    }

    /// `(Authorization, input texts)` of every answered request, in order.
    #[must_use]
    pub fn seen(&self) -> Vec<(String, Vec<String>)> {
        self.inner.seen.lock().unwrap().clone()
    }

    /// Answers the next `n` requests with `status` (429 or 5xx), with
    /// `retry-after-ms` when given.
    pub fn fail_next(&self, n: u32, status: u16, retry_after_ms: Option<u64>) {
        *self.inner.retry_after_ms.lock().unwrap() = retry_after_ms;
        self.inner
            .fail_status
            .store(u32::from(status), Ordering::SeqCst);
        self.inner.fail_next.store(n, Ordering::SeqCst);
    }

    /// Requires `Authorization: Bearer <key>`; other keys get a 401 whose message
    /// echoes the key presented.
    pub fn require_key(&self, key: &str) {
        *self.inner.expected_key.lock().unwrap() = Some(key.to_owned());
    }
}
