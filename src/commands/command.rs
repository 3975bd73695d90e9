//! An application command as a tenant declares it: a chat-input (slash) command with
//! options, or a user or message context-menu command, with who may use it and where.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::localization::Localizations;
use super::option::OptionDef;
use super::permissions::Permissions;

/// Where a command appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandKind {
    /// A slash command, typed in the message box.
    ChatInput,
    /// An entry in a user's context menu.
    User,
    /// An entry in a message's context menu.
    Message,
}

impl CommandKind {
    /// How paths and messages name commands of this kind (`commands`,
    /// `user_commands`, `message_commands`).
    #[must_use]
    pub fn plural(self) -> &'static str {
        match self {
            Self::ChatInput => "commands",
            Self::User => "user_commands",
            Self::Message => "message_commands",
        }
    }
}

/// Where a command may be used (Discord's interaction context types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InteractionContext {
    /// In a guild's channels.
    Guild,
    /// In the direct-message channel with the bot.
    BotDm,
    /// In group DMs and DMs other than the bot's (user-installed commands only).
    PrivateChannel,
}

/// How the app must be installed for a command to be offered (Discord's integration
/// types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallContext {
    /// Installed to a guild.
    Guild,
    /// Installed to a user.
    User,
}

/// One application command.
///
/// ```
/// use switchboard::commands::{AppCommand, OptionDef, Permissions};
///
/// let game = AppCommand::slash("game", "Play a game")
///     .description_localized("de", "Ein Spiel spielen")
///     .subcommand(
///         OptionDef::subcommand("start", "Start a game")
///             .option(OptionDef::integer("rounds", "How many rounds").required().range(1, 10)),
///     )
///     .subcommand(OptionDef::subcommand("stop", "Stop the game"))
///     .default_member_permissions(Permissions::MANAGE_GUILD)
///     .guild_only();
/// let stats = AppCommand::user("Game stats");
/// assert!(switchboard::commands::validate(&[game, stats]).is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AppCommand {
    /// Where the command appears.
    pub kind: CommandKind,
    /// Its name: lowercase, no spaces for chat-input commands; context-menu commands
    /// may use capitals and spaces.
    pub name: String,
    /// The name in other locales.
    #[serde(default, skip_serializing_if = "Localizations::is_empty")]
    pub name_localizations: Localizations,
    /// Its description (chat-input commands, 1–100 characters; empty for context
    /// menus).
    #[serde(default)]
    pub description: String,
    /// The description in other locales.
    #[serde(default, skip_serializing_if = "Localizations::is_empty")]
    pub description_localizations: Localizations,
    /// Options, subcommands or groups (chat-input commands only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<OptionDef>,
    /// What a member needs to see and use the command unless a guild overrides it:
    /// `None` everyone, `Some(empty)` administrators only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_member_permissions: Option<Permissions>,
    /// Where it may be used; `None` leaves the provider's default (guilds and the
    /// bot's DMs for a global command). Only meaningful for global commands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contexts: Option<BTreeSet<InteractionContext>>,
    /// For which installations it is offered; `None` leaves the app's configured
    /// default. Only meaningful for global commands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installs: Option<BTreeSet<InstallContext>>,
    /// Whether it is age-restricted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nsfw: bool,
    /// A hint for the access layer, never sent to the provider: this command answers
    /// ephemerally, so when its handler is slow the automatic deferral is ephemeral
    /// too (a deferral fixes the visibility of the original response).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ephemeral: bool,
}

