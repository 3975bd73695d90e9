//! The emulator's error type.

use std::io;

/// What went wrong starting or driving the emulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The listening socket could not be bound.
    #[error("cannot bind the emulator to {addr}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// No tenant with this name (or application id).
    #[error("unknown tenant {0:?}")]
    UnknownTenant(String),
    /// No guild with this id.
    #[error("unknown guild {0}")]
    UnknownGuild(u64),
    /// No channel with this id (or the tenant cannot see it).
    #[error("unknown channel {0}")]
    UnknownChannel(u64),
    /// No message with this id in the channel.
    #[error("unknown message {0}")]
    UnknownMessage(u64),
    /// No member with this id in the guild.
    #[error("unknown member {0}")]
    UnknownMember(u64),
    /// The request is malformed (the text says how).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A condition did not become true in time.
    #[error("condition not met within {0:?}")]
    Timeout(std::time::Duration),
}

/// A Discord-shaped REST error: an HTTP status and `{"message", "code"[, "errors"]}`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) body: serde_json::Value,
}

impl ApiError {
    /// An error with Discord's JSON error code.
    pub(crate) fn new(status: u16, message: &str, code: u32) -> Self {
        Self {
            status,
            body: serde_json::json!({"message": message, "code": code}),
        }
    }

    /// 401 for a missing or bad bot token.
    pub(crate) fn unauthorized() -> Self {
        Self::new(401, "401: Unauthorized", 0)
    }

    /// 401 for an unknown or expired interaction/webhook token (code 50027).
    pub(crate) fn invalid_webhook_token() -> Self {
        Self::new(401, "Invalid Webhook Token", 50027)
    }

    /// 404 for an unknown route.
    pub(crate) fn not_found() -> Self {
        Self::new(404, "404: Not Found", 0)
    }

    /// 403 Missing Access (50001).
    pub(crate) fn missing_access() -> Self {
        Self::new(403, "Missing Access", 50001)
    }

    /// 400 Invalid Form Body (50035) with Discord's nested `errors` for one field.
    pub(crate) fn form(field: &str, code: &str, message: &str) -> Self {
        let mut e = Self::new(400, "Invalid Form Body", 50035);
        e.body["errors"] = serde_json::json!({
            field: {"_errors": [{"code": code, "message": message}]}
        });
        e
    }
}

impl From<SimError> for ApiError {
    fn from(e: SimError) -> Self {
        match e {
            SimError::UnknownChannel(_) => Self::new(404, "Unknown Channel", 10003),
            SimError::UnknownMessage(_) => Self::new(404, "Unknown Message", 10008),
            SimError::UnknownGuild(_) => Self::new(404, "Unknown Guild", 10004),
            SimError::UnknownMember(_) => Self::new(404, "Unknown Member", 10007),
            SimError::UnknownTenant(_) => Self::new(404, "Unknown Application", 10002),
            SimError::Invalid(m) => Self::form("_root", "BASE_TYPE_INVALID", &m),
            SimError::Bind { .. } | SimError::Timeout(_) => {
                Self::new(500, "500: Internal Server Error", 0)
            }
        }
    }
}
