//! Bus errors: a kind per variant; a Redis failure keeps fred's error (its kind and
//! details) instead of a string.

use crate::model::CodecError;

/// Why a bus operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The bus is shutting down.
    #[error("the bus is closed")]
    Closed,
    /// No response arrived within the deadline.
    #[error("no response to request {corr} within {timeout_ms} ms")]
    Timeout {
        /// The request's correlation id.
        corr: String,
        /// The deadline.
        timeout_ms: u64,
    },
    /// The envelope cannot travel on the bus (wrong topic area, missing reply inbox).
    /// The text is the message itself, naming the envelope's topic or id: no other
    /// error caused this one, so there is no source to keep.
    #[error("cannot route envelope: {0}")]
    Route(String),
    /// Encoding or decoding failed (transparent: the codec error's own source, e.g.
    /// rmp-serde's, follows it in a [`Report`](crate::Report)).
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A fenced write was refused: a newer owner of the tenant's gateway lease has
    /// written (the writer lost its lease and must stand down).
    #[error("write refused for {tenant}: fence {fence} is older than the current owner's")]
    Fenced {
        /// `provider/tenant`.
        tenant: String,
        /// The refused writer's fence.
        fence: u64,
    },
    /// Redis failed or is unreachable (the source: fred's error).
    #[error("Redis failed")]
    Redis(#[from] fred::error::Error),
}