impl AppCommand {
    /// A command of `kind` with nothing but a name and description.
    #[must_use]
    pub fn new(kind: CommandKind, name: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
            name_localizations: Localizations::new(),
            description: description.into(),
            description_localizations: Localizations::new(),
            options: Vec::new(),
            default_member_permissions: None,
            contexts: None,
            installs: None,
            nsfw: false,
            ephemeral: false,
        }
    }

    /// A slash command.
    #[must_use]
    pub fn slash(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self::new(CommandKind::ChatInput, name, description)
    }

    /// A user context-menu command (no description, no options).
    #[must_use]
    pub fn user(name: impl Into<String>) -> Self {
        Self::new(CommandKind::User, name, "")
    }

    /// A message context-menu command (no description, no options).
    #[must_use]
    pub fn message(name: impl Into<String>) -> Self {
        Self::new(CommandKind::Message, name, "")
    }

    /// Adds an option (a parameter, a subcommand or a group).
    #[must_use]
    pub fn option(mut self, option: OptionDef) -> Self {
        self.options.push(option);
        self
    }

    /// Adds several options.
    #[must_use]
    pub fn options(mut self, options: impl IntoIterator<Item = OptionDef>) -> Self {
        self.options.extend(options);
        self
    }

    /// Adds a subcommand or group (the same as [`option`](Self::option), named for how
    /// it reads).
    #[must_use]
    pub fn subcommand(self, subcommand: OptionDef) -> Self {
        self.option(subcommand)
    }

    /// Only members with all of `permissions` see and use the command by default.
    #[must_use]
    pub fn default_member_permissions(mut self, permissions: Permissions) -> Self {
        self.default_member_permissions = Some(permissions);
        self
    }

    /// Only administrators see and use the command by default (guilds can grant it to
    /// roles or members).
    #[must_use]
    pub fn admin_only(self) -> Self {
        self.default_member_permissions(Permissions::empty())
    }

    /// Where the command may be used.
    #[must_use]
    pub fn contexts(mut self, contexts: impl IntoIterator<Item = InteractionContext>) -> Self {
        self.contexts = Some(contexts.into_iter().collect());
        self
    }

    /// Only in guilds, never in DMs.
    #[must_use]
    pub fn guild_only(self) -> Self {
        self.contexts([InteractionContext::Guild])
    }

    /// In guilds and the bot's DMs, explicitly (what the provider does by default for
    /// guild-installed global commands).
    #[must_use]
    pub fn allow_dm(self) -> Self {
        self.contexts([InteractionContext::Guild, InteractionContext::BotDm])
    }

    /// For which installations the command is offered.
    #[must_use]
    pub fn installs(mut self, installs: impl IntoIterator<Item = InstallContext>) -> Self {
        self.installs = Some(installs.into_iter().collect());
        self
    }

    /// Marks the command age-restricted.
    #[must_use]
    pub fn nsfw(mut self) -> Self {
        self.nsfw = true;
        self
    }

    /// Declares that the command answers ephemerally (only the invoking user sees
    /// the answer). Not sent to the provider: it tells the access layer to make an
    /// automatic deferral ephemeral, so a slow handler's answer keeps its visibility.
    #[must_use]
    pub fn ephemeral(mut self) -> Self {
        self.ephemeral = true;
        self
    }

    /// Names the command `name` for users of `locale`.
    #[must_use]
    pub fn name_localized(mut self, locale: impl Into<String>, name: impl Into<String>) -> Self {
        self.name_localizations.insert(locale, name);
        self
    }

    /// Describes the command as `description` for users of `locale`.
    #[must_use]
    pub fn description_localized(
        mut self,
        locale: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        self.description_localizations.insert(locale, description);
        self
    }

    /// Whether the command may be used in the bot's DMs, as far as the declaration
    /// says (`None`: the provider's default decides).
    #[must_use]
    pub fn allows_dm(&self) -> Option<bool> {
        self.contexts
            .as_ref()
            .map(|c| c.contains(&InteractionContext::BotDm))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_menus_have_no_description() {
        let u = AppCommand::user("High Five");
        assert_eq!((u.kind, u.description.as_str()), (CommandKind::User, ""));
        let m = AppCommand::message("Bookmark");
        assert_eq!(m.kind, CommandKind::Message);
    }

    #[test]
    fn contexts_and_permissions() {
        let c = AppCommand::slash("ban", "Ban someone")
            .guild_only()
            .admin_only();
        assert_eq!(c.allows_dm(), Some(false));
        assert_eq!(c.default_member_permissions, Some(Permissions::empty()));
        assert_eq!(
            AppCommand::slash("a", "b").allow_dm().allows_dm(),
            Some(true)
        );
        assert_eq!(AppCommand::slash("a", "b").allows_dm(), None);
    }

    #[test]
    fn serde_round_trips_and_omits_defaults() {
        let c = AppCommand::slash("game", "Play")
            .name_localized("de", "spiel")
            .installs([InstallContext::Guild])
            .nsfw();
        let json = serde_json::to_value(&c).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({
                "kind": "chat_input", "name": "game", "name_localizations": {"de": "spiel"},
                "description": "Play", "installs": ["guild"], "nsfw": true
            })
        );
        let back: AppCommand = serde_json::from_value(json).expect("parses");
        assert_eq!(back, c);
    }
}
