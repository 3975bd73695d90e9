//! Commands: side effects a handler asks a tenant's access layer to perform.
//!
//! A worker publishes a command on `<ns>.p.<provider>.t.<tenant>.rest.request`; the
//! tenant's `RestActor` maps it to the provider's API and answers with a
//! [`RestResponse`](super::RestResponse). Commands never carry a credential.

use serde::{Deserialize, Serialize};

/// A rich embed, provider-neutral (Discord renders it as an embed).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Embed {
    /// Title line.
    #[serde(default)]
    pub title: Option<String>,
    /// Body text.
    #[serde(default)]
    pub description: Option<String>,
    /// Link on the title.
    #[serde(default)]
    pub url: Option<String>,
    /// Side colour, `0xRRGGBB`.
    #[serde(default)]
    pub color: Option<u32>,
    /// Name/value fields.
    #[serde(default)]
    pub fields: Vec<EmbedField>,
    /// Footer text.
    #[serde(default)]
    pub footer: Option<String>,
    /// Large image.
    #[serde(default)]
    pub image_url: Option<String>,
    /// Small image.
    #[serde(default)]
    pub thumbnail_url: Option<String>,
}

/// One field of an [`Embed`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedField {
    /// Field name.
    pub name: String,
    /// Field value.
    pub value: String,
    /// Whether it may sit beside other inline fields.
    #[serde(default)]
    pub inline: bool,
}

/// Which mentions in a message may ping someone.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AllowedMentions {
    /// Mention kinds parsed from the content.
    #[serde(default)]
    pub parse: Vec<MentionKind>,
    /// Users who may be pinged.
    #[serde(default)]
    pub users: Vec<String>,
    /// Roles that may be pinged.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Whether replying pings the replied-to author.
    #[serde(default)]
    pub replied_user: bool,
}

/// A kind of mention for [`AllowedMentions::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MentionKind {
    /// `<@user>` mentions.
    Users,
    /// `<@&role>` mentions.
    Roles,
    /// `@everyone` and `@here`.
    Everyone,
}

/// The visible body of a message or interaction reply.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MessageBody {
    /// Text content.
    #[serde(default)]
    pub content: Option<String>,
    /// Embeds.
    #[serde(default)]
    pub embeds: Vec<Embed>,
    /// Mention rules; `None` uses the provider's default.
    #[serde(default)]
    pub allowed_mentions: Option<AllowedMentions>,
    /// Only the invoking user sees it (interaction replies only).
    #[serde(default)]
    pub ephemeral: bool,
}

impl MessageBody {
    /// A body with only text.
    #[must_use]
    pub fn text(content: impl Into<String>) -> Self {
        Self {
            content: Some(content.into()),
            ..Self::default()
        }
    }
}

/// Post a message in a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostMessage {
    /// Target channel.
    pub channel_id: String,
    /// Text content.
    pub content: String,
    /// Make it a reply to this message.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Embeds.
    #[serde(default)]
    pub embeds: Vec<Embed>,
    /// Mention rules.
    #[serde(default)]
    pub allowed_mentions: Option<AllowedMentions>,
    /// Idempotency key (at most 25 characters). When absent the access layer derives
    /// one from the envelope id, so a retried command never posts twice.
    #[serde(default)]
    pub nonce: Option<String>,
}

/// An autocomplete suggestion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// What the user sees.
    pub name: String,
    /// What is filled in.
    pub value: ChoiceValue,
}

/// The value of an autocomplete [`Choice`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChoiceValue {
    /// Text.
    String(String),
    /// Integer.
    Integer(i64),
    /// Number.
    Number(f64),
}

/// One text input of a modal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextInput {
    /// Its custom id, echoed back on submit.
    pub custom_id: String,
    /// Its label.
    pub label: String,
    /// Multi-line (paragraph) rather than one line.
    #[serde(default)]
    pub paragraph: bool,
    /// Whether it must be filled.
    #[serde(default)]
    pub required: bool,
    /// Placeholder text.
    #[serde(default)]
    pub placeholder: Option<String>,
}

/// How to answer an interaction. Discord's callback types 4–9, plus followups and
/// edits of the original response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InteractionResponse {
    /// Reply with a message (type 4).
    Message(MessageBody),
    /// Acknowledge now, reply later with a followup or edit (type 5).
    DeferredMessage {
        /// Whether the eventual reply is ephemeral.
        #[serde(default)]
        ephemeral: bool,
    },
    /// Acknowledge a component click without a visible change yet (type 6).
    DeferredUpdate,
    /// Edit the message the component is attached to (type 7).
    UpdateMessage(MessageBody),
    /// Answer an autocomplete request (type 8).
    Autocomplete(Vec<Choice>),
    /// Open a modal form (type 9).
    Modal {
        /// Its custom id, echoed back on submit.
        custom_id: String,
        /// Its title.
        title: String,
        /// Its inputs.
        inputs: Vec<TextInput>,
    },
    /// Send a followup message after the first response.
    Followup(MessageBody),
    /// Edit the original response.
    EditOriginal(MessageBody),
}

/// Answer an interaction the tenant received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RespondInteraction {
    /// The interaction, by id; the access layer holds its token.
    pub interaction_id: String,
    /// The answer.
    pub response: InteractionResponse,
}

/// A worker gave up on an interaction's handlers (they failed on every attempt, or
/// their tenant is quarantined): the access layer answers the user with an
/// ephemeral error in the handlers' place, unless one of them has answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InteractionFailed {
    /// The interaction, by id.
    pub interaction_id: String,
    /// Why, for the log (never shown to the user).
    pub reason: String,
}

/// Give or take a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleChange {
    /// The guild.
    pub guild_id: String,
    /// The member.
    pub user_id: String,
    /// The role.
    pub role_id: String,
    /// Audit-log reason.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Send a direct message to a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendDirectMessage {
    /// The recipient.
    pub user_id: String,
    /// Text content.
    pub content: String,
    /// Embeds.
    #[serde(default)]
    pub embeds: Vec<Embed>,
}

/// Fetch one page of a channel's history (backfill).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchHistory {
    /// The channel.
    pub channel_id: String,
    /// Only messages before this id.
    #[serde(default)]
    pub before: Option<String>,
    /// Only messages after this id.
    #[serde(default)]
    pub after: Option<String>,
    /// Page size, 1–100.
    pub limit: u16,
}

/// Every side effect a handler can request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Command {
    /// Post a message.
    PostMessage(PostMessage),
    /// Answer an interaction.
    RespondInteraction(RespondInteraction),
    /// Give a member a role.
    AssignRole(RoleChange),
    /// Take a role from a member.
    RemoveRole(RoleChange),
    /// Send a direct message.
    SendDirectMessage(SendDirectMessage),
    /// Fetch a page of history.
    FetchHistory(FetchHistory),
    /// Answer an interaction whose handlers failed with an error.
    InteractionFailed(InteractionFailed),
}

impl Command {
    /// A short stable name, used in logs and metrics labels.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::PostMessage(_) => "post_message",
            Self::RespondInteraction(_) => "respond_interaction",
            Self::AssignRole(_) => "assign_role",
            Self::RemoveRole(_) => "remove_role",
            Self::SendDirectMessage(_) => "send_direct_message",
            Self::FetchHistory(_) => "fetch_history",
            Self::InteractionFailed(_) => "interaction_failed",
        }
    }
}
