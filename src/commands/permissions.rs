//! A provider-neutral permission set with Discord's bit values: what a member needs
//! to see and run a command by default (`default_member_permissions`), and later what
//! a member has in a channel.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

bitflags::bitflags! {
    /// A set of member permissions. The bit values are Discord's (its "Permissions"
    /// reference), so the set crosses the wire as one integer; bits this list does
    /// not name are kept, not dropped.
    ///
    /// ```
    /// use switchboard::commands::Permissions;
    ///
    /// let p = Permissions::MANAGE_GUILD | Permissions::KICK_MEMBERS;
    /// assert_eq!(p.bits(), 0b10_0010);
    /// assert_eq!(p.to_string(), "KICK_MEMBERS | MANAGE_GUILD");
    /// assert!(p.contains(Permissions::MANAGE_GUILD));
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
    pub struct Permissions: u64 {
        /// Create instant invites.
        const CREATE_INSTANT_INVITE = 1 << 0;
        /// Kick members.
        const KICK_MEMBERS = 1 << 1;
        /// Ban members.
        const BAN_MEMBERS = 1 << 2;
        /// Every permission, and bypasses channel overwrites.
        const ADMINISTRATOR = 1 << 3;
        /// Manage and edit channels.
        const MANAGE_CHANNELS = 1 << 4;
        /// Manage and edit the guild.
        const MANAGE_GUILD = 1 << 5;
        /// Add reactions to messages.
        const ADD_REACTIONS = 1 << 6;
        /// View the audit log.
        const VIEW_AUDIT_LOG = 1 << 7;
        /// Priority speaker in a voice channel.
        const PRIORITY_SPEAKER = 1 << 8;
        /// Go live.
        const STREAM = 1 << 9;
        /// View a channel (read messages in text channels).
        const VIEW_CHANNEL = 1 << 10;
        /// Send messages.
        const SEND_MESSAGES = 1 << 11;
        /// Send text-to-speech messages.
        const SEND_TTS_MESSAGES = 1 << 12;
        /// Delete and pin other members' messages.
        const MANAGE_MESSAGES = 1 << 13;
        /// Links are embedded.
        const EMBED_LINKS = 1 << 14;
        /// Upload files.
        const ATTACH_FILES = 1 << 15;
        /// Read a channel's history.
        const READ_MESSAGE_HISTORY = 1 << 16;
        /// Mention `@everyone`, `@here` and every role.
        const MENTION_EVERYONE = 1 << 17;
        /// Use emojis from other guilds.
        const USE_EXTERNAL_EMOJIS = 1 << 18;
        /// View guild insights.
        const VIEW_GUILD_INSIGHTS = 1 << 19;
        /// Join a voice channel.
        const CONNECT = 1 << 20;
        /// Speak in a voice channel.
        const SPEAK = 1 << 21;
        /// Mute members in voice.
        const MUTE_MEMBERS = 1 << 22;
        /// Deafen members in voice.
        const DEAFEN_MEMBERS = 1 << 23;
        /// Move members between voice channels.
        const MOVE_MEMBERS = 1 << 24;
        /// Use voice activity detection.
        const USE_VAD = 1 << 25;
        /// Change one's own nickname.
        const CHANGE_NICKNAME = 1 << 26;
        /// Change other members' nicknames.
        const MANAGE_NICKNAMES = 1 << 27;
        /// Manage roles.
        const MANAGE_ROLES = 1 << 28;
        /// Manage webhooks.
        const MANAGE_WEBHOOKS = 1 << 29;
        /// Edit and delete emojis, stickers and soundboard sounds.
        const MANAGE_GUILD_EXPRESSIONS = 1 << 30;
        /// Use application commands.
        const USE_APPLICATION_COMMANDS = 1 << 31;
        /// Request to speak in stage channels.
        const REQUEST_TO_SPEAK = 1 << 32;
        /// Edit and delete scheduled events.
        const MANAGE_EVENTS = 1 << 33;
        /// Manage threads.
        const MANAGE_THREADS = 1 << 34;
        /// Create public and announcement threads.
        const CREATE_PUBLIC_THREADS = 1 << 35;
        /// Create private threads.
        const CREATE_PRIVATE_THREADS = 1 << 36;
        /// Use stickers from other guilds.
        const USE_EXTERNAL_STICKERS = 1 << 37;
        /// Send messages in threads.
        const SEND_MESSAGES_IN_THREADS = 1 << 38;
        /// Use activities.
        const USE_EMBEDDED_ACTIVITIES = 1 << 39;
        /// Time out members.
        const MODERATE_MEMBERS = 1 << 40;
        /// View creator monetization analytics.
        const VIEW_CREATOR_MONETIZATION_ANALYTICS = 1 << 41;
        /// Use the soundboard.
        const USE_SOUNDBOARD = 1 << 42;
        /// Create emojis, stickers and soundboard sounds.
        const CREATE_GUILD_EXPRESSIONS = 1 << 43;
        /// Create scheduled events.
        const CREATE_EVENTS = 1 << 44;
        /// Use sounds from other guilds.
        const USE_EXTERNAL_SOUNDS = 1 << 45;
        /// Send voice messages.
        const SEND_VOICE_MESSAGES = 1 << 46;
        /// Send polls.
        const SEND_POLLS = 1 << 49;
        /// Use user-installed apps' public responses.
        const USE_EXTERNAL_APPS = 1 << 50;
        /// Pin and unpin messages.
        const PIN_MESSAGES = 1 << 51;
        /// Bypass slowmode.
        const BYPASS_SLOWMODE = 1 << 52;
    }
}

