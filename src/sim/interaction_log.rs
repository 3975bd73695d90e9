//! [`InteractionLog`]: what a bot answered to an injected interaction, and when, as
//! tests read it ([`SimHandle::interaction`](super::SimHandle::interaction),
//! `GET /__sim/interactions[/{id}]`): the initial response's type and how long after
//! the interaction's creation it arrived, refused late callbacks (10062), edits and
//! deletion of `@original`, followups.

use serde::{Deserialize, Serialize};

use super::inject::id;

/// The answers to one interaction so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InteractionLog {
    /// Interaction id.
    #[serde(deserialize_with = "id::de", serialize_with = "id::ser")]
    pub id: u64,
    /// The tenant it was delivered to.
    pub tenant: String,
    /// Interaction type (2 command, 3 component, 4 autocomplete, 5 modal submit).
    pub kind: u8,
    /// The initial response's callback type (1, 4–9), once accepted.
    pub initial_type: Option<u8>,
    /// Milliseconds from the interaction's creation to its accepted initial response.
    pub initial_after_ms: Option<u64>,
    /// Whether the initial response was ephemeral (flag 64 in its data).
    pub initial_ephemeral: bool,
    /// Callbacks refused because they came after the response window (10062).
    pub late_callbacks: u32,
    /// Callbacks refused because the interaction was already acknowledged (40060).
    pub duplicate_callbacks: u32,
    /// Accepted edits of `@original` (`PATCH …/messages/@original`).
    pub original_edits: u32,
    /// Milliseconds from creation to the first edit of `@original`.
    pub first_edit_after_ms: Option<u64>,
    /// Whether `@original` was deleted.
    pub original_deleted: bool,
    /// Accepted followup messages.
    pub followups: u32,
    /// Whether each accepted followup was ephemeral, in order.
    pub followup_ephemeral: Vec<bool>,
}
