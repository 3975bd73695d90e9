//! Discord's REST answers read as provider-neutral facts: an error body
//! (`{"code": 10062, "message": "Unknown interaction"}`) as an [`ApiError`] with its
//! [`RestErrorKind`], and the ids in a message or channel object. The REST actor
//! decides what to do with them; what Discord's JSON and codes mean lives here.

use serde_json::Value;

use crate::model::RestErrorKind;

/// JSON error code 10015: Unknown webhook (an interaction's webhook is gone).
pub const UNKNOWN_WEBHOOK: u32 = 10015;
/// JSON error code 10062: Unknown interaction (not answered within 3 s, or too old).
pub const UNKNOWN_INTERACTION: u32 = 10062;
/// JSON error code 40060: Interaction has already been acknowledged.
pub const ALREADY_ACKNOWLEDGED: u32 = 40060;
/// JSON error code 50027: Invalid webhook token (an interaction token past 15 min).
pub const INVALID_WEBHOOK_TOKEN: u32 = 50027;

/// A Discord error response: its HTTP status, JSON error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// Discord's JSON error code, when the body had one.
    pub code: Option<u32>,
    /// Discord's message, or `HTTP <status>` when the body is not Discord's JSON.
    pub message: String,
}

impl ApiError {
    /// Reads an error response's body (`{"code": .., "message": ..}`); a body that is
    /// not Discord's JSON keeps only the status.
    #[must_use]
    pub fn parse(status: u16, body: &[u8]) -> Self {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let code = parsed
            .as_ref()
            .and_then(|j| j.get("code"))
            .and_then(Value::as_u64)
            .and_then(|c| u32::try_from(c).ok());
        let message = parsed
            .as_ref()
            .and_then(|j| j.get("message"))
            .and_then(Value::as_str)
            .map_or_else(|| format!("HTTP {status}"), str::to_owned);
        Self {
            status,
            code,
            message,
        }
    }

    /// Whether the error says an interaction can no longer be answered (unknown
    /// interaction or webhook, or an expired webhook token). Only meaningful for a
    /// call made with an interaction's token.
    #[must_use]
    pub fn interaction_gone(&self) -> bool {
        matches!(
            self.code,
            Some(UNKNOWN_INTERACTION | UNKNOWN_WEBHOOK | INVALID_WEBHOOK_TOKEN)
        )
    }

    /// The provider-neutral kind of this error. `interaction` says whether the call
    /// was made with an interaction's token (then a gone interaction is
    /// [`RestErrorKind::InteractionExpired`], not a plain 404). A 401 is
    /// [`RestErrorKind::Unauthorized`] here; the caller decides whose credential it
    /// was.
    #[must_use]
    pub fn kind(&self, interaction: bool) -> RestErrorKind {
        match self.status {
            _ if interaction && self.interaction_gone() => RestErrorKind::InteractionExpired,
            401 => RestErrorKind::Unauthorized,
            400 | 405 | 413 | 422 => RestErrorKind::InvalidRequest,
            403 => RestErrorKind::Forbidden,
            404 => RestErrorKind::NotFound,
            429 => RestErrorKind::RateLimited,
            500..=599 => RestErrorKind::ServerError,
            _ => RestErrorKind::Other,
        }
    }
}

/// The `(id, channel_id)` of a message object, or `None` if the body is not one.
#[must_use]
pub fn message_ids(body: &[u8]) -> Option<(String, String)> {
    let m: Value = serde_json::from_slice(body).ok()?;
    let id = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
    Some((id("id")?, id("channel_id")?))
}

/// The id of a channel object (e.g. the DM channel `POST /users/@me/channels`
/// returns), or `None`.
#[must_use]
pub fn channel_id(body: &[u8]) -> Option<u64> {
    let c: Value = serde_json::from_slice(body).ok()?;
    c.get("id")?.as_str()?.parse().ok()
}

/// The id of a user object (`GET /users/@me`), or `None`.
#[must_use]
pub fn user_id(body: &[u8]) -> Option<u64> {
    channel_id(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_code_and_message() {
        let e = ApiError::parse(404, br#"{"code": 10062, "message": "Unknown interaction"}"#);
        assert_eq!(e.code, Some(UNKNOWN_INTERACTION));
        assert_eq!(e.message, "Unknown interaction");
        assert_eq!(e.kind(true), RestErrorKind::InteractionExpired);
        assert_eq!(e.kind(false), RestErrorKind::NotFound);
    }

    #[test]
    fn a_body_that_is_not_json_keeps_the_status() {
        let e = ApiError::parse(502, b"<html>bad gateway</html>");
        assert_eq!(e.code, None);
        assert_eq!(e.message, "HTTP 502");
        assert_eq!(e.kind(false), RestErrorKind::ServerError);
    }

    #[test]
    fn kinds_follow_the_status() {
        for (status, kind) in [
            (400, RestErrorKind::InvalidRequest),
            (401, RestErrorKind::Unauthorized),
            (403, RestErrorKind::Forbidden),
            (429, RestErrorKind::RateLimited),
            (418, RestErrorKind::Other),
        ] {
            assert_eq!(ApiError::parse(status, b"{}").kind(false), kind, "{status}");
        }
    }

    #[test]
    fn ids_of_objects() {
        let m = br#"{"id": "1", "channel_id": "2", "content": "x"}"#;
        assert_eq!(message_ids(m), Some(("1".into(), "2".into())));
        assert_eq!(message_ids(br#"{"id": "1"}"#), None);
        assert_eq!(channel_id(br#"{"id": "42", "type": 1}"#), Some(42));
        assert_eq!(channel_id(b"not json"), None);
    }
}
