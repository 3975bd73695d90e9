//! The message store: every message in every channel (injected by the control API or
//! posted by a bot), Discord's message object, and the `MESSAGE_CONTENT` rules.

use std::collections::HashMap;
use std::time::Instant;

use serde_json::{Value, json};

use super::cdn::{self, StoredAttachment};
use super::error::ApiError;
use super::payloads::{self, SimUser};

/// Message flag `EPHEMERAL`.
pub(crate) const EPHEMERAL: u64 = 1 << 6;
/// Message flag `LOADING` (a deferred interaction response).
pub(crate) const LOADING: u64 = 1 << 7;
/// Flags a bot may set: `SUPPRESS_EMBEDS`, `EPHEMERAL`, `SUPPRESS_NOTIFICATIONS`,
/// `IS_COMPONENTS_V2`.
const SETTABLE_FLAGS: u64 = (1 << 2) | EPHEMERAL | (1 << 12) | (1 << 15);

/// User ids mentioned as `<@id>` or `<@!id>` in a text.
pub(crate) fn parse_mentions(content: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for part in content.split("<@").skip(1) {
        let part = part.strip_prefix('!').unwrap_or(part);
        if let Some((digits, _)) = part.split_once('>')
            && let Ok(id) = digits.parse::<u64>()
            && !out.contains(&id)
        {
            out.push(id);
        }
    }
    out
}

