//! Stable identities of gateway events: the envelope id of a dispatch is derived from
//! Discord's own ids, so the first delivery and every replay of the same dispatch —
//! a RESUME after a reconnect, after a restart, or on the node that took the tenant
//! over — are one envelope (one idempotency mark per handler, one reply nonce).
//!
//! | event | identity |
//! | --- | --- |
//! | message created / deleted | message id |
//! | message updated | message id + `edited_timestamp` |
//! | interaction | interaction id |
//! | member joined | guild + user + `joined_at` |
//! | anything else | gateway session id + sequence number (what RESUME replays) |
//!
//! The tenant is part of every key: two bots seeing one message are two envelopes.
//! A raw payload is its event's identity with a `raw:` prefix.

use crate::model::{EnvelopeId, Event, TenantId};

/// Discord's epoch (2015-01-01T00:00:00Z) in Unix milliseconds.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// Where a dispatch arrived: its gateway session and sequence number. A RESUME of the
/// session replays the same pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayOrigin<'a> {
    /// The gateway session id.
    pub session_id: &'a str,
    /// The dispatch's sequence number in that session.
    pub sequence: u64,
}

/// The Unix milliseconds a snowflake was made at (`None` if `id` is not one).
fn snowflake_ms(id: &str) -> Option<u64> {
    id.parse::<u64>().ok().map(|s| (s >> 22) + DISCORD_EPOCH_MS)
}

/// The event's identity from Discord's ids: its time (for the ULID's time part) and a
/// key, or `None` for events Discord gives no stable id.
fn provider_identity(event: &Event) -> Option<(u64, String)> {
    let ms = |v: i64| u64::try_from(v).unwrap_or(0);
    match event {
        Event::SocialMessageCreated(m) => Some((
            snowflake_ms(&m.message_id).unwrap_or_else(|| ms(m.timestamp_ms)),
            format!("message_created:{}", m.message_id),
        )),
        Event::SocialMessageUpdated(m) => m.edited_timestamp_ms.map(|edited| {
            (
                ms(edited),
                format!("message_updated:{}:{edited}", m.message_id),
            )
        }),
        Event::SocialMessageDeleted(m) => Some((
            snowflake_ms(&m.message_id).unwrap_or(0),
            format!("message_deleted:{}", m.message_id),
        )),
        Event::InteractionCreated(i) => Some((
            snowflake_ms(&i.interaction_id).unwrap_or(0),
            format!("interaction:{}", i.interaction_id),
        )),
        Event::MemberJoined(m) => m.joined_at_ms.map(|at| {
            (
                ms(at),
                format!("member_joined:{}:{}:{at}", m.guild_id, m.user.id),
            )
        }),
        _ => None,
    }
}

/// The envelope id of `event` for `tenant` (`raw`: of its raw payload), derived from
/// Discord's ids, else from where it arrived; `None` when neither is known (a fresh
/// id is then the only choice).
#[must_use]
pub fn event_id(
    tenant: &TenantId,
    event: &Event,
    raw: bool,
    origin: Option<GatewayOrigin<'_>>,
) -> Option<EnvelopeId> {
    let (ts, key) = provider_identity(event).or_else(|| {
        origin.map(|o| {
            // No event time is known: the ULID time part is 0, the key still unique.
            (0, format!("gateway:{}:{}", o.session_id, o.sequence))
        })
    })?;
    let raw = if raw { "raw:" } else { "" };
    let full = format!("{}:{}:{raw}{key}", tenant.provider, tenant.tenant);
    Some(EnvelopeId::derived(ts, full.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MemberLeft, SocialMessageCreated, SocialMessageUpdated, UserRef};

    fn tenant(name: &str) -> TenantId {
        TenantId::parse("discord", name).expect("valid tenant")
    }

    fn user() -> UserRef {
        UserRef {
            id: "80351110224678912".into(),
            name: "nelly".into(),
            display_name: None,
            bot: false,
        }
    }

    fn message(id: &str, content: &str) -> Event {
        Event::SocialMessageCreated(SocialMessageCreated {
            message_id: id.into(),
            channel_id: "41771983423143937".into(),
            guild_id: None,
            author: user(),
            content: content.into(),
            attachments: vec![],
            mentions: vec![],
            reply_to: None,
            timestamp_ms: 1_700_000_000_000,
            from_self: false,
        })
    }

    #[test]
    fn a_message_keeps_its_id_across_replays_and_nodes() {
        let t = tenant("duck");
        let first = event_id(&t, &message("334385199974967042", "hi"), false, None);
        // A replay arrives in another session with another sequence number.
        let origin = GatewayOrigin {
            session_id: "other",
            sequence: 99,
        };
        let replay = event_id(
            &t,
            &message("334385199974967042", "hi"),
            false,
            Some(origin),
        );
        assert!(first.is_some());
        assert_eq!(first, replay);
        // Its time part is the snowflake's time.
        let ms = first.map(|id| id.0.timestamp_ms());
        assert_eq!(
            ms,
            Some((334_385_199_974_967_042_u64 >> 22) + DISCORD_EPOCH_MS)
        );
    }

    #[test]
    fn ids_differ_by_message_tenant_raw_and_edit() {
        let duck = tenant("duck");
        let goose = tenant("goose");
        let m = message("334385199974967042", "hi");
        let id = |t: &TenantId, e: &Event, raw| event_id(t, e, raw, None);
        let base = id(&duck, &m, false);
        assert_ne!(base, id(&goose, &m, false));
        assert_ne!(base, id(&duck, &m, true));
        assert_ne!(base, id(&duck, &message("334385199974967043", "hi"), false));
        let edit = |at| {
            Event::SocialMessageUpdated(SocialMessageUpdated {
                message_id: "334385199974967042".into(),
                channel_id: "41771983423143937".into(),
                guild_id: None,
                author: None,
                content: Some("hey".into()),
                edited_timestamp_ms: at,
            })
        };
        assert_ne!(
            id(&duck, &edit(Some(1)), false),
            id(&duck, &edit(Some(2)), false)
        );
        assert_eq!(
            id(&duck, &edit(Some(1)), false),
            id(&duck, &edit(Some(1)), false)
        );
        // An update without an edit time has no provider identity.
        assert_eq!(id(&duck, &edit(None), false), None);
    }

    #[test]
    fn events_without_provider_ids_fall_back_to_session_and_sequence() {
        let t = tenant("duck");
        let left = Event::MemberLeft(MemberLeft {
            guild_id: "197038439483310086".into(),
            user: user(),
        });
        let at = |session, sequence| GatewayOrigin {
            session_id: session,
            sequence,
        };
        assert_eq!(event_id(&t, &left, false, None), None);
        let a = event_id(&t, &left, false, Some(at("s1", 7)));
        assert!(a.is_some());
        assert_eq!(a, event_id(&t, &left, false, Some(at("s1", 7))));
        assert_ne!(a, event_id(&t, &left, false, Some(at("s1", 8))));
        assert_ne!(a, event_id(&t, &left, false, Some(at("s2", 7))));
    }
}
