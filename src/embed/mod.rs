//! Embeddings: texts to vectors, for similarity search over a tenant's messages.
//!
//! [`Embedder`] is the seam (object safe, so the store holds an `Arc<dyn
//! Embedder>`); [`OpenAiEmbedder`] speaks the `OpenAI` embeddings API
//! (`POST {url}/v1/embeddings`) that most providers and local servers copy. Each
//! tenant pays for its own: the API key is the tenant's app secret named by
//! `runtime.embeddings.secret`, read from the vault with `Ctx::secret` (as the worker
//! serving that tenant) and handed to [`Embedder::embed`] with the tenant's id, which
//! also keys the per-tenant rate limit ([`TenantRateLimiter`]).
//!
//! ```no_run
//! use switchboard::embed::{OpenAiEmbedder, embed_for};
//! use switchboard::handler::{Ctx, HandlerError};
//!
//! async fn vectors(ctx: &Ctx, embedder: &OpenAiEmbedder, texts: &[String])
//!     -> Result<Vec<Vec<f32>>, HandlerError> {
//!     // The envelope's tenant, its own key, its own rate limit.
//!     Ok(embed_for(ctx, embedder, embedder.secret_name(), texts).await?)
//! }
//! ```
//!
//! # Layout
//! - `embedder`: the trait and [`EmbedError`].
//! - `openai`: [`OpenAiEmbedder`] — batching, retries honouring `Retry-After`, the
//!   rate limit, the key only in a sensitive `Authorization` header.
//! - `rate`: [`TenantRateLimiter`], a token bucket per tenant on tokio's clock.
//! - `tenant`: [`embed_for`], embedding for a handler's tenant with its own key.

mod embedder;
mod openai;
mod rate;
mod tenant;

pub use embedder::{EmbedError, EmbedFuture, Embedder};
pub use openai::OpenAiEmbedder;
pub use rate::TenantRateLimiter;
pub use tenant::embed_for;
