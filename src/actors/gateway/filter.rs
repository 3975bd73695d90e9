//! The tenant's `allow` lists applied to normalized events.
//!
//! Guild ids must be listed (or `"*"`); a direct message has no guild and passes only
//! with `"*"`. Channel ids are checked for events that happen in a channel; member
//! events have none and are judged by their guild alone.

use crate::config::AllowConfig;
use crate::model::Event;

fn listed(list: &[String], id: Option<&str>) -> bool {
    list.iter().any(|a| a == "*") || id.is_some_and(|id| list.iter().any(|a| a == id))
}

/// Whether `event` passes `allow`.
pub(super) fn allowed(allow: &AllowConfig, event: &Event) -> bool {
    let (guild, channel) = match event {
        Event::SocialMessageCreated(m) => (m.guild_id.as_deref(), Some(m.channel_id.as_str())),
        Event::SocialMessageUpdated(m) => (m.guild_id.as_deref(), Some(m.channel_id.as_str())),
        Event::SocialMessageDeleted(m) => (m.guild_id.as_deref(), Some(m.channel_id.as_str())),
        Event::InteractionCreated(i) => (i.guild_id.as_deref(), i.channel_id.as_deref()),
        Event::MemberJoined(m) => (Some(m.guild_id.as_str()), None),
        Event::MemberLeft(m) => (Some(m.guild_id.as_str()), None),
        Event::MemberUpdated(m) => (Some(m.guild_id.as_str()), None),
        // Jobs come from the runtime's scheduler, never through a gateway.
        Event::Job(_) => return true,
    };
    listed(&allow.guilds, guild) && (channel.is_none() || listed(&allow.channels, channel))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MemberLeft, SocialMessageDeleted, UserRef};

    fn msg(guild: Option<&str>, channel: &str) -> Event {
        Event::SocialMessageDeleted(SocialMessageDeleted {
            message_id: "1".into(),
            channel_id: channel.into(),
            guild_id: guild.map(Into::into),
        })
    }

    #[test]
    fn lists_and_direct_messages() {
        let allow = AllowConfig {
            guilds: vec!["10".into()],
            channels: vec!["20".into()],
        };
        assert!(allowed(&allow, &msg(Some("10"), "20")));
        assert!(!allowed(&allow, &msg(Some("10"), "21")));
        assert!(!allowed(&allow, &msg(Some("11"), "20")));
        assert!(!allowed(&allow, &msg(None, "20")), "DMs need guilds: *");
        let left = Event::MemberLeft(MemberLeft {
            guild_id: "10".into(),
            user: UserRef {
                id: "1".into(),
                name: "a".into(),
                display_name: None,
                bot: false,
            },
        });
        assert!(allowed(&allow, &left), "member events have no channel");
        assert!(allowed(&AllowConfig::default(), &msg(None, "5")));
    }
}