impl fmt::Display for Permissions {
    /// The names of the set's permissions joined by ` | ` (unnamed bits as hex),
    /// `(none)` for the empty set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("(none)");
        }
        bitflags::parser::to_writer(self, f)
    }
}

/// Serialized as the decimal string of its bits, as Discord writes it (`"32"`), so a
/// 64-bit set survives formats whose numbers are doubles.
impl Serialize for Permissions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.bits())
    }
}

/// Accepts the decimal string (Discord's form) or a plain integer.
impl<'de> Deserialize<'de> for Permissions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Bits {
            Text(String),
            Number(u64),
        }
        let bits = match Bits::deserialize(d)? {
            Bits::Number(n) => n,
            Bits::Text(t) => t.parse::<u64>().map_err(|_| {
                serde::de::Error::custom(format!(
                    "permissions should be a decimal bit set, got {t:?}"
                ))
            })?,
        };
        Ok(Self::from_bits_retain(bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_values_are_discords() {
        assert_eq!(Permissions::ADMINISTRATOR.bits(), 8);
        assert_eq!(Permissions::MANAGE_GUILD.bits(), 32);
        assert_eq!(Permissions::USE_APPLICATION_COMMANDS.bits(), 1 << 31);
        assert_eq!(Permissions::MODERATE_MEMBERS.bits(), 1_099_511_627_776);
        assert_eq!(Permissions::SEND_POLLS.bits(), 1 << 49);
    }

    #[test]
    fn serializes_as_a_decimal_string_and_reads_both_forms() {
        let p = Permissions::MANAGE_GUILD | Permissions::BAN_MEMBERS;
        assert_eq!(serde_json::to_string(&p).expect("serializes"), r#""36""#);
        let back: Permissions = serde_json::from_str(r#""36""#).expect("string");
        assert_eq!(back, p);
        let back: Permissions = serde_json::from_str("36").expect("number");
        assert_eq!(back, p);
        let err = serde_json::from_str::<Permissions>(r#""admin""#).expect_err("not bits");
        assert!(err.to_string().contains("decimal bit set"), "{err}");
    }

    #[test]
    fn unknown_bits_survive() {
        let p: Permissions = serde_json::from_str(r#""9223372036854775808""#).expect("bit 63");
        assert_eq!(p.bits(), 1 << 63);
        assert_eq!(
            serde_json::to_string(&p).expect("serializes"),
            r#""9223372036854775808""#
        );
    }

    #[test]
    fn display_names_the_permissions() {
        assert_eq!(Permissions::empty().to_string(), "(none)");
        assert_eq!(Permissions::ADMINISTRATOR.to_string(), "ADMINISTRATOR");
    }
}
