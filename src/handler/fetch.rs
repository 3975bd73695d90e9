//! The `http.fetch` effect: [`Ctx::fetch`] downloads a URL for a handler (an
//! attachment's bytes, for the attachment indexer) with a size limit and a timeout.
//!
//! Rules, all enforced by [`HttpFetcher::fetch`]:
//! - only `http` and `https` URLs (anything else is refused before a connection);
//! - one deadline for the whole exchange (connect, headers, body): `timeout`;
//! - at most `max_bytes` of body: a declared `Content-Length` over the limit is refused
//!   before the body is read, and a body without one is streamed and abandoned as
//!   soon as it passes the limit (never buffered past `max_bytes` + one chunk);
//! - a non-2xx answer is an error carrying the status; redirects are followed (5 at
//!   most, to `http`/`https` only);
//! - errors name the URL without credentials and query string (signed CDN URLs
//!   carry their signature there).
//!
//! Every worker shares one client (one connection pool): [`HttpFetcher::shared`],
//! whose limits the runtime sets from `runtime.fetch` at build
//! ([`HttpFetcher::configure_shared`]). The client is `crate::http`'s (hyper on
//! rustls with ring and the system's roots). Metrics: `switchboard_fetch_total{result}`,
//! `switchboard_fetch_bytes_total`, `switchboard_fetch_duration_seconds`.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;

use super::ctx::{Ctx, CtxError};
use crate::http::{BoxError, Client};

/// Redirects followed at most.
const MAX_REDIRECTS: usize = 5;

/// Default [`FetchLimits::max_bytes`]: 25 MiB, Discord's attachment size for most
/// servers.
pub const DEFAULT_FETCH_MAX_BYTES: u64 = 25 * 1024 * 1024;

/// Default [`FetchLimits::timeout`]: 30 s.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// How much a fetch may download and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchLimits {
    /// The largest body accepted, in bytes.
    pub max_bytes: u64,
    /// The deadline of the whole exchange (connect, headers and body).
    pub timeout: Duration,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_FETCH_MAX_BYTES,
            timeout: DEFAULT_FETCH_TIMEOUT,
        }
    }
}

impl From<&crate::config::FetchConfig> for FetchLimits {
    fn from(c: &crate::config::FetchConfig) -> Self {
        Self {
            max_bytes: c.max_bytes,
            timeout: Duration::from_millis(c.timeout_ms),
        }
    }
}

/// A downloaded body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The URL finally answered (after redirects), without its query string.
    pub url: String,
    /// The HTTP status (2xx).
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body.
    pub bytes: Vec<u8>,
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// Not a URL.
    #[error("not a URL: {source}")]
    InvalidUrl {
        /// The parser's complaint.
        #[source]
        source: url::ParseError,
    },
    /// A scheme other than `http` or `https`.
    #[error("refusing to fetch a {scheme}: URL: only http and https are allowed")]
    Scheme {
        /// The scheme refused.
        scheme: String,
    },
    /// The body is larger than the limit (declared, or seen while streaming).
    #[error("{url}: body larger than the limit of {limit} bytes ({seen})")]
    TooLarge {
        /// The URL, without its query string.
        url: String,
        /// The limit.
        limit: u64,
        /// What gave it away: "declared N bytes" or "more than N bytes received".
        seen: String,
    },
    /// The whole exchange took longer than the timeout.
    #[error("{url}: no complete answer within {timeout:?}")]
    Timeout {
        /// The URL, without its query string.
        url: String,
        /// The limit.
        timeout: Duration,
    },
    /// The server answered with a status other than 2xx.
    #[error("{url}: HTTP status {status}")]
    Status {
        /// The URL, without its query string.
        url: String,
        /// The status.
        status: u16,
    },
    /// Connecting, sending or reading failed.
    #[error("{url}: request failed: {source}")]
    Request {
        /// The URL, without its query string.
        url: String,
        /// The client's error.
        #[source]
        source: BoxError,
    },
    /// More than 5 redirects, or one without a usable `Location`.
    #[error("{url}: {reason}")]
    Redirect {
        /// The URL that redirected, without its query string.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// The HTTP client could not be built (TLS configuration).
    #[error("cannot build the HTTP client: {source}")]
    Client {
        /// Why.
        #[source]
        source: rustls::Error,
    },
    /// The handler was cancelled (shutdown or its time is up) while fetching.
    #[error("{url}: cancelled")]
    Cancelled {
        /// The URL, without its query string.
        url: String,
    },
}

