//! [`TenantStore`]: the store bound to one tenant, and its messages.
//!
//! Every statement binds the tenant's provider (`$1`) and name (`$2`) from the
//! `TenantId` the store was built with; no method takes a tenant, a table or SQL, so
//! whatever a handler passes it only ever reaches its own tenant's rows.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use sqlx::AnyPool;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::error::StoreError;
use super::types::{DeleteOutcome, EditOutcome, MessageEdit, StoredMessage, Upsert};
use crate::model::{SocialMessageCreated, SocialMessageDeleted, SocialMessageUpdated, TenantId};

/// The columns of a [`StoredMessage`], in [`message_from_row`]'s order.
const MESSAGE_COLUMNS: &str = "foreign_id, namespace, channel_id, guild_id, author_id, author_name, content, created_ms, edited_ms, deleted_ms";

/// The store of one tenant: its messages, attachments, cursors and embeddings.
/// Cheap to clone. Built by [`Store::tenant`](super::Store::tenant) or
/// [`Ctx::store`](crate::handler::Ctx::store).
#[derive(Clone)]
pub struct TenantStore {
    pub(super) pool: AnyPool,
    pub(super) tenant: TenantId,
    pub(super) namespace: Arc<str>,
    /// How to embed text for this tenant (`None`: no embedder configured).
    pub(super) semantic: Option<super::semantic::Semantic>,
}

