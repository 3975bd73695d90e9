//! [`StateError`]: why a state operation failed.

use std::time::Duration;

/// Why a state operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// A key a handler named is empty, too long or holds control characters.
    #[error("invalid state key {key:?}: {reason}")]
    InvalidKey {
        /// The key (cut to 80 characters).
        key: String,
        /// Why.
        reason: &'static str,
    },
    /// A counter operation met a value that is not an integer.
    #[error("state key {key:?} does not hold an integer")]
    NotAnInteger {
        /// The key.
        key: String,
    },
    /// A value could not be encoded or decoded (MessagePack).
    #[error("state value of {key:?}: {reason}")]
    Codec {
        /// The key.
        key: String,
        /// What failed.
        reason: String,
    },
    /// A cooldown or session was asked with nonsensical parameters.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The session is held by someone else.
    #[error("session {scope:?} is held by {owner:?} for {left:?} more")]
    SessionHeld {
        /// The session's scope (e.g. a guild id).
        scope: String,
        /// Who holds it.
        owner: String,
        /// How long it stays held unless renewed.
        left: Duration,
    },
    /// Redis is unreachable or answered an error (the source says which).
    #[error("state store unavailable")]
    Unavailable(#[source] fred::error::Error),
}
