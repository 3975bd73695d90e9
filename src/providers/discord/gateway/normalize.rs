//! The dispatch entry point and the message, member and user conversions.

use secrecy::SecretString;
use twilight_gateway::EventTypeFlags;
use twilight_model::channel::Message;
use twilight_model::channel::message::{Mention, MessageType};
use twilight_model::gateway::event::DispatchEvent as Dispatch;
use twilight_model::guild::PartialMember;
use twilight_model::id::Id;
use twilight_model::id::marker::UserMarker;
use twilight_model::user::User;
use twilight_model::util::Timestamp;

use crate::model::{
    Attachment, Event, MemberJoined, MemberLeft, MemberUpdated, SocialMessageCreated,
    SocialMessageDeleted, SocialMessageUpdated, UserRef,
};

/// The dispatches the gateway parses: what [`normalize`] understands, plus READY (the
/// bot's own user id) and RESUMED (health). Everything else is skipped unparsed.
pub const WANTED_EVENTS: EventTypeFlags = EventTypeFlags::READY
    .union(EventTypeFlags::RESUMED)
    .union(EventTypeFlags::MESSAGE_CREATE)
    .union(EventTypeFlags::MESSAGE_UPDATE)
    .union(EventTypeFlags::MESSAGE_DELETE)
    .union(EventTypeFlags::INTERACTION_CREATE)
    .union(EventTypeFlags::MEMBER_ADD)
    .union(EventTypeFlags::MEMBER_REMOVE)
    .union(EventTypeFlags::MEMBER_UPDATE);

/// An interaction's token, taken out of the event. `Debug` redacts the token.
#[derive(Debug, Clone)]
pub struct InteractionToken {
    /// The interaction id (the event's `interaction_id`).
    pub interaction_id: String,
    /// The application the interaction belongs to.
    pub application_id: String,
    /// The token that authorises the callback, followups and edits for 15 minutes.
    pub token: SecretString,
}

/// A normalized dispatch.
#[derive(Debug, Clone)]
pub struct Normalized {
    /// The provider-neutral event (never holds a token).
    pub event: Event,
    /// For interactions: the token, for the access layer only.
    pub interaction: Option<InteractionToken>,
}

impl Normalized {
    fn event(event: Event) -> Self {
        Self {
            event,
            interaction: None,
        }
    }
}

/// Normalizes one dispatch; `None` for dispatches the model has no event for.
/// `self_id` (the bot's user id, from READY) marks the bot's own messages `from_self`.
#[must_use]
pub fn normalize(event: Dispatch, self_id: Option<Id<UserMarker>>) -> Option<Normalized> {
    Some(match event {
        Dispatch::MessageCreate(m) => Normalized::event(Event::SocialMessageCreated(
            message_created(m.message, self_id),
        )),
        Dispatch::MessageUpdate(m) => {
            Normalized::event(Event::SocialMessageUpdated(message_updated((*m).0)))
        }
        Dispatch::MessageDelete(d) => {
            Normalized::event(Event::SocialMessageDeleted(SocialMessageDeleted {
                message_id: d.id.to_string(),
                channel_id: d.channel_id.to_string(),
                guild_id: d.guild_id.map(|g| g.to_string()),
            }))
        }
        Dispatch::InteractionCreate(i) => return super::interaction::interaction((*i).0),
        Dispatch::MemberAdd(m) => {
            let m = *m;
            let display = m.member.nick.clone();
            Normalized::event(Event::MemberJoined(MemberJoined {
                guild_id: m.guild_id.to_string(),
                user: user_ref(m.member.user, display),
                nick: m.member.nick,
                roles: m.member.roles.iter().map(ToString::to_string).collect(),
                joined_at_ms: m.member.joined_at.map(unix_ms),
            }))
        }
        Dispatch::MemberRemove(m) => Normalized::event(Event::MemberLeft(MemberLeft {
            guild_id: m.guild_id.to_string(),
            user: user_ref(m.user, None),
        })),
        Dispatch::MemberUpdate(m) => {
            let m = *m;
            let display = m.nick.clone();
            Normalized::event(Event::MemberUpdated(MemberUpdated {
                guild_id: m.guild_id.to_string(),
                user: user_ref(m.user, display),
                nick: m.nick,
                roles: m.roles.iter().map(ToString::to_string).collect(),
            }))
        }
        _ => return None,
    })
}

/// A Discord timestamp as Unix milliseconds.
#[must_use]
pub fn unix_ms(t: Timestamp) -> i64 {
    t.as_micros().div_euclid(1000)
}

/// A user, with the display name preferred by Discord: the guild nickname, else the
/// global display name; kept only when it differs from the account name.
pub(super) fn user_ref(user: User, nick: Option<String>) -> UserRef {
    let display_name = nick.or(user.global_name).filter(|d| *d != user.name);
    UserRef {
        id: user.id.to_string(),
        name: user.name,
        display_name,
        bot: user.bot,
    }
}

fn mention_ref(m: Mention) -> UserRef {
    let display_name = m
        .member
        .and_then(|pm: PartialMember| pm.nick)
        .filter(|d| *d != m.name);
    UserRef {
        id: m.id.to_string(),
        name: m.name,
        display_name,
        bot: m.bot,
    }
}

fn message_created(m: Message, self_id: Option<Id<UserMarker>>) -> SocialMessageCreated {
    let from_self = self_id.is_some_and(|me| me == m.author.id);
    let nick = m.member.and_then(|pm| pm.nick);
    let reply_to = (m.kind == MessageType::Reply)
        .then(|| m.reference.and_then(|r| r.message_id))
        .flatten()
        .map(|id| id.to_string());
    SocialMessageCreated {
        message_id: m.id.to_string(),
        channel_id: m.channel_id.to_string(),
        guild_id: m.guild_id.map(|g| g.to_string()),
        author: user_ref(m.author, nick),
        content: m.content,
        attachments: m
            .attachments
            .into_iter()
            .map(|a| Attachment {
                id: a.id.to_string(),
                filename: a.filename,
                url: a.url,
                size: a.size,
                content_type: a.content_type,
            })
            .collect(),
        mentions: m.mentions.into_iter().map(mention_ref).collect(),
        reply_to,
        timestamp_ms: unix_ms(m.timestamp),
        from_self,
    }
}

fn message_updated(m: Message) -> SocialMessageUpdated {
    let nick = m.member.and_then(|pm| pm.nick);
    SocialMessageUpdated {
        message_id: m.id.to_string(),
        channel_id: m.channel_id.to_string(),
        guild_id: m.guild_id.map(|g| g.to_string()),
        author: Some(user_ref(m.author, nick)),
        content: Some(m.content),
        edited_timestamp_ms: m.edited_timestamp.map(unix_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_unix_milliseconds() {
        let t = Timestamp::parse("2017-07-11T17:27:07.299000+00:00").expect("valid");
        assert_eq!(unix_ms(t), 1_499_794_027_299);
        let early = Timestamp::from_micros(-1_500).expect("valid");
        assert_eq!(unix_ms(early), -2);
    }
}
