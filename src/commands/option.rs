//! A command's options as declared: typed parameters (string, integer, number,
//! boolean, user, channel, role, mentionable, attachment) with their constraints, and
//! the subcommands and subcommand groups that nest them.
//!
//! The model can express sets Discord would refuse (a group inside a subcommand, 26
//! choices): the builder stays simple and [`validate`](super::validate) reports every
//! such problem with its path, instead of the first one as a panic.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::localization::Localizations;

/// What an option is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptionKind {
    /// A subcommand (`/game start`); its options are its parameters.
    SubCommand,
    /// A group of subcommands (`/game admin reset`); its options are subcommands.
    SubCommandGroup,
    /// Text.
    String,
    /// An integer between -(2^53 - 1) and 2^53 - 1.
    Integer,
    /// A floating-point number between -2^53 and 2^53.
    Number,
    /// True or false.
    Boolean,
    /// A user.
    User,
    /// A channel (categories included).
    Channel,
    /// A role.
    Role,
    /// A user or a role.
    Mentionable,
    /// An uploaded file.
    Attachment,
}

impl OptionKind {
    /// Whether this is a subcommand or a group (a node of the command tree, not a
    /// parameter).
    #[must_use]
    pub fn is_subcommand_or_group(self) -> bool {
        matches!(self, Self::SubCommand | Self::SubCommandGroup)
    }

    /// Whether options of this kind may have choices or autocomplete.
    #[must_use]
    pub fn takes_choices(self) -> bool {
        matches!(self, Self::String | Self::Integer | Self::Number)
    }

    /// How a message names the kind, e.g. `an integer`.
    #[must_use]
    pub fn article_name(self) -> &'static str {
        match self {
            Self::SubCommand => "a subcommand",
            Self::SubCommandGroup => "a subcommand group",
            Self::String => "a string",
            Self::Integer => "an integer",
            Self::Number => "a number",
            Self::Boolean => "a boolean",
            Self::User => "a user",
            Self::Channel => "a channel",
            Self::Role => "a role",
            Self::Mentionable => "a user or role",
            Self::Attachment => "an attachment",
        }
    }
}

/// A kind of channel a channel option may be limited to (Discord's channel types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChannelType {
    /// A guild text channel.
    GuildText,
    /// A direct message.
    Dm,
    /// A guild voice channel.
    GuildVoice,
    /// A group direct message.
    GroupDm,
    /// A category.
    GuildCategory,
    /// An announcement channel.
    GuildAnnouncement,
    /// A thread in an announcement channel.
    AnnouncementThread,
    /// A public thread.
    PublicThread,
    /// A private thread.
    PrivateThread,
    /// A stage channel.
    GuildStageVoice,
    /// A hub directory.
    GuildDirectory,
    /// A forum.
    GuildForum,
    /// A media channel.
    GuildMedia,
    /// A type this list does not know (kept so a fetched set compares faithfully).
    Other(u16),
}

/// A value an option may take: a bound (`min_value`/`max_value`) or a choice value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ChoiceValue {
    /// For integer options.
    Integer(i64),
    /// For number options.
    Number(f64),
    /// For string options.
    String(String),
}

impl ChoiceValue {
    /// How a message names the value's type, e.g. `an integer`.
    #[must_use]
    pub fn article_name(&self) -> &'static str {
        match self {
            Self::Integer(_) => "an integer",
            Self::Number(_) => "a number",
            Self::String(_) => "a string",
        }
    }

    /// The value as a number, for range checks (`None` for strings).
    #[must_use]
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            #[allow(clippy::cast_precision_loss)] // bounds are within 2^53
            Self::Integer(n) => Some(*n as f64),
            Self::Number(n) => Some(*n),
            Self::String(_) => None,
        }
    }
}

impl From<&str> for ChoiceValue {
    fn from(v: &str) -> Self {
        Self::String(v.to_owned())
    }
}

impl From<String> for ChoiceValue {
    fn from(v: String) -> Self {
        Self::String(v)
    }
}

impl From<i64> for ChoiceValue {
    fn from(v: i64) -> Self {
        Self::Integer(v)
    }
}

impl From<i32> for ChoiceValue {
    fn from(v: i32) -> Self {
        Self::Integer(v.into())
    }
}

impl From<f64> for ChoiceValue {
    fn from(v: f64) -> Self {
        Self::Number(v)
    }
}

/// One of the fixed values a user picks from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// What the user sees (1–100 characters).
    pub name: String,
    /// The name in other locales.
    #[serde(default, skip_serializing_if = "Localizations::is_empty")]
    pub name_localizations: Localizations,
    /// What the handler receives.
    pub value: ChoiceValue,
}

