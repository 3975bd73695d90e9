//! Discord's documented limits on application commands, in one place.
//!
//! Source: Discord's developer documentation, "Application Commands" (the
//! application command and option structures, "Registering a Command" and the
//! "Slash Commands" size warning). Lengths count Unicode scalar values. Where the
//! documentation changed over time the current figure is used (15 context-menu
//! commands per type, was 5; 8,000 characters per command, was 4,000).

/// Longest command, option or localized name.
pub const NAME_MAX: usize = 32;
/// Longest chat-input command or option description.
pub const DESCRIPTION_MAX: usize = 100;
/// Most options of a command, subcommand or group (subcommands count as options).
pub const OPTIONS_MAX: usize = 25;
/// Most choices of one option.
pub const CHOICES_MAX: usize = 25;
/// Longest choice name.
pub const CHOICE_NAME_MAX: usize = 100;
/// Longest string choice value.
pub const CHOICE_STRING_VALUE_MAX: usize = 100;
/// Largest `min_length`/`max_length` of a string option.
pub const STRING_LENGTH_MAX: u16 = 6000;
/// Largest magnitude of an integer option's value, bound or choice (2^53 - 1).
pub const INTEGER_MAGNITUDE_MAX: i64 = (1 << 53) - 1;
/// Largest magnitude of a number option's value, bound or choice (2^53).
pub const NUMBER_MAGNITUDE_MAX: f64 = 9_007_199_254_740_992.0;
/// Most chat-input (slash) commands per scope (global, or one guild).
pub const CHAT_INPUT_COMMANDS_MAX: usize = 100;
/// Most user context-menu commands per scope.
pub const USER_COMMANDS_MAX: usize = 15;
/// Most message context-menu commands per scope.
pub const MESSAGE_COMMANDS_MAX: usize = 15;
/// Most characters of one command: its name, description, options' names and
/// descriptions, choices' names and values, counting only the longest localization
/// of each field (the default value included).
pub const COMMAND_CHARS_MAX: usize = 8000;
