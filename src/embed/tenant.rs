//! [`embed_for`]: embedding for the tenant a handler serves, with that tenant's own
//! key — the one way handlers (and the store's `similar`) should call an embedder.

use super::embedder::{EmbedError, Embedder};
use crate::handler::Ctx;

/// Embeds `texts` for the tenant of the envelope `ctx` handles, paying with that
/// tenant's key: its app secret `secret` (`runtime.embeddings.secret`, e.g.
/// `OpenAiEmbedder::secret_name`), read from the vault as the worker serving the
/// tenant. The rate limit is that tenant's too.
///
/// # Errors
/// [`EmbedError::Secret`] when the key cannot be read (unknown secret, no vault);
/// else what [`Embedder::embed`] returns.
pub async fn embed_for(
    ctx: &Ctx,
    embedder: &dyn Embedder,
    secret: &str,
    texts: &[String],
) -> Result<Vec<Vec<f32>>, EmbedError> {
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    let key = ctx
        .secret(secret)
        .await
        .map_err(|source| EmbedError::Secret {
            name: secret.to_owned(),
            source: Box::new(source),
        })?;
    embedder.embed(ctx.tenant(), &key, texts).await
}
