//! Typed requests and answers of the control API (`/__sim/...`), shared by the HTTP
//! routes and the Rust [`SimHandle`](super::SimHandle).
//!
//! Snowflakes are accepted as JSON numbers or strings and written as strings, as
//! Discord does.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

pub use super::payloads::SimUser;

/// (De)serialisation of snowflakes as numbers or strings.
pub(crate) mod id {
    use super::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Num(u64),
        Str(String),
    }

    fn parse<E: serde::de::Error>(raw: Raw) -> Result<u64, E> {
        match raw {
            Raw::Num(n) => Ok(n),
            Raw::Str(s) => s.parse().map_err(E::custom),
        }
    }

    /// A snowflake.
    pub(crate) fn de<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        parse(Raw::deserialize(d)?)
    }

    /// An optional snowflake.
    pub(crate) fn de_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Option::<Raw>::deserialize(d)?.map(parse).transpose()
    }

    /// A list of snowflakes.
    pub(crate) fn de_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
        Vec::<Raw>::deserialize(d)?.into_iter().map(parse).collect()
    }

    /// A snowflake, written as a string.
    #[allow(clippy::trivially_copy_pass_by_ref)] // serde's `serialize_with` signature
    pub(crate) fn ser<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    /// An optional snowflake, written as a string.
    #[allow(clippy::ref_option)] // serde's `serialize_with` signature
    pub(crate) fn ser_opt<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&v.to_string()),
            None => s.serialize_none(),
        }
    }
}

/// A message from a (non-bot or bot) user, delivered as `MESSAGE_CREATE`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InjectMessage {
    /// The guild; `None` for a DM (then `tenant` names the bot receiving it).
    #[serde(
        default,
        deserialize_with = "id::de_opt",
        serialize_with = "id::ser_opt"
    )]
    pub guild_id: Option<u64>,
    /// The channel; for a DM it may be omitted (the DM channel is created).
    #[serde(
        default,
        deserialize_with = "id::de_opt",
        serialize_with = "id::ser_opt"
    )]
    pub channel_id: Option<u64>,
    /// For DMs: the tenant whose bot receives the message.
    #[serde(default)]
    pub tenant: Option<String>,
    /// The author.
    pub author: SimUser,
    /// The text.
    pub content: String,
    /// Ids of the users mentioned (a mentioned bot sees the content without the
    /// `MESSAGE_CONTENT` intent).
    #[serde(default, deserialize_with = "id::de_vec")]
    pub mentions: Vec<u64>,
}

impl InjectMessage {
    /// A guild message.
    #[must_use]
    pub fn guild(guild_id: u64, channel_id: u64, author: SimUser, content: &str) -> Self {
        Self {
            guild_id: Some(guild_id),
            channel_id: Some(channel_id),
            tenant: None,
            author,
            content: content.to_owned(),
            mentions: Vec::new(),
        }
    }

    /// A DM to a tenant's bot.
    #[must_use]
    pub fn dm(tenant: &str, author: SimUser, content: &str) -> Self {
        Self {
            guild_id: None,
            channel_id: None,
            tenant: Some(tenant.to_owned()),
            author,
            content: content.to_owned(),
            mentions: Vec::new(),
        }
    }
}

/// What kind of interaction to inject.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InteractionKind {
    /// A slash (chat input) command; `options` are Discord-shaped option objects.
    SlashCommand {
        /// Command name.
        name: String,
        /// Options (`[{"type": 3, "name": "q", "value": "x"}]`).
        #[serde(default)]
        options: Vec<Value>,
    },
    /// An autocomplete request (one option should carry `"focused": true`).
    Autocomplete {
        /// Command name.
        name: String,
        /// Options.
        #[serde(default)]
        options: Vec<Value>,
    },
    /// A user context-menu command (`data.type` 2) on `target_id`.
    UserCommand {
        /// Command name.
        name: String,
        /// The user it was used on.
        #[serde(deserialize_with = "id::de", serialize_with = "id::ser")]
        target_id: u64,
    },
    /// A message context-menu command (`data.type` 3) on `target_id`, a message of
    /// the interaction's channel.
    MessageCommand {
        /// Command name.
        name: String,
        /// The message it was used on.
        #[serde(deserialize_with = "id::de", serialize_with = "id::ser")]
        target_id: u64,
    },
    /// A button click.
    Button {
        /// The button's `custom_id`.
        custom_id: String,
        /// The message the button is on.
        #[serde(
            default,
            deserialize_with = "id::de_opt",
            serialize_with = "id::ser_opt"
        )]
        message_id: Option<u64>,
    },
    /// A string-select choice.
    Select {
        /// The select menu's `custom_id`.
        custom_id: String,
        /// Chosen values.
        #[serde(default)]
        values: Vec<String>,
        /// The message the menu is on.
        #[serde(
            default,
            deserialize_with = "id::de_opt",
            serialize_with = "id::ser_opt"
        )]
        message_id: Option<u64>,
    },
    /// A modal submission; `components` are Discord-shaped.
    ModalSubmit {
        /// The modal's `custom_id`.
        custom_id: String,
        /// Submitted components.
        #[serde(default)]
        components: Vec<Value>,
    },
}

