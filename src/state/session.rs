//! Sessions: "at most one active X per scope" (one game per guild, one quiz per
//! channel), with an owner, a TTL renewed while active, and takeover rules.
//!
//! A session expires on its own when its owner stops renewing it (the owner's
//! worker died, the game was abandoned); until then, a start by someone else is
//! refused with [`StateError::SessionHeld`](super::StateError::SessionHeld) unless it
//! asks for [`Takeover::Force`]. A start by the current owner refreshes it.

use serde::{Deserialize, Serialize};

/// One active session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// What it is scoped to (e.g. a guild id).
    pub scope: String,
    /// Who holds it (e.g. a user id).
    pub owner: String,
    /// When it started (Unix ms).
    pub started_ms: u64,
    /// When it expires unless renewed (Unix ms).
    pub expires_ms: u64,
    /// The holder's data (e.g. MessagePack of the game state).
    pub data: Vec<u8>,
}

/// What a start does when someone else holds the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Takeover {
    /// Refuse ([`StateError::SessionHeld`](super::StateError::SessionHeld)); an
    /// expired session is free.
    #[default]
    Never,
    /// Take it over (an admin command, say).
    Force,
}
