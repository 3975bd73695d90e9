//! REST messages (`GET /channels/{id}/messages`) normalized into
//! [`SocialMessageCreated`], for backfill.
//!
//! The gateway normalizes `MESSAGE_CREATE` payloads with its own mapping; REST message
//! objects have the same shape, and this small mapping keeps the access layer's REST
//! half independent of the gateway half.

use twilight_model::channel::Message;

use crate::model::{Attachment, SocialMessageCreated, UserRef};

/// Normalizes one REST message. `bot_user_id`: the tenant's bot, to tag its own
/// messages (`from_self`), when known.
#[must_use]
pub fn message_to_event(m: &Message, bot_user_id: Option<u64>) -> SocialMessageCreated {
    let display_name = m
        .member
        .as_ref()
        .and_then(|mb| mb.nick.clone())
        .or_else(|| m.author.global_name.clone())
        .filter(|n| n != &m.author.name);
    SocialMessageCreated {
        message_id: m.id.to_string(),
        channel_id: m.channel_id.to_string(),
        guild_id: m.guild_id.map(|g| g.to_string()),
        author: UserRef {
            id: m.author.id.to_string(),
            name: m.author.name.clone(),
            display_name,
            bot: m.author.bot,
        },
        content: m.content.clone(),
        attachments: m
            .attachments
            .iter()
            .map(|a| Attachment {
                id: a.id.to_string(),
                filename: a.filename.clone(),
                url: a.url.clone(),
                size: a.size,
                content_type: a.content_type.clone(),
            })
            .collect(),
        mentions: m
            .mentions
            .iter()
            .map(|u| UserRef {
                id: u.id.to_string(),
                name: u.name.clone(),
                display_name: None,
                bot: u.bot,
            })
            .collect(),
        reply_to: m
            .reference
            .as_ref()
            .and_then(|r| r.message_id)
            .map(|id| id.to_string()),
        timestamp_ms: m.timestamp.as_micros() / 1000,
        from_self: bot_user_id.is_some_and(|b| m.author.id.get() == b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_documented_message() {
        let json = r#"{
            "id": "334385199974967042", "channel_id": "290926798999357250",
            "author": {"id": "53908099506183680", "username": "mason", "discriminator": "0",
                       "global_name": "Mason", "avatar": null},
            "content": "hi <@1>", "timestamp": "2017-07-11T17:27:07.299000+00:00",
            "edited_timestamp": null, "tts": false, "mention_everyone": false,
            "mentions": [{"id": "1", "username": "duck", "discriminator": "0", "avatar": null, "bot": true, "public_flags": 0}],
            "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "type": 0,
            "message_reference": {"type": 0, "message_id": "7", "channel_id": "290926798999357250"}
        }"#;
        let m: Message = serde_json::from_str(json).expect("a documented message parses");
        let e = message_to_event(&m, Some(53_908_099_506_183_680));
        assert_eq!(e.author.display_name.as_deref(), Some("Mason"));
        assert_eq!(e.mentions[0].id, "1");
        assert!(e.mentions[0].bot);
        assert_eq!(e.reply_to.as_deref(), Some("7"));
        assert_eq!(e.timestamp_ms, 1_499_794_027_299);
        assert!(e.from_self);
    }
}
