//! `embedding-indexer`: a vector for every new message, so
//! [`TenantStore::similar`](crate::store::TenantStore::similar) finds it.

use crate::handler::{Ctx, Handler, HandlerResult};
use crate::model::{SocialMessageCreated, SocialMessageUpdated};

/// Embeds the text of every new (and edited) message with the runtime's embedder
/// (`runtime.embeddings`), paid with the tenant's own key, and stores the vector
/// in the tenant's namespace. A redelivery replaces the vector with an identical
/// one. Needs `runtime.store` and `runtime.embeddings`; messages without text are
/// skipped.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmbeddingIndexer;

impl Handler for EmbeddingIndexer {
    fn name(&self) -> &'static str {
        "embedding-indexer"
    }

    async fn on_message(&self, ctx: &Ctx, msg: &SocialMessageCreated) -> HandlerResult {
        ctx.store()?
            .embed_message(&msg.message_id, &msg.content)
            .await?;
        Ok(())
    }

    async fn on_message_updated(&self, ctx: &Ctx, msg: &SocialMessageUpdated) -> HandlerResult {
        // An edit that did not change the text (an embed resolved, a pin) has none.
        if let Some(content) = &msg.content {
            ctx.store()?.embed_message(&msg.message_id, content).await?;
        }
        Ok(())
    }
}
