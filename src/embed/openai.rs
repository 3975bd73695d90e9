//! [`OpenAiEmbedder`]: the `OpenAI` embeddings API (`POST {url}/v1/embeddings`) and the
//! many services that copy it.
//!
//! - **Batching**: inputs longer than `batch` are split into requests of at most
//!   `batch` texts, sent one after the other; vectors come back in input order
//!   (the answer's `index`, not its order, places each vector).
//! - **Retries**: 429, 5xx, transport failures and timeouts are retried up to
//!   `max_retries` times, waiting what the service asks (`retry-after-ms`, else
//!   `Retry-After` in seconds; at most 60 s), else an exponential backoff from 250 ms
//!   to 10 s with a little jitter. Other statuses (401, 400…) fail at once.
//! - **Rate limit**: every request (retries too) first takes a token from the
//!   tenant's bucket ([`TenantRateLimiter`]): a busy tenant waits, the others do
//!   not.
//! - **The key**: sent only as `Authorization: Bearer <key>` (a header marked
//!   sensitive); never logged; masked in error messages should the service echo it.

use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::embedder::{EmbedError, EmbedFuture, Embedder};
use super::rate::TenantRateLimiter;
use crate::config::EmbeddingsConfig;
use crate::model::TenantId;

/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// First and largest backoff without `Retry-After`.
const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// How much of an error body an error message keeps.
const BODY_EXCERPT: usize = 300;

/// An OpenAI-compatible embeddings client with batching, retries and a per-tenant
/// rate limit. Share one (`Arc`) across workers: the buckets are in it.
pub struct OpenAiEmbedder {
    client: crate::http::Client,
    timeout: Duration,
    endpoint: url::Url,
    model: String,
    dimension: Option<usize>,
    secret: String,
    batch: usize,
    max_retries: u32,
    limiter: TenantRateLimiter,
}

impl std::fmt::Debug for OpenAiEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiEmbedder")
            .field("endpoint", &self.endpoint.as_str())
            .field("model", &self.model)
            .field("dimension", &self.dimension)
            .field("batch", &self.batch)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Response {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    index: usize,
    embedding: Vec<f32>,
}

/// What one attempt gave.
enum Attempt {
    Done(Vec<Vec<f32>>),
    /// Worth another try, after this long (`None`: the backoff decides).
    Retry {
        after: Option<Duration>,
        error: EmbedError,
    },
    Fail(EmbedError),
}