impl Choice {
    /// A choice shown as `name` that gives `value`.
    #[must_use]
    pub fn new(name: impl Into<String>, value: impl Into<ChoiceValue>) -> Self {
        Self {
            name: name.into(),
            name_localizations: Localizations::new(),
            value: value.into(),
        }
    }

    /// Shows the choice as `name` to users of `locale`.
    #[must_use]
    pub fn localized(mut self, locale: impl Into<String>, name: impl Into<String>) -> Self {
        self.name_localizations.insert(locale, name);
        self
    }
}

/// One option of a command, subcommand or group.
///
/// ```
/// use switchboard::commands::{ChannelType, OptionDef};
///
/// let rounds = OptionDef::integer("rounds", "How many rounds").required().range(1, 10);
/// let mode = OptionDef::string("mode", "Game mode").choice("Quick", "quick").choice("Long", "long");
/// let channel = OptionDef::channel("where", "Where to play").channel_types([ChannelType::GuildText]);
/// let start = OptionDef::subcommand("start", "Start a game").options([rounds, mode, channel]);
/// assert_eq!(start.options.len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OptionDef {
    /// What the option is.
    pub kind: OptionKind,
    /// Its name (the chat-input name rules apply).
    pub name: String,
    /// The name in other locales.
    #[serde(default, skip_serializing_if = "Localizations::is_empty")]
    pub name_localizations: Localizations,
    /// Its description (1–100 characters).
    pub description: String,
    /// The description in other locales.
    #[serde(default, skip_serializing_if = "Localizations::is_empty")]
    pub description_localizations: Localizations,
    /// Whether the user must fill it in (parameters only).
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    /// Fixed values to pick from (string, integer and number options).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Choice>,
    /// Parameters of a subcommand, or subcommands of a group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<OptionDef>,
    /// The channel types a channel option offers (empty: all).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub channel_types: BTreeSet<ChannelType>,
    /// Smallest value (integer and number options).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_value: Option<ChoiceValue>,
    /// Largest value (integer and number options).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_value: Option<ChoiceValue>,
    /// Shortest text, 0–6000 (string options).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u16>,
    /// Longest text, 1–6000 (string options).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u16>,
    /// Whether the provider asks the bot for suggestions while the user types
    /// (string, integer and number options; not with choices).
    #[serde(default, skip_serializing_if = "is_false")]
    pub autocomplete: bool,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `skip_serializing_if` passes a reference
fn is_false(b: &bool) -> bool {
    !*b
}

