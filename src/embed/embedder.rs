//! The [`Embedder`] trait and its error type.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use secrecy::SecretString;

use crate::model::TenantId;

/// What [`Embedder::embed`] returns: one vector per input text, in input order.
pub type EmbedFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<Vec<f32>>, EmbedError>> + Send + 'a>>;

/// Turns texts into vectors for one tenant, with that tenant's API key.
///
/// Object safe (`Arc<dyn Embedder>`), so the store can hold whichever the runtime
/// configured; the future is boxed for that reason. An implementation splits large
/// inputs into batches, retries what is worth retrying and rate-limits per tenant;
/// it never logs, `Debug`s or returns the key in an error.
///
/// ```
/// use secrecy::SecretString;
/// use switchboard::embed::{EmbedError, EmbedFuture, Embedder};
/// use switchboard::TenantId;
///
/// /// A toy embedder: the text's length, as a 1-dimensional vector.
/// struct Length;
///
/// impl Embedder for Length {
///     fn model(&self) -> &str {
///         "length-v1"
///     }
///     fn dimension(&self) -> Option<usize> {
///         Some(1)
///     }
///     fn embed<'a>(
///         &'a self,
///         _tenant: &'a TenantId,
///         _key: &'a SecretString,
///         texts: &'a [String],
///     ) -> EmbedFuture<'a> {
///         Box::pin(async move { Ok(texts.iter().map(|t| vec![t.len() as f32]).collect()) })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), EmbedError> {
/// let e: Box<dyn Embedder> = Box::new(Length);
/// let tenant = TenantId::parse("discord", "duck").expect("valid");
/// let key = SecretString::from("unused");
/// let v = e.embed(&tenant, &key, &["abc".to_owned()]).await?;
/// assert_eq!(v, vec![vec![3.0]]);
/// # Ok(())
/// # }
/// ```
pub trait Embedder: Send + Sync {
    /// The model name, stored with every vector (vectors of different models are
    /// not comparable).
    fn model(&self) -> &str;

    /// The vector length, when known before the first answer.
    fn dimension(&self) -> Option<usize>;

    /// Embeds `texts` for `tenant` with its API key `key`: one vector per text, in
    /// the order of `texts` (an empty input gives an empty output without a request).
    fn embed<'a>(
        &'a self,
        tenant: &'a TenantId,
        key: &'a SecretString,
        texts: &'a [String],
    ) -> EmbedFuture<'a>;
}

/// Why embedding failed. No variant holds or prints the API key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// The configuration cannot work (a non-http URL, zero batch or rate): the
    /// text says what.
    #[error("embeddings configuration: {0}")]
    Config(String),
    /// The configured URL does not parse.
    #[error("embeddings configuration: url {url:?}")]
    Url {
        /// The URL as configured (or as extended with the API path).
        url: String,
        /// Why it does not parse.
        #[source]
        source: url::ParseError,
    },
    /// JSON could not be written or read: the request body, or an answer that is
    /// not the API's shape.
    #[error("embeddings {what}")]
    Json {
        /// Which: "request body" or "answer".
        what: &'static str,
        /// `serde_json`'s error.
        #[source]
        source: serde_json::Error,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {source}")]
    Client {
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The tenant's key could not be read from the vault.
    #[error("the API key (app secret {name:?}) cannot be read: {source}")]
    Secret {
        /// The app secret's name.
        name: String,
        /// Why (the vault's refusal, or no vault).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The key cannot be sent in a header (control characters); the key itself is
    /// not shown.
    #[error("the API key is not a valid header value")]
    InvalidKey,
    /// The service answered with an error status (after the retries it allows).
    #[error("embeddings service answered {status} after {attempts} attempt(s): {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// How many requests were made for this batch.
        attempts: u32,
        /// The start of the answer's body, with the key masked if echoed.
        message: String,
    },
    /// Connecting, sending or reading failed (after the retries it allows).
    #[error("embeddings request failed after {attempts} attempt(s): {source}")]
    Request {
        /// How many requests were made for this batch.
        attempts: u32,
        /// The client's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No complete answer within `timeout_ms` (after the retries it allows).
    #[error(
        "embeddings request got no complete answer within {timeout:?} after {attempts} attempt(s)"
    )]
    Timeout {
        /// How many requests were made for this batch.
        attempts: u32,
        /// The per-request deadline.
        timeout: Duration,
    },
    /// The answer is not what the API documents (missing or duplicate indices,
    /// wrong count or dimension): the text says what.
    #[error("embeddings service answered something unexpected: {0}")]
    Invalid(String),
}
