//! Events: what happened on a provider, normalized so handlers never see a provider SDK.
//!
//! Ids are the provider's ids as strings (Discord snowflakes in decimal); times are
//! Unix milliseconds. Interaction tokens are deliberately absent: they stay in the
//! access layer, and workers refer to an interaction by its id.

use serde::{Deserialize, Serialize};

use crate::commands::{InteractionContext, Permissions};

/// A user as an event refers to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    /// The provider's user id.
    pub id: String,
    /// The account name (Discord `username`).
    pub name: String,
    /// The display name, if the provider has one and it differs.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Whether the account is a bot.
    #[serde(default)]
    pub bot: bool,
}

/// A file attached to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The provider's attachment id.
    pub id: String,
    /// The file name.
    pub filename: String,
    /// Where to download it.
    pub url: String,
    /// Size in bytes.
    pub size: u64,
    /// MIME type, when known.
    #[serde(default)]
    pub content_type: Option<String>,
}

/// A new message in a channel the tenant can see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocialMessageCreated {
    /// The message id.
    pub message_id: String,
    /// The channel it was posted in.
    pub channel_id: String,
    /// The guild (server), absent for direct messages.
    #[serde(default)]
    pub guild_id: Option<String>,
    /// Who wrote it.
    pub author: UserRef,
    /// Its text; empty when the provider withholds content (Discord without the
    /// message-content intent).
    #[serde(default)]
    pub content: String,
    /// Attached files.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// Users it mentions.
    #[serde(default)]
    pub mentions: Vec<UserRef>,
    /// The message it replies to.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// When it was sent, Unix milliseconds.
    pub timestamp_ms: i64,
    /// Whether the tenant's own bot wrote it (handlers usually ignore these).
    #[serde(default)]
    pub from_self: bool,
}

/// An edited message. Providers send partial updates, so most fields are optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocialMessageUpdated {
    /// The message id.
    pub message_id: String,
    /// Its channel.
    pub channel_id: String,
    /// Its guild, absent for direct messages.
    #[serde(default)]
    pub guild_id: Option<String>,
    /// The author, when the update carries it.
    #[serde(default)]
    pub author: Option<UserRef>,
    /// The new text, when it changed and is visible.
    #[serde(default)]
    pub content: Option<String>,
    /// When it was edited, Unix milliseconds.
    #[serde(default)]
    pub edited_timestamp_ms: Option<i64>,
}

/// A deleted message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocialMessageDeleted {
    /// The message id.
    pub message_id: String,
    /// Its channel.
    pub channel_id: String,
    /// Its guild, absent for direct messages.
    #[serde(default)]
    pub guild_id: Option<String>,
}

/// What kind of interaction a user started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InteractionKind {
    /// A slash command or a context-menu command.
    Command,
    /// A click on a button or a choice in a select menu.
    Component,
    /// A submitted modal form.
    ModalSubmit,
    /// A request for autocomplete choices while typing a command option.
    Autocomplete,
}

/// The value of one command option.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptionValue {
    /// Free text.
    String(String),
    /// An integer.
    Integer(i64),
    /// A floating-point number.
    Number(f64),
    /// A boolean.
    Boolean(bool),
    /// A user id.
    User(String),
    /// A channel id.
    Channel(String),
    /// A role id.
    Role(String),
    /// A user or role id.
    Mentionable(String),
    /// An attachment id.
    Attachment(String),
    /// A subcommand with its own options.
    SubCommand(Vec<CommandOption>),
    /// A group of subcommands.
    SubCommandGroup(Vec<CommandOption>),
}

/// One named option of a command invocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandOption {
    /// The option's name.
    pub name: String,
    /// Its value.
    pub value: OptionValue,
    /// Whether the user is typing this option now (autocomplete only).
    #[serde(default)]
    pub focused: bool,
}

/// A value a user entered in a modal form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModalField {
    /// The input's custom id.
    pub custom_id: String,
    /// What the user entered.
    pub value: String,
}

/// A user started an interaction (command, component, modal, autocomplete).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InteractionCreated {
    /// The interaction id; commands answering it refer to it by this id.
    pub interaction_id: String,
    /// What kind of interaction.
    pub kind: InteractionKind,
    /// The command's name (commands and autocomplete).
    #[serde(default)]
    pub command_name: Option<String>,
    /// The command's options (commands and autocomplete).
    #[serde(default)]
    pub options: Vec<CommandOption>,
    /// The component's or modal's custom id.
    #[serde(default)]
    pub custom_id: Option<String>,
    /// Selected values (select menus).
    #[serde(default)]
    pub values: Vec<String>,
    /// Submitted fields (modals).
    #[serde(default)]
    pub fields: Vec<ModalField>,
    /// The target of a context-menu command (a user or message id).
    #[serde(default)]
    pub target_id: Option<String>,
    /// The message a component belongs to.
    #[serde(default)]
    pub message_id: Option<String>,
    /// Who started it.
    pub user: UserRef,
    /// Where it was started.
    #[serde(default)]
    pub channel_id: Option<String>,
    /// Its guild, absent in direct messages.
    #[serde(default)]
    pub guild_id: Option<String>,
    /// The user's locale, e.g. `en-US`.
    #[serde(default)]
    pub locale: Option<String>,
    /// The invoking member's role ids (guild interactions; empty in DMs).
    #[serde(default)]
    pub member_roles: Vec<String>,
    /// The invoking member's permissions in the channel, overwrites included
    /// (Discord `member.permissions`); `None` in DMs, where there is no member.
    #[serde(default)]
    pub member_permissions: Option<Permissions>,
    /// The bot's own permissions in the channel (Discord `app_permissions`).
    #[serde(default)]
    pub app_permissions: Option<Permissions>,
    /// Where it was started: a guild, the DM with the bot, another private channel.
    /// `None` when the provider did not say (older events); then
    /// [`InteractionCreated::is_dm`] goes by the guild id.
    #[serde(default)]
    pub context: Option<InteractionContext>,
}