impl FetchError {
    /// The `result` label of `switchboard_fetch_total`.
    fn label(&self) -> &'static str {
        match self {
            Self::InvalidUrl { .. } | Self::Scheme { .. } => "refused",
            Self::TooLarge { .. } => "too_large",
            Self::Timeout { .. } => "timeout",
            Self::Status { .. } => "status",
            Self::Request { .. } | Self::Redirect { .. } | Self::Client { .. } => "error",
            Self::Cancelled { .. } => "cancelled",
        }
    }
}

/// A URL as errors and results show it: without credentials, query string and
/// fragment (where signed URLs keep their secrets).
fn display_url(url: &url::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    // Only fails for URLs that cannot have credentials, which then have none.
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// An HTTP GET client with limits; cheap to clone (one shared connection pool).
///
/// ```no_run
/// use switchboard::handler::{FetchLimits, HttpFetcher};
/// # async fn f() -> Result<(), switchboard::handler::FetchError> {
/// let fetcher = HttpFetcher::new(FetchLimits::default())?;
/// let file = fetcher.fetch("http://127.0.0.1:8080/attachments/1/2/a.png").await?;
/// println!("{} bytes of {:?}", file.bytes.len(), file.content_type);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct HttpFetcher {
    client: Client,
    limits: FetchLimits,
}

impl std::fmt::Debug for HttpFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpFetcher")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The process's shared fetcher, replaced by [`HttpFetcher::configure_shared`].
static SHARED: RwLock<Option<HttpFetcher>> = RwLock::new(None);

impl HttpFetcher {
    /// A fetcher with its own connection pool.
    ///
    /// # Errors
    /// [`FetchError::Client`] if the HTTP client cannot be built.
    pub fn new(limits: FetchLimits) -> Result<Self, FetchError> {
        let client = crate::http::client().map_err(|source| FetchError::Client { source })?;
        Ok(Self { client, limits })
    }

    /// The limits this fetcher enforces.
    #[must_use]
    pub fn limits(&self) -> FetchLimits {
        self.limits
    }