impl std::fmt::Debug for TenantStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantStore")
            .field("tenant", &self.tenant)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl TenantStore {
    pub(super) fn new(pool: AnyPool, tenant: TenantId, namespace: Arc<str>) -> Self {
        Self {
            pool,
            tenant,
            namespace,
            semantic: None,
        }
    }

    /// The tenant it is bound to.
    #[must_use]
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The namespace new rows are written under.
    #[must_use]
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub(super) fn provider_name(&self) -> &str {
        self.tenant.provider.as_str()
    }

    pub(super) fn tenant_name(&self) -> &str {
        self.tenant.tenant.as_str()
    }

    /// Stores a new message; a message stored already is left as it is (a
    /// redelivery, or backfill meeting a message indexed live).
    ///
    /// # Errors
    /// [`StoreError::Query`].
    pub async fn upsert_message(&self, msg: &SocialMessageCreated) -> Result<Upsert, StoreError> {
        let done = sqlx::query(
            "INSERT INTO messages (provider, tenant, namespace, foreign_id, channel_id, guild_id, \
             author_id, author_name, content, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (provider, tenant, foreign_id) DO NOTHING",
        )
        .bind(self.provider_name())
        .bind(self.tenant_name())
        .bind(&*self.namespace)
        .bind(&msg.message_id)
        .bind(&msg.channel_id)
        .bind(msg.guild_id.as_deref())
        .bind(&msg.author.id)
        .bind(&msg.author.name)
        .bind(&msg.content)
        .bind(msg.timestamp_ms)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("upsert a message"))?;
        Ok(if done.rows_affected() == 1 {
            Upsert::Inserted
        } else {
            Upsert::Unchanged
        })
    }

    /// Applies an edit: the new content replaces the stored one, which goes into the
    /// message's history. Idempotent: the same edit delivered again (same edit time,
    /// or same content when the provider gives no time) adds no second history row,
    /// and an edit older than the stored content is ignored.
    ///
    /// # Errors
    /// [`StoreError::Query`].
    pub async fn edit_message(
        &self,
        edit: &SocialMessageUpdated,
    ) -> Result<EditOutcome, StoreError> {
        let op = "edit a message";
        let Some(new_content) = edit.content.as_deref() else {
            return Ok(EditOutcome::Unchanged);
        };
        let mut tx = self.pool.begin().await.map_err(StoreError::query(op))?;
        let row = sqlx::query(
            "SELECT content, edited_ms, deleted_ms FROM messages \
             WHERE provider = $1 AND tenant = $2 AND foreign_id = $3",
        )
        .bind(self.provider_name())
        .bind(self.tenant_name())
        .bind(&edit.message_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::query(op))?;
        let Some(row) = row else {
            return Ok(EditOutcome::UnknownMessage);
        };
        let current: String = row.try_get(0).map_err(StoreError::query(op))?;
        let current_edit: Option<i64> = row.try_get(1).map_err(StoreError::query(op))?;
        let deleted: Option<i64> = row.try_get(2).map_err(StoreError::query(op))?;
        let stale =
            matches!((edit.edited_timestamp_ms, current_edit), (Some(new), Some(cur)) if new < cur);
        if deleted.is_some() || stale || current == new_content {
            return Ok(EditOutcome::Unchanged);
        }
        let key = edit.edited_timestamp_ms.map_or_else(
            || format!("c:{}", hex(&Sha256::digest(new_content.as_bytes())[..16])),
            |t| format!("t:{t}"),
        );
        let recorded = sqlx::query(
            "INSERT INTO message_edits (provider, tenant, foreign_id, edit_key, old_content, \
             new_content, edited_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (provider, tenant, foreign_id, edit_key) DO NOTHING",
        )
        .bind(self.provider_name())
        .bind(self.tenant_name())
        .bind(&edit.message_id)
        .bind(&key)
        .bind(&current)
        .bind(new_content)
        .bind(edit.edited_timestamp_ms)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query(op))?;
        if recorded.rows_affected() == 0 {
            return Ok(EditOutcome::Unchanged);
        }
        sqlx::query(
            "UPDATE messages SET content = $4, edited_ms = COALESCE($5, edited_ms) \
             WHERE provider = $1 AND tenant = $2 AND foreign_id = $3",
        )
        .bind(self.provider_name())
        .bind(self.tenant_name())
        .bind(&edit.message_id)
        .bind(new_content)
        .bind(edit.edited_timestamp_ms)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query(op))?;
        tx.commit().await.map_err(StoreError::query(op))?;
        Ok(EditOutcome::Edited)
    }

    /// Marks a message deleted (the row and its history are kept).
    ///
    /// # Errors
    /// [`StoreError::Query`].
    pub async fn delete_message(
        &self,
        deletion: &SocialMessageDeleted,
    ) -> Result<DeleteOutcome, StoreError> {
        let op = "delete a message";
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE messages SET deleted_ms = $4 \
             WHERE provider = $1 AND tenant = $2 AND foreign_id = $3 AND deleted_ms IS NULL",
        )
        .bind(self.provider_name())
        .bind(self.tenant_name())
        .bind(&deletion.message_id)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query(op))?;
        if done.rows_affected() == 1 {
            return Ok(DeleteOutcome::Deleted);
        }
        Ok(if self.message(&deletion.message_id).await?.is_some() {
            DeleteOutcome::AlreadyDeleted
        } else {
            DeleteOutcome::UnknownMessage
        })
    }

    /// The stored message with this provider id (deleted ones included).
    ///
    /// # Errors
    /// [`StoreError::Query`].
    pub async fn message(&self, id: &str) -> Result<Option<StoredMessage>, StoreError> {
        let op = "read a message";
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE provider = $1 AND tenant = $2 AND foreign_id = $3"
        );
        sqlx::query(&sql)
            .bind(self.provider_name())
            .bind(self.tenant_name())
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query(op))?
            .map(|row| message_from_row(&row, 0).map_err(StoreError::query(op)))
            .transpose()
    }

    /// How many messages are stored (soft-deleted ones included).
    ///
    /// # Errors
    /// [`StoreError::Query`].
    pub async fn messages_count(&self) -> Result<i64, StoreError> {
        self.count(
            "SELECT COUNT(*) FROM messages WHERE provider = $1 AND tenant = $2",
            "count messages",
        )
        .await
    }

    /// How many messages of `channel` are stored (soft-deleted ones included): what
    /// a backfill of the channel has to show, next to what indexing live added. One
    /// indexed count (`messages_by_channel`).
    ///
    /// # Errors
    /// [`StoreError::Query`].
    pub async fn channel_messages_count(&self, channel: &str) -> Result<i64, StoreError> {
        sqlx::query(
            "SELECT COUNT(*) FROM messages WHERE provider = $1 AND tenant = $2 AND channel_id = $3",
        )
        .bind(self.provider_name())
        .bind(self.tenant_name())
        .bind(channel)
        .fetch_one(&self.pool)
        .await
        .and_then(|row| row.try_get::<i64, _>(0))
        .map_err(StoreError::query("count a channel's messages"))
    }

    /// How many messages are marked deleted.
    ///
    /// # Errors
    /// [`StoreError::Query`].
    pub async fn deleted_count(&self) -> Result<i64, StoreError> {
        self.count(
            "SELECT COUNT(*) FROM messages WHERE provider = $1 AND tenant = $2 AND deleted_ms IS NOT NULL",
            "count deleted messages",
        )
        .await
    }

    /// The edit history of a message, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Query`].
    pub async fn edits(&self, id: &str) -> Result<Vec<MessageEdit>, StoreError> {
        let op = "read a message's edits";
        let rows = sqlx::query(
            "SELECT old_content, new_content, edited_ms FROM message_edits \
             WHERE provider = $1 AND tenant = $2 AND foreign_id = $3 \
             ORDER BY edited_ms, edit_key",
        )
        .bind(self.provider_name())
        .bind(self.tenant_name())
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query(op))?;
        rows.iter()
            .map(|row| {
                Ok(MessageEdit {
                    old_content: row.try_get(0)?,
                    new_content: row.try_get(1)?,
                    edited_ms: row.try_get(2)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::query(op))
    }

    /// How many edit-history rows the tenant has.
    ///
    /// # Errors
    /// [`StoreError::Query`].
    pub async fn edits_count(&self) -> Result<i64, StoreError> {
        self.count(
            "SELECT COUNT(*) FROM message_edits WHERE provider = $1 AND tenant = $2",
            "count edits",
        )
        .await
    }

    /// Rows of this tenant that carry its namespace (the namespace guard's count).
    pub(super) async fn rows_under_namespace(&self) -> Result<i64, StoreError> {
        let mut rows = 0;
        for sql in [
            "SELECT COUNT(*) FROM messages WHERE provider = $1 AND tenant = $2",
            "SELECT COUNT(*) FROM attachments WHERE provider = $1 AND tenant = $2",
            "SELECT COUNT(*) FROM embeddings WHERE provider = $1 AND tenant = $2",
        ] {
            rows += self.count(sql, "count the tenant's rows").await?;
        }
        Ok(rows)
    }

    /// Runs a `SELECT COUNT(*) … WHERE provider = $1 AND tenant = $2`.
    pub(super) async fn count(
        &self,
        sql: &'static str,
        op: &'static str,
    ) -> Result<i64, StoreError> {
        sqlx::query(sql)
            .bind(self.provider_name())
            .bind(self.tenant_name())
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get::<i64, _>(0))
            .map_err(StoreError::query(op))
    }
}

/// A [`StoredMessage`] from [`MESSAGE_COLUMNS`] starting at column `at`.
pub(super) fn message_from_row(row: &AnyRow, at: usize) -> Result<StoredMessage, sqlx::Error> {
    Ok(StoredMessage {
        id: row.try_get(at)?,
        namespace: row.try_get(at + 1)?,
        channel_id: row.try_get(at + 2)?,
        guild_id: row.try_get(at + 3)?,
        author_id: row.try_get(at + 4)?,
        author_name: row.try_get(at + 5)?,
        content: row.try_get(at + 6)?,
        created_ms: row.try_get(at + 7)?,
        edited_ms: row.try_get(at + 8)?,
        deleted_ms: row.try_get(at + 9)?,
    })
}

/// Columns of a message prefixed with `m.` (for joins).
pub(super) fn message_columns_of(alias: &str) -> String {
    MESSAGE_COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The time now, Unix milliseconds, as the schema stores it.
pub(super) fn now_ms() -> i64 {
    i64::try_from(crate::model::now_ms()).unwrap_or(i64::MAX)
}

/// A length as the schema stores it.
pub(super) fn len_i64(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}

/// Lowercase hex.
pub(super) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