impl InteractionCreated {
    /// Whether it came from a direct message (or another private channel) rather
    /// than a guild.
    #[must_use]
    pub fn is_dm(&self) -> bool {
        match self.context {
            Some(c) => c != InteractionContext::Guild,
            None => self.guild_id.is_none(),
        }
    }

    /// Whether the member has every permission of `perms` in the channel
    /// (`ADMINISTRATOR` has them all). `false` in DMs, where there is no member.
    #[must_use]
    pub fn member_has(&self, perms: Permissions) -> bool {
        self.member_permissions
            .is_some_and(|p| p.contains(Permissions::ADMINISTRATOR) || p.contains(perms))
    }

    /// Whether the member has the role `role_id`.
    #[must_use]
    pub fn member_has_role(&self, role_id: &str) -> bool {
        self.member_roles.iter().any(|r| r == role_id)
    }
}

/// A member joined a guild.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberJoined {
    /// The guild.
    pub guild_id: String,
    /// The new member.
    pub user: UserRef,
    /// Their guild nickname.
    #[serde(default)]
    pub nick: Option<String>,
    /// Role ids they have.
    #[serde(default)]
    pub roles: Vec<String>,
    /// When they joined, Unix milliseconds.
    #[serde(default)]
    pub joined_at_ms: Option<i64>,
}

/// A member left (or was removed from) a guild.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberLeft {
    /// The guild.
    pub guild_id: String,
    /// Who left.
    pub user: UserRef,
}

/// A member's nickname or roles changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberUpdated {
    /// The guild.
    pub guild_id: String,
    /// The member.
    pub user: UserRef,
    /// Their nickname now.
    #[serde(default)]
    pub nick: Option<String>,
    /// Their role ids now.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// What a scheduled job carries to its handler: nothing, a JSON value (the registry's
/// `payload:`), or bytes (set in code).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobPayload {
    /// No payload.
    #[default]
    None,
    /// A JSON value.
    Json(serde_json::Value),
    /// Opaque bytes.
    Bytes(Vec<u8>),
}

/// A tenant's schedule came due: one per schedule and slot (its scheduled fire
/// time), across every node of a cluster. Not a provider event: the runtime's
/// scheduler (`crate::jobs`) publishes it on the tenant's inbox, so it reaches the
/// same workers, retries and dead letters as any event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The schedule's name (unique within the tenant).
    pub schedule: String,
    /// The slot: when the schedule was due, Unix milliseconds (not when it ran).
    pub slot_ms: i64,
    /// The one handler it is for (by [`Handler::name`](crate::handler::Handler::name));
    /// `None`: every handler of the tenant.
    #[serde(default)]
    pub handler: Option<String>,
    /// What the schedule carries.
    #[serde(default)]
    pub payload: JobPayload,
    /// Fired at start-up for a slot missed while no node ran (`missed: once`).
    #[serde(default)]
    pub recovered: bool,
}

/// Everything a provider can tell a tenant's handlers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A new message.
    SocialMessageCreated(SocialMessageCreated),
    /// An edited message.
    SocialMessageUpdated(SocialMessageUpdated),
    /// A deleted message.
    SocialMessageDeleted(SocialMessageDeleted),
    /// An interaction (command, component, modal, autocomplete).
    InteractionCreated(InteractionCreated),
    /// A member joined.
    MemberJoined(MemberJoined),
    /// A member left.
    MemberLeft(MemberLeft),
    /// A member changed.
    MemberUpdated(MemberUpdated),
    /// A scheduled job came due (published by the runtime, not a provider).
    Job(Job),
}

impl Event {
    /// The event's topic name, e.g. `social_message_created`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::SocialMessageCreated(_) => "social_message_created",
            Self::SocialMessageUpdated(_) => "social_message_updated",
            Self::SocialMessageDeleted(_) => "social_message_deleted",
            Self::InteractionCreated(_) => "interaction_created",
            Self::MemberJoined(_) => "member_joined",
            Self::MemberLeft(_) => "member_left",
            Self::MemberUpdated(_) => "member_updated",
            Self::Job(_) => "job",
        }
    }
}