impl OpenAiEmbedder {
    /// An embedder for `runtime.embeddings`.
    ///
    /// # Errors
    /// [`EmbedError::Url`] for a URL that does not parse, [`EmbedError::Config`]
    /// for one that is not `http(s)` or a zero batch;
    /// [`EmbedError::Client`] if the HTTP client cannot be built.
    pub fn new(config: &EmbeddingsConfig) -> Result<Self, EmbedError> {
        let base = url::Url::parse(config.url.trim_end_matches('/')).map_err(|source| {
            EmbedError::Url {
                url: config.url.clone(),
                source,
            }
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(EmbedError::Config(format!(
                "url: a {}: URL, expected http or https",
                base.scheme()
            )));
        }
        let endpoint = format!("{}/v1/embeddings", base.as_str().trim_end_matches('/'));
        let endpoint = url::Url::parse(&endpoint).map_err(|source| EmbedError::Url {
            url: endpoint.clone(),
            source,
        })?;
        if config.batch == 0 {
            return Err(EmbedError::Config("batch must be at least 1".into()));
        }
        let client = crate::http::client().map_err(|e| EmbedError::Client { source: e.into() })?;
        Ok(Self {
            client,
            timeout: Duration::from_millis(config.timeout_ms),
            endpoint,
            model: config.model.clone(),
            dimension: config.dimension,
            secret: config.secret.clone(),
            batch: config.batch,
            max_retries: config.max_retries,
            limiter: TenantRateLimiter::new(
                config.rate_per_sec,
                config.burst.unwrap_or(config.rate_per_sec),
            ),
        })
    }

    /// The name of the tenants' app secret holding their API key
    /// (`runtime.embeddings.secret`): read it with `Ctx::secret`.
    #[must_use]
    pub fn secret_name(&self) -> &str {
        &self.secret
    }

    /// The endpoint requests go to (`{url}/v1/embeddings`).
    #[must_use]
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    async fn embed_all(
        &self,
        tenant: &TenantId,
        key: &SecretString,
        texts: &[String],
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", key.expose_secret()))
            .map_err(|_| EmbedError::InvalidKey)?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            hyper::header::USER_AGENT,
            HeaderValue::from_static(crate::http::USER_AGENT),
        );
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.batch) {
            out.extend(self.embed_batch(tenant, key, &headers, chunk).await?);
        }
        metrics::counter!("switchboard_embed_texts_total", "tenant" => tenant.to_string())
            .increment(texts.len() as u64);
        Ok(out)
    }

    async fn embed_batch(
        &self,
        tenant: &TenantId,
        key: &SecretString,
        headers: &HeaderMap,
        texts: &[String],
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let body = Bytes::from(
            serde_json::to_vec(&serde_json::json!({"model": self.model, "input": texts})).map_err(
                |source| EmbedError::Json {
                    what: "request body",
                    source,
                },
            )?,
        );
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            self.limiter.acquire(tenant).await;
            match self
                .attempt(tenant, key, headers, &body, texts.len(), attempt)
                .await
            {
                Attempt::Done(v) => return Ok(v),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry { after, error } => {
                    if attempt > self.max_retries {
                        return Err(error);
                    }
                    let wait = after.unwrap_or_else(|| backoff(attempt));
                    tracing::debug!(
                        tenant = %tenant,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        error = %error,
                        "embeddings request will be retried"
                    );
                    metrics::counter!("switchboard_embed_retries_total", "tenant" => tenant.to_string())
                        .increment(1);
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn attempt(
        &self,
        tenant: &TenantId,
        key: &SecretString,
        headers: &HeaderMap,
        body: &Bytes,
        expected: usize,
        attempts: u32,
    ) -> Attempt {
        let count = |status: &str| {
            metrics::counter!(
                "switchboard_embed_requests_total",
                "tenant" => tenant.to_string(),
                "status" => status.to_owned()
            )
            .increment(1);
        };
        let mut request = hyper::Request::post(self.endpoint.as_str());
        if let Some(h) = request.headers_mut() {
            h.extend(headers.clone());
        }
        let request = match request.body(Full::new(body.clone())) {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Fail(EmbedError::Invalid(format!(
                    "cannot build the request: {e}"
                )));
            }
        };
        // One deadline for sending, the answer's head and its body.
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(crate::http::BoxError::from)?;
            let (parts, body) = response.into_parts();
            let bytes = body
                .collect()
                .await
                .map_err(crate::http::BoxError::from)?
                .to_bytes();
            Ok::<_, crate::http::BoxError>((parts, bytes))
        };
        let (parts, bytes) = match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(r)) => r,
            Ok(Err(source)) => {
                count("error");
                // Embedding is idempotent: a retry after a failure mid-answer may
                // pay twice for a batch but cannot corrupt anything.
                return Attempt::Retry {
                    after: None,
                    error: EmbedError::Request { attempts, source },
                };
            }
            Err(_) => {
                count("error");
                return Attempt::Retry {
                    after: None,
                    error: EmbedError::Timeout {
                        attempts,
                        timeout: self.timeout,
                    },
                };
            }
        };
        let status = parts.status;
        count(status_class(status.as_u16()));
        if status.is_success() {
            return match self.parse(&bytes, expected) {
                Ok(v) => Attempt::Done(v),
                Err(e) => Attempt::Fail(e),
            };
        }
        let error = EmbedError::Status {
            status: status.as_u16(),
            attempts,
            message: excerpt(&String::from_utf8_lossy(&bytes), key),
        };
        if status.as_u16() == 429 || status.is_server_error() {
            Attempt::Retry {
                after: retry_after(&parts.headers),
                error,
            }
        } else {
            Attempt::Fail(error)
        }
    }

    /// The vectors of a 2xx answer, in input order.
    fn parse(&self, bytes: &[u8], expected: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
        let response: Response =
            serde_json::from_slice(bytes).map_err(|source| EmbedError::Json {
                what: "answer",
                source,
            })?;
        if response.data.len() != expected {
            return Err(EmbedError::Invalid(format!(
                "{} vectors for {expected} texts",
                response.data.len()
            )));
        }
        let mut out: Vec<Option<Vec<f32>>> = vec![None; expected];
        for item in response.data {
            let slot = out
                .get_mut(item.index)
                .ok_or_else(|| EmbedError::Invalid(format!("index {} out of range", item.index)))?;
            if slot.is_some() {
                return Err(EmbedError::Invalid(format!("index {} twice", item.index)));
            }
            if let Some(d) = self.dimension
                && item.embedding.len() != d
            {
                return Err(EmbedError::Invalid(format!(
                    "a vector of {} dimensions, expected {d}",
                    item.embedding.len()
                )));
            }
            *slot = Some(item.embedding);
        }
        // `expected` distinct in-range indices fill every slot.
        Ok(out.into_iter().flatten().collect())
    }
}

