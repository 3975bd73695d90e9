//! A tenant's attachments and the distinct bytes they carry (blobs).
//!
//! Metadata is recorded when a message arrives (`upsert_attachment`); the SHA-256
//! of the bytes comes later, from whatever fetched them (`set_attachment_hash`, the
//! hook the `attachment-indexer` calls once an HTTP fetch effect has the bytes).
//! Identical bytes are one blob per tenant, with a count of the attachments that
//! carry them.

use sqlx::Row;

use super::error::StoreError;
use super::tenant::TenantStore;
use super::types::{StoredAttachment, Upsert};
use crate::model::Attachment;

impl TenantStore {
    /// Records an attachment of message `message_id`; one recorded already is left
    /// as it is.
    ///
    /// # Errors
    /// [`StoreError::Query`].
    pub async fn upsert_attachment(
        &self,
        message_id: &str,
        attachment: &Attachment,
    ) -> Result<Upsert, StoreError> {
        let done = sqlx::query(
            "INSERT INTO attachments (provider, tenant, namespace, foreign_id, message_id, \
             filename, content_type, size, url) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (provider, tenant, foreign_id) DO NOTHING",
        )
        .bind(self.provider_name())
        .bind(self.tenant_name())
        .bind(self.namespace())
        .bind(&attachment.id)
        .bind(message_id)
        .bind(&attachment.filename)
        .bind(attachment.content_type.as_deref())
        .bind(i64::try_from(attachment.size).unwrap_or(i64::MAX))
        .bind(&attachment.url)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("upsert an attachment"))?;
        Ok(if done.rows_affected() == 1 {
            Upsert::Inserted
        } else {
            Upsert::Unchanged
        })
    }

    /// Records the SHA-256 (lowercase hex) and size of an attachment's bytes, and
    /// counts it against the tenant's blob of those bytes. Idempotent: the same hash
    /// again changes nothing; a different one moves the attachment to the new blob.
    /// Returns `false` when the attachment is not recorded.
    ///
    /// # Errors
    /// [`StoreError::Query`].
    pub async fn set_attachment_hash(
        &self,
        id: &str,
        sha256: &str,
        size: u64,
    ) -> Result<bool, StoreError> {
        let op = "record an attachment's hash";
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        let mut tx = self.pool.begin().await.map_err(StoreError::query(op))?;
        let row = sqlx::query(
            "SELECT sha256 FROM attachments WHERE provider = $1 AND tenant = $2 AND foreign_id = $3",
        )
        .bind(self.provider_name())
        .bind(self.tenant_name())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::query(op))?;
        let Some(row) = row else {
            return Ok(false);
        };
        let previous: Option<String> = row.try_get(0).map_err(StoreError::query(op))?;
        if previous.as_deref() == Some(sha256) {
            return Ok(true);
        }
        if let Some(previous) = previous {
            sqlx::query(
                "UPDATE blobs SET refs = refs - 1 WHERE provider = $1 AND tenant = $2 AND sha256 = $3",
            )
            .bind(self.provider_name())
            .bind(self.tenant_name())
            .bind(previous)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query(op))?;
        }
        sqlx::query(
            "UPDATE attachments SET sha256 = $4, size = $5 \
             WHERE provider = $1 AND tenant = $2 AND foreign_id = $3",
        )
        .bind(self.provider_name())
        .bind(self.tenant_name())
        .bind(id)
        .bind(sha256)
        .bind(size)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query(op))?;
        sqlx::query(
            "INSERT INTO blobs (provider, tenant, sha256, size, refs) VALUES ($1, $2, $3, $4, 1) \
             ON CONFLICT (provider, tenant, sha256) DO UPDATE SET refs = blobs.refs + 1",
        )
        .bind(self.provider_name())
        .bind(self.tenant_name())
        .bind(sha256)
        .bind(size)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query(op))?;
        tx.commit().await.map_err(StoreError::query(op))?;
        Ok(true)
    }

    /// The recorded attachment with this provider id.
    ///
    /// # Errors
    /// [`StoreError::Query`].
    pub async fn attachment(&self, id: &str) -> Result<Option<StoredAttachment>, StoreError> {
        let op = "read an attachment";
        let row = sqlx::query(&format!(
            "{SELECT_ATTACHMENT} WHERE provider = $1 AND tenant = $2 AND foreign_id = $3"
        ))
        .bind(self.provider_name())
        .bind(self.tenant_name())
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query(op))?;
        row.as_ref()
            .map(attachment_of)
            .transpose()
            .map_err(StoreError::query(op))
    }

    /// The recorded attachments of a message, by id.
    ///
    /// # Errors
    /// [`StoreError::Query`].
    pub async fn attachments_of(
        &self,
        message_id: &str,
    ) -> Result<Vec<StoredAttachment>, StoreError> {
        let op = "read a message's attachments";
        let rows = sqlx::query(&format!(
            "{SELECT_ATTACHMENT} WHERE provider = $1 AND tenant = $2 AND message_id = $3 \
             ORDER BY foreign_id"
        ))
        .bind(self.provider_name())
        .bind(self.tenant_name())
        .bind(message_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query(op))?;
        rows.iter()
            .map(attachment_of)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query(op))
    }

    /// How many attachments are recorded.
    ///
    /// # Errors
    /// [`StoreError::Query`].
    pub async fn attachments_count(&self) -> Result<i64, StoreError> {
        self.count(
            "SELECT COUNT(*) FROM attachments WHERE provider = $1 AND tenant = $2",
            "count attachments",
        )
        .await
    }

    /// How many distinct attachment bytes the tenant holds (blobs some attachment
    /// still carries).
    ///
    /// # Errors
    /// [`StoreError::Query`].
    pub async fn distinct_blobs(&self) -> Result<i64, StoreError> {
        self.count(
            "SELECT COUNT(*) FROM blobs WHERE provider = $1 AND tenant = $2 AND refs > 0",
            "count blobs",
        )
        .await
    }
}

/// The columns [`attachment_of`] reads.
const SELECT_ATTACHMENT: &str =
    "SELECT foreign_id, message_id, filename, content_type, size, url, sha256 FROM attachments";

/// A row of [`SELECT_ATTACHMENT`].
fn attachment_of(row: &sqlx::any::AnyRow) -> Result<StoredAttachment, sqlx::Error> {
    Ok(StoredAttachment {
        id: row.try_get(0)?,
        message_id: row.try_get(1)?,
        filename: row.try_get(2)?,
        content_type: row.try_get(3)?,
        size: u64::try_from(row.try_get::<i64, _>(4)?).unwrap_or_default(),
        url: row.try_get(5)?,
        sha256: row.try_get(6)?,
    })
}
