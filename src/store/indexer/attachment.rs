//! `attachment-indexer` (storage side): attachment metadata of every new message.

use crate::handler::{Ctx, Handler, HandlerResult};
use crate::model::SocialMessageCreated;

/// Records the metadata of every attachment of a new message (id, message, file
/// name, type, size, URL), idempotently. The hash of the bytes is recorded later
/// through [`TenantStore::set_attachment_hash`](crate::store::TenantStore::set_attachment_hash)
/// once an HTTP fetch effect has downloaded them (identical bytes then count as one
/// blob per tenant); until then `sha256` is empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttachmentIndexer;

impl Handler for AttachmentIndexer {
    fn name(&self) -> &'static str {
        "attachment-indexer"
    }

    async fn on_message(&self, ctx: &Ctx, msg: &SocialMessageCreated) -> HandlerResult {
        if msg.attachments.is_empty() {
            return Ok(());
        }
        let store = ctx.store()?;
        for attachment in &msg.attachments {
            store.upsert_attachment(&msg.message_id, attachment).await?;
        }
        Ok(())
    }
}
