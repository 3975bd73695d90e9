//! Built-in handlers that fill the store, enabled by name like any built-in
//! (`handlers: [message-indexer, attachment-indexer, embedding-indexer, backfill]`);
//! each needs `runtime.store` (and `embedding-indexer` `runtime.embeddings`).
//!
//! They run per tenant (not `once_per_message`): every tenant keeps its own rows,
//! even for a message several tenants see in a shared guild.

mod attachment;
mod backfill;
mod embedding;
mod message;

pub use attachment::AttachmentIndexer;
pub use backfill::{
    Backfill, BackfillFailure, BackfillProgress, BackfillRequest, BackfillRun, BackfillState,
    active_run,
};
pub use embedding::EmbeddingIndexer;
pub use message::MessageIndexer;