/// Applies a create/edit-message body (`content`, `embeds`, `components`, `flags`)
/// to a message, validating as Discord does. `creating`: refuse an empty message.
pub(crate) fn apply_body(
    msg: &mut StoredMessage,
    body: &Value,
    creating: bool,
) -> Result<(), ApiError> {
    match body.get("content") {
        Some(Value::String(s)) => {
            if s.chars().count() > 2000 {
                return Err(ApiError::form(
                    "content",
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 2000 or fewer in length.",
                ));
            }
            msg.content.clone_from(s);
        }
        Some(Value::Null) => msg.content.clear(),
        Some(_) => {
            return Err(ApiError::form(
                "content",
                "BASE_TYPE_STRING",
                "Must be a string.",
            ));
        }
        None => {}
    }
    for (field, max) in [("embeds", 10), ("components", 40)] {
        match body.get(field) {
            Some(Value::Array(a)) if a.len() <= max => {
                let v = Value::Array(a.clone());
                if field == "embeds" {
                    msg.embeds = v;
                } else {
                    msg.components = v;
                }
            }
            Some(Value::Null) => {
                if field == "embeds" {
                    msg.embeds = json!([]);
                } else {
                    msg.components = json!([]);
                }
            }
            Some(_) => {
                return Err(ApiError::form(
                    field,
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be a list of at most the allowed length.",
                ));
            }
            None => {}
        }
    }
    if let Some(f) = body.get("flags").and_then(Value::as_u64) {
        msg.flags = (msg.flags & !SETTABLE_FLAGS) | (f & SETTABLE_FLAGS);
    }
    let is_empty = |v: &Value| v.as_array().is_none_or(Vec::is_empty);
    let has_extra = ["sticker_ids", "attachments", "poll"].iter().any(|k| {
        body.get(*k)
            .is_some_and(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
    });
    if creating
        && msg.content.is_empty()
        && is_empty(&msg.embeds)
        && is_empty(&msg.components)
        && !has_extra
    {
        return Err(ApiError::new(400, "Cannot send an empty message", 50006));
    }
    Ok(())
}

/// One stored message.
#[derive(Debug, Clone)]
pub(crate) struct StoredMessage {
    pub(crate) id: u64,
    pub(crate) channel_id: u64,
    pub(crate) guild_id: Option<u64>,
    /// Index of the tenant whose bot authored it (`None` for injected users).
    pub(crate) tenant: Option<usize>,
    pub(crate) author: SimUser,
    pub(crate) content: String,
    pub(crate) embeds: Value,
    pub(crate) components: Value,
    pub(crate) mentions: Vec<SimUser>,
    pub(crate) nonce: Option<Value>,
    pub(crate) created: Instant,
    pub(crate) edited_unix_ms: Option<u64>,
    /// Discord message type (0 default, 19 reply, 20 chat-input command).
    pub(crate) kind: u8,
    pub(crate) message_reference: Option<Value>,
    pub(crate) flags: u64,
    pub(crate) webhook_id: Option<u64>,
    pub(crate) interaction_id: Option<u64>,
    pub(crate) application_id: Option<u64>,
    /// Files attached by an injected user (served by the emulator's CDN).
    pub(crate) attachments: Vec<StoredAttachment>,
}

impl StoredMessage {
    /// Discord's message object, without `member`/`referenced_message`.
    pub(crate) fn to_json(&self) -> Value {
        let mut m = json!({
            "id": self.id.to_string(),
            "channel_id": self.channel_id.to_string(),
            "author": payloads::user(&self.author),
            "content": self.content,
            "timestamp": payloads::iso8601(payloads::snowflake_unix_ms(self.id)),
            "edited_timestamp": self.edited_unix_ms.map(payloads::iso8601),
            "tts": false,
            "mention_everyone": false,
            "mentions": self.mentions.iter().map(payloads::user).collect::<Vec<_>>(),
            "mention_roles": [],
            "mention_channels": [],
            "attachments": cdn::to_json(&self.attachments),
            "embeds": self.embeds,
            "components": self.components,
            "reactions": [],
            "sticker_items": [],
            "pinned": false,
            "type": self.kind,
            "flags": self.flags,
        });
        if let Some(g) = self.guild_id {
            m["guild_id"] = json!(g.to_string());
        }
        if let Some(n) = &self.nonce {
            m["nonce"] = n.clone();
        }
        if let Some(r) = &self.message_reference {
            m["message_reference"] = r.clone();
        }
        if let Some(w) = self.webhook_id {
            m["webhook_id"] = json!(w.to_string());
        }
        if let Some(a) = self.application_id {
            m["application_id"] = json!(a.to_string());
        }
        m
    }

    /// Whether a bot (user id `bot_id`) may see this message's content without the
    /// `MESSAGE_CONTENT` intent: DMs, messages mentioning it, and its own messages.
    pub(crate) fn content_visible_to(&self, bot_id: u64) -> bool {
        self.guild_id.is_none()
            || self.author.id == bot_id
            || self.mentions.iter().any(|u| u.id == bot_id)
    }

    /// The message object as a bot sees it (`has_intent`: `MESSAGE_CONTENT` granted).
    pub(crate) fn view(&self, bot_id: u64, has_intent: bool) -> Value {
        let mut m = self.to_json();
        if !has_intent && !self.content_visible_to(bot_id) {
            payloads::redact_content(&mut m);
        }
        m
    }
}

/// Messages per channel, oldest first (ids grow with time).
#[derive(Debug, Default)]
pub(crate) struct MessageStore {
    channels: HashMap<u64, Vec<StoredMessage>>,
}

/// `before`/`after`/`around` of a get-messages request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    /// The newest messages.
    Latest,
    /// Older than this id.
    Before(u64),
    /// Newer than this id.
    After(u64),
    /// Around this id (it included).
    Around(u64),
}

impl MessageStore {
    /// Stores a message.
    pub(crate) fn insert(&mut self, m: StoredMessage) {
        let list = self.channels.entry(m.channel_id).or_default();
        let pos = list.partition_point(|x| x.id < m.id);
        list.insert(pos, m);
    }

    /// A message by channel and id.
    pub(crate) fn get(&self, channel: u64, id: u64) -> Option<&StoredMessage> {
        let list = self.channels.get(&channel)?;
        let pos = list.binary_search_by_key(&id, |m| m.id).ok()?;
        list.get(pos)
    }

    /// A message by channel and id, mutable.
    pub(crate) fn get_mut(&mut self, channel: u64, id: u64) -> Option<&mut StoredMessage> {
        let list = self.channels.get_mut(&channel)?;
        let pos = list.binary_search_by_key(&id, |m| m.id).ok()?;
        list.get_mut(pos)
    }

