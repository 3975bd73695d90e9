//! The values the store returns.

/// A message as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// The provider's message id.
    pub id: String,
    /// The namespace it was written under.
    pub namespace: String,
    /// Its channel.
    pub channel_id: String,
    /// Its guild, absent for direct messages.
    pub guild_id: Option<String>,
    /// The author's id.
    pub author_id: String,
    /// The author's name.
    pub author_name: String,
    /// The current content (after the latest edit).
    pub content: String,
    /// When it was sent, Unix milliseconds.
    pub created_ms: i64,
    /// When it was last edited, if it was.
    pub edited_ms: Option<i64>,
    /// When it was deleted (the row is kept: soft delete).
    pub deleted_ms: Option<i64>,
}

impl StoredMessage {
    /// Whether it was deleted.
    #[must_use]
    pub fn is_deleted(&self) -> bool {
        self.deleted_ms.is_some()
    }
}

/// One entry of a message's edit history: the content an edit replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageEdit {
    /// The content before the edit.
    pub old_content: String,
    /// The content after it.
    pub new_content: String,
    /// When the edit happened, if the provider said.
    pub edited_ms: Option<i64>,
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    /// A new row.
    Inserted,
    /// The row was there already (a redelivery, or backfill meeting a live
    /// message): nothing changed.
    Unchanged,
}

/// What an edit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditOutcome {
    /// The content changed; the old content is in the history.
    Edited,
    /// Nothing to do: the same edit again (a redelivery), no new content, an edit
    /// older than the stored one, or a deleted message.
    Unchanged,
    /// The message is not stored (it predates indexing; backfill fetches it).
    UnknownMessage,
}

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// The message is now marked deleted.
    Deleted,
    /// It was marked deleted already.
    AlreadyDeleted,
    /// The message is not stored.
    UnknownMessage,
}

/// An attachment as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAttachment {
    /// The provider's attachment id.
    pub id: String,
    /// The message it belongs to.
    pub message_id: String,
    /// The file name.
    pub filename: String,
    /// Its MIME type, when known.
    pub content_type: Option<String>,
    /// Size in bytes (the fetched size once hashed).
    pub size: u64,
    /// Where to download it.
    pub url: String,
    /// The SHA-256 of its bytes (lowercase hex), once fetched.
    pub sha256: Option<String>,
}