    /// The process's shared fetcher (what [`Ctx::fetch`] uses): default limits until
    /// [`HttpFetcher::configure_shared`] sets others.
    ///
    /// # Errors
    /// [`FetchError::Client`] if the HTTP client cannot be built.
    pub fn shared() -> Result<Self, FetchError> {
        if let Some(f) = SHARED
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            return Ok(f.clone());
        }
        let mut slot = SHARED
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(f) = slot.as_ref() {
            return Ok(f.clone());
        }
        let f = Self::new(FetchLimits::default())?;
        *slot = Some(f.clone());
        Ok(f)
    }

    /// Sets the limits of the shared fetcher (the runtime calls it with
    /// `runtime.fetch` when it is built; the last call wins in a process running
    /// several runtimes). The connection pool is kept.
    ///
    /// # Errors
    /// [`FetchError::Client`] if the HTTP client cannot be built.
    pub fn configure_shared(limits: FetchLimits) -> Result<(), FetchError> {
        let client = Self::shared()?.client;
        *SHARED
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Self { client, limits });
        Ok(())
    }

    /// GETs `url` within the limits.
    ///
    /// # Errors
    /// [`FetchError::InvalidUrl`] / [`FetchError::Scheme`] before connecting;
    /// [`FetchError::TooLarge`], [`FetchError::Timeout`], [`FetchError::Status`],
    /// [`FetchError::Request`] from the exchange.
    pub async fn fetch(&self, url: &str) -> Result<Fetched, FetchError> {
        let started = Instant::now();
        let result = self.fetch_inner(url).await;
        let label = match &result {
            Ok(f) => {
                metrics::counter!("switchboard_fetch_bytes_total").increment(f.bytes.len() as u64);
                "ok"
            }
            Err(e) => e.label(),
        };
        metrics::counter!("switchboard_fetch_total", "result" => label).increment(1);
        metrics::histogram!("switchboard_fetch_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        result
    }

    async fn fetch_inner(&self, raw: &str) -> Result<Fetched, FetchError> {
        let url = url::Url::parse(raw).map_err(|source| FetchError::InvalidUrl { source })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::Scheme {
                scheme: url.scheme().to_owned(),
            });
        }
        let shown = display_url(&url);
        let timeout = self.limits.timeout;
        match tokio::time::timeout(timeout, self.exchange(url, &shown)).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout {
                url: shown,
                timeout,
            }),
        }
    }

    /// Sends the GET, following redirects (at most [`MAX_REDIRECTS`], to
    /// `http`/`https` only); returns the final answer and its URL as shown.
    async fn follow(
        &self,
        mut url: url::Url,
        shown: &str,
    ) -> Result<(hyper::Response<hyper::body::Incoming>, String), FetchError> {
        let mut shown = shown.to_owned();
        let mut redirects = 0;
        loop {
            let request = hyper::Request::get(url.as_str())
                .header(hyper::header::USER_AGENT, crate::http::USER_AGENT)
                .body(Full::new(Bytes::new()))
                .map_err(|e| FetchError::Request {
                    url: shown.clone(),
                    source: e.into(),
                })?;
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| FetchError::Request {
                    url: shown.clone(),
                    source: e.into(),
                })?;
            if !response.status().is_redirection() || response.status() == 304 {
                return Ok((response, shown));
            }
            redirects += 1;
            let next = response
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url.join(l).ok());
            let reason = match &next {
                _ if redirects > MAX_REDIRECTS => format!("more than {MAX_REDIRECTS} redirects"),
                None => "a redirect without a usable Location".to_owned(),
                Some(n) if !matches!(n.scheme(), "http" | "https") => {
                    format!("a redirect to a {}: URL", n.scheme())
                }
                Some(n) => {
                    url = n.clone();
                    shown = display_url(&url);
                    continue;
                }
            };
            return Err(FetchError::Redirect { url: shown, reason });
        }
    }

    /// The exchange: the answer ([`HttpFetcher::follow`]), its status, and its body
    /// read within the size limit.
    async fn exchange(&self, url: url::Url, shown: &str) -> Result<Fetched, FetchError> {
        let (response, shown) = self.follow(url, shown).await?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status {
                url: shown,
                status: status.as_u16(),
            });
        }
        let limit = self.limits.max_bytes;
        let declared = response
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(declared) = declared
            && declared > limit
        {
            return Err(FetchError::TooLarge {
                url: shown,
                limit,
                seen: format!("declared {declared} bytes"),
            });
        }
        let content_type = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let capacity = declared.unwrap_or(0).min(limit);
        let mut bytes = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| FetchError::Request {
                url: shown.clone(),
                source: e.into(),
            })?;
            let Ok(chunk) = frame.into_data() else {
                continue; // trailers
            };
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(FetchError::TooLarge {
                    url: shown,
                    limit,
                    seen: format!("more than {limit} bytes received"),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            url: shown,
            status: status.as_u16(),
            content_type,
            bytes,
        })
    }
}

impl Ctx {
    /// The `http.fetch` effect: GETs an `http`/`https` URL (e.g. an attachment's
    /// `url`) with the runtime's limits (`runtime.fetch`: `max_bytes`, `timeout_ms`),
    /// returning the body and its content type. Stops early if the handler is
    /// cancelled. Not idempotency-keyed: a GET has no side effect to repeat.
    ///
    /// # Errors
    /// [`CtxError::Fetch`] with the [`FetchError`] (refused scheme, too large,
    /// timeout, non-2xx status, connection failure, cancelled).
    pub async fn fetch(&self, url: &str) -> Result<Fetched, CtxError> {
        let fetcher = HttpFetcher::shared()?;
        tokio::select! {
            r = fetcher.fetch(url) => Ok(r?),
            () = self.cancellation().cancelled() => Err(FetchError::Cancelled {
                url: url::Url::parse(url).map_or_else(|_| String::new(), |u| display_url(&u)),
            }
            .into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_lose_their_query() {
        let u = url::Url::parse("https://cdn.example/a/b.png?ex=1&hm=secret#x").unwrap();
        assert_eq!(display_url(&u), "https://cdn.example/a/b.png");
        let u = url::Url::parse("http://user:pw@cdn.example/a").unwrap();
        assert_eq!(display_url(&u), "http://cdn.example/a");
    }

    #[tokio::test]
    async fn only_http_and_https_are_fetched() {
        let f = HttpFetcher::new(FetchLimits::default()).unwrap();
        for url in ["file:///etc/passwd", "ftp://example.com/x", "gopher://h/"] {
            let err = f.fetch(url).await.unwrap_err();
            assert!(matches!(err, FetchError::Scheme { .. }), "{url}: {err}");
        }
        assert!(matches!(
            f.fetch("not a url").await.unwrap_err(),
            FetchError::InvalidUrl { .. }
        ));
    }
}
