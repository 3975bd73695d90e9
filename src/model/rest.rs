//! The answer to a [`Command`](super::Command): what the provider said, in a shape
//! handlers can act on without knowing the provider.

use serde::{Deserialize, Serialize};

use super::event::SocialMessageCreated;

/// Why a command failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RestErrorKind {
    /// The provider rate-limited the request and the retry budget ran out.
    RateLimited,
    /// The credential was rejected; the tenant is marked failed.
    Unauthorized,
    /// The bot lacks a permission.
    Forbidden,
    /// The target does not exist.
    NotFound,
    /// The provider rejected the request as malformed.
    InvalidRequest,
    /// The interaction's token expired or is unknown.
    InteractionExpired,
    /// The provider failed (5xx) after every retry.
    ServerError,
    /// No answer within the deadline.
    Timeout,
    /// The tenant's circuit breaker is open after repeated failures.
    CircuitOpen,
    /// The process-wide invalid-request budget is nearly spent; sending was refused to
    /// avoid a ban.
    BudgetExhausted,
    /// The tenant is failed or stopped.
    TenantUnavailable,
    /// The command cannot be expressed for this provider.
    Unsupported,
    /// Anything else.
    Other,
}

/// What a successful command produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RestResult {
    /// Nothing to report (role changes, deferrals).
    Empty,
    /// A message was created or edited.
    Message {
        /// Its id.
        message_id: String,
        /// Its channel.
        channel_id: String,
    },
    /// A page of history, newest first.
    History(Vec<SocialMessageCreated>),
}

/// The access layer's answer to one command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestResponse {
    /// Whether the command succeeded.
    pub ok: bool,
    /// The provider's HTTP status (0 when no request was sent).
    pub status: u16,
    /// The rate-limit bucket the request fell in, when known.
    #[serde(default)]
    pub bucket: Option<String>,
    /// How long the caller should wait before a retry, when rate-limited.
    #[serde(default)]
    pub retry_after_ms: Option<u64>,
    /// Why it failed.
    #[serde(default)]
    pub error_kind: Option<RestErrorKind>,
    /// A human-readable error (never contains a credential).
    #[serde(default)]
    pub error: Option<String>,
    /// The provider's error code, when it sent one (Discord JSON `code`).
    #[serde(default)]
    pub code: Option<u32>,
    /// What it produced.
    #[serde(default)]
    pub result: Option<RestResult>,
}

impl RestResponse {
    /// A success with `status` and `result`.
    #[must_use]
    pub fn success(status: u16, result: RestResult) -> Self {
        Self {
            ok: true,
            status,
            bucket: None,
            retry_after_ms: None,
            error_kind: None,
            error: None,
            code: None,
            result: Some(result),
        }
    }

    /// A failure of `kind` with `status` and a message.
    #[must_use]
    pub fn failure(status: u16, kind: RestErrorKind, error: impl Into<String>) -> Self {
        Self {
            ok: false,
            status,
            bucket: None,
            retry_after_ms: None,
            error_kind: Some(kind),
            error: Some(error.into()),
            code: None,
            result: None,
        }
    }
}
