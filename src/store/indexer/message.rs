//! `message-indexer`: created, edited and deleted messages into the tenant's store.

use crate::handler::{Ctx, Handler, HandlerResult};
use crate::model::{SocialMessageCreated, SocialMessageDeleted, SocialMessageUpdated};

/// Stores every message the tenant sees: created → upsert, edited → the new content
/// with the old one kept in the history, deleted → marked deleted. Idempotent under
/// redelivery (the store's upserts and edit keys), so retries and replays leave
/// exactly one row per message and one history row per edit.
#[derive(Debug, Clone, Copy, Default)]
pub struct MessageIndexer;

impl Handler for MessageIndexer {
    fn name(&self) -> &'static str {
        "message-indexer"
    }

    async fn on_message(&self, ctx: &Ctx, msg: &SocialMessageCreated) -> HandlerResult {
        ctx.store()?.upsert_message(msg).await?;
        Ok(())
    }

    async fn on_message_updated(&self, ctx: &Ctx, msg: &SocialMessageUpdated) -> HandlerResult {
        ctx.store()?.edit_message(msg).await?;
        Ok(())
    }

    async fn on_message_deleted(&self, ctx: &Ctx, msg: &SocialMessageDeleted) -> HandlerResult {
        ctx.store()?.delete_message(msg).await?;
        Ok(())
    }
}
