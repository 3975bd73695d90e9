//! `attachment-indexer`: the metadata of every attachment of a new message, and a
//! SHA-256 of its bytes, fetched through the `http.fetch` effect ([`Ctx::fetch`]:
//! size limit and timeout from `runtime.fetch`).

use sha2::{Digest, Sha256};

use crate::handler::{Ctx, CtxError, FetchError, Handler, HandlerResult};
use crate::model::SocialMessageCreated;
use crate::store::tenant::hex;

/// Records each attachment of a new message (id, message, file name, type, size,
/// URL), then downloads it and records the SHA-256 of its bytes
/// ([`TenantStore::set_attachment_hash`](crate::store::TenantStore::set_attachment_hash)):
/// identical bytes count as one blob per tenant. Idempotent: a redelivered message
/// adds no row, and an attachment already hashed is not downloaded again.
///
/// A download that cannot succeed by retrying (larger than `runtime.fetch.max_bytes`,
/// a refused scheme, a 4xx answer) leaves the metadata without a hash and is logged;
/// any other failure (timeout, 5xx, connection) fails the delivery, which is
/// retried and finally dead-lettered like any other.
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
            let hashed = store
                .attachment(&attachment.id)
                .await?
                .is_some_and(|a| a.sha256.is_some());
            if hashed {
                continue;
            }
            let fetched = match ctx.fetch(&attachment.url).await {
                Ok(f) => f,
                Err(CtxError::Fetch(e)) if gives_up(&e) => {
                    tracing::warn!(
                        attachment = %attachment.id, error = %crate::Report(&e),
                        "attachment kept without a hash"
                    );
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let sha256 = hex(&Sha256::digest(&fetched.bytes));
            store
                .set_attachment_hash(&attachment.id, &sha256, fetched.bytes.len() as u64)
                .await?;
        }
        Ok(())
    }
}

/// Whether retrying the download cannot help.
fn gives_up(e: &FetchError) -> bool {
    match e {
        FetchError::TooLarge { .. } | FetchError::Scheme { .. } | FetchError::InvalidUrl { .. } => {
            true
        }
        FetchError::Status { status, .. } => (400..500).contains(status) && *status != 429,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_of_a_digest() {
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn only_permanent_failures_are_given_up() {
        let status = |status| FetchError::Status {
            url: "http://x/".into(),
            status,
        };
        assert!(gives_up(&status(404)));
        assert!(!gives_up(&status(429)));
        assert!(!gives_up(&status(503)));
        assert!(!gives_up(&FetchError::Timeout {
            url: "http://x/".into(),
            timeout: std::time::Duration::from_secs(1),
        }));
    }
}