    /// Removes a message.
    pub(crate) fn remove(&mut self, channel: u64, id: u64) -> Option<StoredMessage> {
        let list = self.channels.get_mut(&channel)?;
        let pos = list.binary_search_by_key(&id, |m| m.id).ok()?;
        Some(list.remove(pos))
    }

    /// Every message of a channel, oldest first.
    pub(crate) fn all(&self, channel: u64) -> &[StoredMessage] {
        self.channels.get(&channel).map_or(&[], Vec::as_slice)
    }

    /// Up to `limit` messages, newest first, as Discord's get-channel-messages.
    pub(crate) fn page(&self, channel: u64, anchor: Anchor, limit: usize) -> Vec<&StoredMessage> {
        let list = self.all(channel);
        let mut out: Vec<&StoredMessage> = match anchor {
            Anchor::Latest => list.iter().rev().take(limit).collect(),
            Anchor::Before(id) => {
                let end = list.partition_point(|m| m.id < id);
                list[..end].iter().rev().take(limit).collect()
            }
            Anchor::After(id) => {
                let start = list.partition_point(|m| m.id <= id);
                let mut v: Vec<_> = list[start..].iter().take(limit).collect();
                v.reverse();
                v
            }
            Anchor::Around(id) => {
                let center = list.partition_point(|m| m.id < id);
                let before = limit / 2;
                let start = center.saturating_sub(before);
                let end = (start + limit).min(list.len());
                let start = end.saturating_sub(limit);
                list[start..end].iter().rev().collect()
            }
        };
        out.truncate(limit);
        out
    }

    /// A message by this author in this channel with this nonce, created after `since`.
    pub(crate) fn find_nonce(
        &self,
        channel: u64,
        author: u64,
        nonce: &Value,
        since: Instant,
    ) -> Option<&StoredMessage> {
        self.all(channel).iter().rev().find(|m| {
            m.author.id == author && m.created >= since && m.nonce.as_ref() == Some(nonce)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: u64) -> StoredMessage {
        StoredMessage {
            id,
            channel_id: 1,
            guild_id: Some(2),
            tenant: None,
            author: SimUser {
                id: 5,
                username: "u".into(),
                bot: false,
            },
            content: "hi".into(),
            embeds: json!([]),
            components: json!([]),
            mentions: vec![],
            nonce: None,
            created: Instant::now(),
            edited_unix_ms: None,
            kind: 0,
            message_reference: None,
            flags: 0,
            webhook_id: None,
            interaction_id: None,
            application_id: None,
            attachments: Vec::new(),
        }
    }

    fn ids(v: &[&StoredMessage]) -> Vec<u64> {
        v.iter().map(|m| m.id).collect()
    }

    #[test]
    fn pages_are_newest_first() {
        let mut s = MessageStore::default();
        for id in 1..=10 {
            s.insert(msg(id * 10));
        }
        assert_eq!(ids(&s.page(1, Anchor::Latest, 3)), [100, 90, 80]);
        assert_eq!(ids(&s.page(1, Anchor::Before(50), 2)), [40, 30]);
        assert_eq!(ids(&s.page(1, Anchor::After(50), 2)), [70, 60]);
        assert_eq!(ids(&s.page(1, Anchor::Around(50), 3)), [60, 50, 40]);
        assert_eq!(ids(&s.page(1, Anchor::Around(10), 4)), [40, 30, 20, 10]);
        assert!(s.page(7, Anchor::Latest, 3).is_empty());
    }

    #[test]
    fn content_hidden_without_intent_unless_mentioned() {
        let mut m = msg(10);
        assert_eq!(m.view(9, false)["content"], "");
        assert_eq!(m.view(9, true)["content"], "hi");
        m.mentions.push(SimUser {
            id: 9,
            username: "bot".into(),
            bot: true,
        });
        assert_eq!(m.view(9, false)["content"], "hi");
        m.mentions.clear();
        m.guild_id = None;
        assert_eq!(m.view(9, false)["content"], "hi");
    }
}