macro_rules! kind_constructors {
    ($($(#[$doc:meta])* $fn:ident => $kind:ident;)*) => {$(
        $(#[$doc])*
        #[must_use]
        pub fn $fn(name: impl Into<String>, description: impl Into<String>) -> Self {
            Self::new(OptionKind::$kind, name, description)
        }
    )*};
}

impl OptionDef {
    /// An option of `kind`, optional, without constraints.
    #[must_use]
    pub fn new(kind: OptionKind, name: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
            name_localizations: Localizations::new(),
            description: description.into(),
            description_localizations: Localizations::new(),
            required: false,
            choices: Vec::new(),
            options: Vec::new(),
            channel_types: BTreeSet::new(),
            min_value: None,
            max_value: None,
            min_length: None,
            max_length: None,
            autocomplete: false,
        }
    }

    kind_constructors! {
        /// A text option.
        string => String;
        /// An integer option.
        integer => Integer;
        /// A floating-point number option.
        number => Number;
        /// A true/false option.
        boolean => Boolean;
        /// A user option.
        user => User;
        /// A channel option.
        channel => Channel;
        /// A role option.
        role => Role;
        /// A user-or-role option.
        mentionable => Mentionable;
        /// A file upload option.
        attachment => Attachment;
        /// A subcommand; add its parameters with [`option`](Self::option).
        subcommand => SubCommand;
        /// A subcommand group; add its subcommands with [`option`](Self::option).
        group => SubCommandGroup;
    }

    /// Makes the option required (list required options first).
    #[must_use]
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Adds a fixed choice shown as `name` that gives `value`.
    #[must_use]
    pub fn choice(mut self, name: impl Into<String>, value: impl Into<ChoiceValue>) -> Self {
        self.choices.push(Choice::new(name, value));
        self
    }

    /// Adds fixed choices (e.g. ones with localized names).
    #[must_use]
    pub fn choices(mut self, choices: impl IntoIterator<Item = Choice>) -> Self {
        self.choices.extend(choices);
        self
    }

    /// Adds a parameter to a subcommand (or a subcommand to a group).
    #[must_use]
    pub fn option(mut self, option: OptionDef) -> Self {
        self.options.push(option);
        self
    }

    /// Adds several parameters (or subcommands).
    #[must_use]
    pub fn options(mut self, options: impl IntoIterator<Item = OptionDef>) -> Self {
        self.options.extend(options);
        self
    }

    /// Limits a channel option to these channel types.
    #[must_use]
    pub fn channel_types(mut self, types: impl IntoIterator<Item = ChannelType>) -> Self {
        self.channel_types.extend(types);
        self
    }

    /// Smallest value allowed (integer and number options).
    #[must_use]
    pub fn min_value(mut self, min: impl Into<ChoiceValue>) -> Self {
        self.min_value = Some(min.into());
        self
    }

    /// Largest value allowed (integer and number options).
    #[must_use]
    pub fn max_value(mut self, max: impl Into<ChoiceValue>) -> Self {
        self.max_value = Some(max.into());
        self
    }

    /// Both bounds at once.
    #[must_use]
    pub fn range(self, min: impl Into<ChoiceValue>, max: impl Into<ChoiceValue>) -> Self {
        self.min_value(min).max_value(max)
    }

    /// Shortest text allowed (string options).
    #[must_use]
    pub fn min_length(mut self, min: u16) -> Self {
        self.min_length = Some(min);
        self
    }

    /// Longest text allowed (string options).
    #[must_use]
    pub fn max_length(mut self, max: u16) -> Self {
        self.max_length = Some(max);
        self
    }

    /// Asks the bot for suggestions while the user types.
    #[must_use]
    pub fn autocomplete(mut self) -> Self {
        self.autocomplete = true;
        self
    }

    /// Names the option `name` for users of `locale`.
    #[must_use]
    pub fn name_localized(mut self, locale: impl Into<String>, name: impl Into<String>) -> Self {
        self.name_localizations.insert(locale, name);
        self
    }

    /// Describes the option as `description` for users of `locale`.
    #[must_use]
    pub fn description_localized(
        mut self,
        locale: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        self.description_localizations.insert(locale, description);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_sets_every_constraint() {
        let o = OptionDef::string("word", "A word")
            .required()
            .min_length(2)
            .max_length(20)
            .autocomplete()
            .name_localized("de", "wort")
            .description_localized("de", "Ein Wort");
        assert_eq!(o.kind, OptionKind::String);
        assert!(o.required && o.autocomplete);
        assert_eq!((o.min_length, o.max_length), (Some(2), Some(20)));
        assert_eq!(o.name_localizations.get("de"), Some("wort"));
        assert_eq!(o.description_localizations.get("de"), Some("Ein Wort"));

        let n = OptionDef::number("ratio", "A ratio").range(0.5, 2);
        assert_eq!(n.min_value, Some(ChoiceValue::Number(0.5)));
        assert_eq!(n.max_value, Some(ChoiceValue::Integer(2)));

        let g = OptionDef::group("admin", "Admin tools")
            .option(OptionDef::subcommand("reset", "Reset everything"));
        assert_eq!(g.kind, OptionKind::SubCommandGroup);
        assert_eq!(g.options[0].kind, OptionKind::SubCommand);
    }

    #[test]
    fn serde_omits_defaults_and_round_trips() {
        let o = OptionDef::integer("count", "How many").choices([
            Choice::new("One", 1).localized("de", "Eins"),
            Choice::new("Two", 2),
        ]);
        let json = serde_json::to_value(&o).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({
                "kind": "integer", "name": "count", "description": "How many",
                "choices": [
                    {"name": "One", "name_localizations": {"de": "Eins"}, "value": 1},
                    {"name": "Two", "value": 2}
                ]
            })
        );
        let back: OptionDef = serde_json::from_value(json).expect("parses");
        assert_eq!(back, o);
    }

    #[test]
    fn choice_values_keep_their_type() {
        for v in [
            ChoiceValue::Integer(3),
            ChoiceValue::Number(2.5),
            "x".into(),
        ] {
            let json = serde_json::to_string(&v).expect("serializes");
            let back: ChoiceValue = serde_json::from_str(&json).expect("parses");
            assert_eq!(back, v, "{json}");
        }
        assert_eq!(ChoiceValue::Integer(3).as_f64(), Some(3.0));
        assert_eq!(ChoiceValue::from("x").as_f64(), None);
    }

    #[test]
    fn kinds_know_what_they_accept() {
        assert!(OptionKind::Integer.takes_choices());
        assert!(!OptionKind::Boolean.takes_choices());
        assert!(OptionKind::SubCommandGroup.is_subcommand_or_group());
        assert!(!OptionKind::Attachment.is_subcommand_or_group());
        assert_eq!(OptionKind::Integer.article_name(), "an integer");
    }
}