/// An interaction to deliver as `INTERACTION_CREATE` to the owning bot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InjectInteraction {
    /// The tenant owning the application.
    pub tenant: String,
    /// The guild (`None`: a DM with the bot).
    #[serde(
        default,
        deserialize_with = "id::de_opt",
        serialize_with = "id::ser_opt"
    )]
    pub guild_id: Option<u64>,
    /// The channel (may be omitted for a DM).
    #[serde(
        default,
        deserialize_with = "id::de_opt",
        serialize_with = "id::ser_opt"
    )]
    pub channel_id: Option<u64>,
    /// The user who interacted.
    pub user: SimUser,
    /// What happened.
    #[serde(flatten)]
    pub kind: InteractionKind,
}

/// An injected interaction's id and token (the token authorises its callback).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InjectedInteraction {
    /// Interaction id.
    #[serde(deserialize_with = "id::de", serialize_with = "id::ser")]
    pub id: u64,
    /// Interaction token.
    pub token: String,
}

/// A guild-member change, delivered as `GUILD_MEMBER_ADD` / _REMOVE / _UPDATE to bots
/// with the `GUILD_MEMBERS` intent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MemberEvent {
    /// A user joins.
    Add {
        /// Guild.
        #[serde(deserialize_with = "id::de", serialize_with = "id::ser")]
        guild_id: u64,
        /// The user.
        user: SimUser,
    },
    /// A member leaves.
    Remove {
        /// Guild.
        #[serde(deserialize_with = "id::de", serialize_with = "id::ser")]
        guild_id: u64,
        /// The user.
        #[serde(deserialize_with = "id::de", serialize_with = "id::ser")]
        user_id: u64,
    },
    /// A member's roles or nickname change.
    Update {
        /// Guild.
        #[serde(deserialize_with = "id::de", serialize_with = "id::ser")]
        guild_id: u64,
        /// The user.
        #[serde(deserialize_with = "id::de", serialize_with = "id::ser")]
        user_id: u64,
        /// New roles (unchanged if absent).
        #[serde(default, deserialize_with = "de_opt_ids")]
        roles: Option<Vec<u64>>,
        /// New nickname (unchanged if absent).
        #[serde(default)]
        nick: Option<String>,
    },
}

fn de_opt_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u64>>, D::Error> {
    id::de_vec(d).map(Some)
}

/// An edit of a stored message's content (`MESSAGE_UPDATE`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageEdit {
    /// Channel.
    #[serde(deserialize_with = "id::de", serialize_with = "id::ser")]
    pub channel_id: u64,
    /// Message.
    #[serde(deserialize_with = "id::de", serialize_with = "id::ser")]
    pub message_id: u64,
    /// New content.
    pub content: String,
}

/// A deletion of a stored message (`MESSAGE_DELETE`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageDeletion {
    /// Channel.
    #[serde(deserialize_with = "id::de", serialize_with = "id::ser")]
    pub channel_id: u64,
    /// Message.
    #[serde(deserialize_with = "id::de", serialize_with = "id::ser")]
    pub message_id: u64,
}

/// A gateway fault to inflict on a tenant's live connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Close with this code (4000 is resumable; 4007/4009 and the fatal codes drop
    /// the session).
    Close {
        /// Close code.
        code: u16,
    },
    /// Send op 7 RECONNECT.
    Reconnect,
    /// Send op 9 `INVALID_SESSION` (`resumable` = `d`; `false` drops the session).
    InvalidSession {
        /// The `d` of op 9.
        resumable: bool,
    },
    /// Stop answering heartbeats.
    StopHeartbeatAcks,
    /// Drop the TCP connection without a close frame.
    DropConnection,
}

/// A fault request of the control API: `{"tenant": "duck", "kind": "close", "code": 4000}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultRequest {
    /// Tenant name.
    pub tenant: String,
    /// Only this shard id (every shard if absent).
    #[serde(default)]
    pub shard: Option<u32>,
    /// The fault.
    #[serde(flatten)]
    pub fault: Fault,
}

/// A message as the control API reports it: who authored it and the Discord object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostedMessage {
    /// Message id.
    #[serde(deserialize_with = "id::de", serialize_with = "id::ser")]
    pub id: u64,
    /// Channel.
    #[serde(deserialize_with = "id::de", serialize_with = "id::ser")]
    pub channel_id: u64,
    /// The tenant whose bot authored it (`None`: an injected user message).
    pub tenant: Option<String>,
    /// Content.
    pub content: String,
    /// The `nonce` it was created with.
    pub nonce: Option<Value>,
    /// `message_reference` it was created with (replies).
    pub message_reference: Option<Value>,
    /// The interaction it answers (initial response or followup).
    #[serde(
        default,
        deserialize_with = "id::de_opt",
        serialize_with = "id::ser_opt"
    )]
    pub interaction_id: Option<u64>,
    /// Discord's full message object.
    pub message: Value,
}