impl Embedder for OpenAiEmbedder {
    fn model(&self) -> &str {
        &self.model
    }

    fn dimension(&self) -> Option<usize> {
        self.dimension
    }

    fn embed<'a>(
        &'a self,
        tenant: &'a TenantId,
        key: &'a SecretString,
        texts: &'a [String],
    ) -> EmbedFuture<'a> {
        Box::pin(async move {
            if texts.is_empty() {
                return Ok(Vec::new());
            }
            self.embed_all(tenant, key, texts).await
        })
    }
}

/// The `status` label: `2xx`, `4xx`, `429`, `5xx`.
fn status_class(status: u16) -> &'static str {
    match status {
        429 => "429",
        200..=299 => "2xx",
        500..=599 => "5xx",
        _ => "4xx",
    }
}

/// What the service asks to wait: `retry-after-ms`, else `Retry-After` seconds
/// (fractions allowed; an HTTP date is left to the backoff), at most 60 s.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    let wait = number("retry-after-ms")
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .or_else(|| number(RETRY_AFTER.as_str()).map(Duration::from_secs_f64))?;
    Some(wait.min(MAX_RETRY_AFTER))
}

/// The backoff before retry `attempt` (1-based) without `Retry-After`: 250 ms
/// doubling to 10 s, plus up to 10 % jitter.
fn backoff(attempt: u32) -> Duration {
    let base = BACKOFF_START
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(BACKOFF_MAX);
    let jitter = base.mul_f64(rand::random::<f64>() * 0.1);
    base + jitter
}

/// The start of an error body, on one line, with the key masked wherever it (or its
/// `Bearer` form) appears.
fn excerpt(body: &str, key: &SecretString) -> String {
    let key = key.expose_secret();
    let masked = if key.is_empty() {
        body.to_owned()
    } else {
        body.replace(key, "[REDACTED]")
    };
    let one_line: String = masked
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(BODY_EXCERPT)
        .collect();
    one_line.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_prefers_milliseconds_and_is_capped() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
        h.insert("retry-after-ms", HeaderValue::from_static("9999999"));
        assert_eq!(retry_after(&h), Some(MAX_RETRY_AFTER));
        let mut date = HeaderMap::new();
        date.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&date), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert!(backoff(1) >= BACKOFF_START && backoff(1) < BACKOFF_START * 2);
        assert!(backoff(2) >= BACKOFF_START * 2);
        assert!(backoff(30) >= BACKOFF_MAX && backoff(30) <= BACKOFF_MAX.mul_f64(1.1));
    }

    #[test]
    fn excerpts_mask_the_key() {
        let key = SecretString::from("sk-canary-123");
        let e = excerpt(
            "Incorrect API key provided: sk-canary-123.\nBearer sk-canary-123",
            &key,
        );
        assert!(!e.contains("sk-canary-123"), "{e}");
        assert!(e.contains("[REDACTED]"));
        assert!(!e.contains('\n'));
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(429), "429");
        assert_eq!(status_class(401), "4xx");
        assert_eq!(status_class(503), "5xx");
    }
}
