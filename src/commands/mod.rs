//! Application commands (slash commands and context menus): what a tenant declares,
//! checked against the provider's limits, and typed access to an invocation's
//! options in handlers. Provider-neutral: `providers::discord::commands` turns a
//! declaration into Discord's JSON and back.
//!
//! # Layout
//!
//! - `command.rs`: [`AppCommand`], one command (chat-input, user or message), its
//!   permissions and contexts, and its builder.
//! - `option.rs`: [`OptionDef`], typed options with their constraints, subcommands
//!   and groups; [`Choice`].
//! - `permissions.rs`: [`Permissions`], a permission set with Discord's bit values.
//! - `localization.rs`: [`Localizations`] and the [`LOCALES`] Discord accepts.
//! - `limits.rs`: Discord's documented limits ([`limits`]).
//! - `validate/`: [`validate`] a scope's commands; every problem with its path
//!   ([`CommandSetError`]).
//! - `set.rs`: [`CommandSet`], a scope's commands as an order-free value with a
//!   fingerprint.
//! - `args.rs`: [`Args`], typed getters over an invocation (`get::<i64>("count")`),
//!   the subcommand path and the focused option; [`ArgError`].
//! - `router/`: [`Router`], which routes interactions (commands, subcommands,
//!   context menus, autocomplete, components and modals by `custom_id` prefix) to
//!   async functions and declares the commands it routes; guards
//!   ([`require_permission`], [`require_role`], cooldowns) with uniform refusals
//!   ([`Denied`]); what a route returns ([`Reply`], [`IntoReply`], [`UserError`]).
//! - `ids.rs`: [`UserId`], [`ChannelId`], [`RoleId`], [`MentionableId`],
//!   [`AttachmentId`].
//!
//! # Example
//!
//! ```
//! use switchboard::commands::{AppCommand, CommandSet, OptionDef, Permissions};
//!
//! let set = CommandSet::new([
//!     AppCommand::slash("game", "Play a game")
//!         .subcommand(
//!             OptionDef::subcommand("start", "Start a game")
//!                 .option(OptionDef::integer("rounds", "How many rounds").required().range(1, 10)),
//!         )
//!         .subcommand(OptionDef::subcommand("stop", "Stop the game")),
//!     AppCommand::slash("reset", "Reset the scores").default_member_permissions(Permissions::MANAGE_GUILD),
//!     AppCommand::user("Game stats"),
//! ]);
//! set.validate()?;
//!
//! let bad = CommandSet::new([AppCommand::slash("Game", "")]);
//! let err = bad.validate().unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "2 problems in the command set:\n  \
//!      commands[Game].name: `Game` has uppercase letters (`G`); chat-input names are lowercase\n  \
//!      commands[Game].description: empty, a description has 1 to 100 characters"
//! );
//! # Ok::<(), switchboard::commands::CommandSetError>(())
//! ```

mod args;
mod command;
mod ids;
pub mod limits;
mod localization;
mod option;
mod permissions;
mod router;
mod set;
mod validate;

pub use self::args::{ArgError, Args, Focused, FromOption};
pub use self::command::{AppCommand, CommandKind, InstallContext, InteractionContext};
pub use self::ids::{AttachmentId, ChannelId, MentionableId, RoleId, UserId};
pub use self::localization::{LOCALES, Localizations, is_locale};
pub use self::option::{ChannelType, Choice, ChoiceValue, OptionDef, OptionKind};
pub use self::permissions::Permissions;
pub use self::router::{
    Denied, IntoReply, Reply, RouteFn, Router, UserError, require_permission, require_role,
    role_setting,
};
pub use self::set::CommandSet;
pub use self::validate::{
    CommandIssue, CommandSetError, command_chars, validate, validate_command,
};
