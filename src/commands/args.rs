//! Typed access to an invoked command's options in a handler: `args.get::<i64>("count")?`,
//! the subcommand path (`/game admin reset`), and the option being typed during
//! autocomplete, with errors whose message can be shown to the user as is.

use std::fmt;

use crate::model::{CommandOption, InteractionCreated, OptionValue};

use super::ids::{AttachmentId, ChannelId, MentionableId, RoleId, UserId};

/// Why an option could not be read. The `Display` text is written for the person
/// who ran the command: "option `count` is missing", "option `count` should be an
/// integer".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgError {
    /// The option was not given (an optional option left out, or a name that is not
    /// one of the invoked subcommand's options).
    #[error("option `{name}` is missing")]
    Missing {
        /// The option's name.
        name: String,
    },
    /// The option has another type than the one asked for, or a value outside the
    /// asked type's range.
    #[error("option `{name}` should be {expected}")]
    WrongType {
        /// The option's name.
        name: String,
        /// What was expected, e.g. `an integer` or `an integer from 0 to 255`.
        expected: String,
    },
}

/// A Rust type an option's value converts to.
pub trait FromOption<'a>: Sized {
    /// Converts `value`, or says what was expected (`an integer`), for
    /// [`ArgError::WrongType`].
    ///
    /// # Errors
    ///
    /// The expected type's description when `value` is of another type or out of
    /// range.
    fn from_option(value: &'a OptionValue) -> Result<Self, String>;
}

impl<'a> FromOption<'a> for &'a OptionValue {
    fn from_option(value: &'a OptionValue) -> Result<Self, String> {
        Ok(value)
    }
}

impl<'a> FromOption<'a> for &'a str {
    fn from_option(value: &'a OptionValue) -> Result<Self, String> {
        match value {
            OptionValue::String(s) => Ok(s),
            _ => Err("text".into()),
        }
    }
}

impl FromOption<'_> for String {
    fn from_option(value: &OptionValue) -> Result<Self, String> {
        <&str>::from_option(value).map(str::to_owned)
    }
}

impl FromOption<'_> for i64 {
    fn from_option(value: &OptionValue) -> Result<Self, String> {
        match value {
            OptionValue::Integer(n) => Ok(*n),
            _ => Err("an integer".into()),
        }
    }
}

macro_rules! narrow_integer {
    ($($t:ty),*) => {$(
        impl FromOption<'_> for $t {
            fn from_option(value: &OptionValue) -> Result<Self, String> {
                let range = || format!("an integer from {} to {}", <$t>::MIN, <$t>::MAX);
                match value {
                    OptionValue::Integer(n) => <$t>::try_from(*n).map_err(|_| range()),
                    _ => Err(range()),
                }
            }
        }
    )*};
}

narrow_integer!(i8, i16, i32, u8, u16, u32, u64, usize);

/// Numbers, and integers (a number option with an integral value may arrive as one).
impl FromOption<'_> for f64 {
    fn from_option(value: &OptionValue) -> Result<Self, String> {
        match value {
            OptionValue::Number(n) => Ok(*n),
            #[allow(clippy::cast_precision_loss)] // option integers are within 2^53
            OptionValue::Integer(n) => Ok(*n as f64),
            _ => Err("a number".into()),
        }
    }
}

impl FromOption<'_> for bool {
    fn from_option(value: &OptionValue) -> Result<Self, String> {
        match value {
            OptionValue::Boolean(b) => Ok(*b),
            _ => Err("true or false".into()),
        }
    }
}

macro_rules! id_option {
    ($($t:ident: $expected:literal => $($variant:ident)|+;)*) => {$(
        impl FromOption<'_> for $t {
            fn from_option(value: &OptionValue) -> Result<Self, String> {
                match value {
                    $(OptionValue::$variant(id))|+ => Ok($t(id.clone())),
                    _ => Err($expected.into()),
                }
            }
        }
    )*};
}

id_option! {
    UserId: "a user" => User;
    ChannelId: "a channel" => Channel;
    RoleId: "a role" => Role;
    MentionableId: "a user or a role" => Mentionable | User | Role;
    AttachmentId: "an attachment" => Attachment;
}

/// The option a user is typing during autocomplete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Focused<'a> {
    /// The option's name.
    pub name: &'a str,
    /// What has been typed so far (text, whatever the option's type: a half-typed
    /// number is not a number yet).
    pub text: &'a str,
}

/// The options of one command invocation, read through the subcommand path.
///
/// ```
/// use switchboard::commands::{Args, ArgError, UserId};
/// use switchboard::model::{CommandOption, OptionValue};
///
/// let opt = |name: &str, value| CommandOption { name: name.into(), value, focused: false };
/// let options = vec![opt(
///     "start",
///     OptionValue::SubCommand(vec![
///         opt("rounds", OptionValue::Integer(3)),
///         opt("rival", OptionValue::User("80351110224678912".into())),
///     ]),
/// )];
/// let args = Args::new(Some("game"), &options);
/// assert_eq!(args.route(), "game start");
/// assert_eq!(args.get::<i64>("rounds")?, 3);
/// assert_eq!(args.get::<UserId>("rival")?.as_str(), "80351110224678912");
/// assert_eq!(args.get_opt::<String>("mode")?, None);
/// let err = args.get::<bool>("rounds").unwrap_err();
/// assert_eq!(err.to_string(), "option `rounds` should be true or false");
/// # Ok::<(), ArgError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Args<'a> {
    command: Option<&'a str>,
    path: Vec<&'a str>,
    options: &'a [CommandOption],
}

impl<'a> Args<'a> {
    /// Reads `options` of the command `command`, descending into the invoked group
    /// and subcommand.
    #[must_use]
    pub fn new(command: Option<&'a str>, mut options: &'a [CommandOption]) -> Self {
        let mut path = Vec::new();
        // A command invocation carries at most one group holding one subcommand, or
        // one subcommand, as its only option.
        while let [
            CommandOption {
                name,
                value: OptionValue::SubCommand(inner) | OptionValue::SubCommandGroup(inner),
                ..
            },
        ] = options
        {
            path.push(name.as_str());
            options = inner;
        }
        Self {
            command,
            path,
            options,
        }
    }

    /// The command's name.
    #[must_use]
    pub fn command(&self) -> Option<&'a str> {
        self.command
    }

    /// The invoked group and subcommand, outermost first: `["admin", "reset"]` for
    /// `/game admin reset`, `["start"]` for `/game start`, empty without subcommands.
    #[must_use]
    pub fn subcommand_path(&self) -> &[&'a str] {
        &self.path
    }

    /// The invoked subcommand, if any.
    #[must_use]
    pub fn subcommand(&self) -> Option<&'a str> {
        self.path.last().copied()
    }

    /// The command and its subcommand path joined by spaces, as the user typed it
    /// after the `/`: `game admin reset`. What a router matches on.
    #[must_use]
    pub fn route(&self) -> String {
        self.command
            .into_iter()
            .chain(self.path.iter().copied())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The invoked (sub)command's own options, as given.
    #[must_use]
    pub fn options(&self) -> &'a [CommandOption] {
        self.options
    }

    /// The raw value of option `name`, if given.
    #[must_use]
    pub fn value(&self, name: &str) -> Option<&'a OptionValue> {
        self.options
            .iter()
            .find(|o| o.name == name)
            .map(|o| &o.value)
    }

    /// Option `name` as a `T`.
    ///
    /// # Errors
    ///
    /// [`ArgError::Missing`] if it was not given, [`ArgError::WrongType`] if it is not
    /// a `T`.
    pub fn get<T: FromOption<'a>>(&self, name: &str) -> Result<T, ArgError> {
        self.get_opt(name)?.ok_or_else(|| ArgError::Missing {
            name: name.to_owned(),
        })
    }

    /// Option `name` as a `T`, `None` if it was not given.
    ///
    /// # Errors
    ///
    /// [`ArgError::WrongType`] if it was given but is not a `T`.
    pub fn get_opt<T: FromOption<'a>>(&self, name: &str) -> Result<Option<T>, ArgError> {
        self.value(name)
            .map(|v| {
                T::from_option(v).map_err(|expected| ArgError::WrongType {
                    name: name.to_owned(),
                    expected,
                })
            })
            .transpose()
    }

    /// The option being typed, during autocomplete.
    #[must_use]
    pub fn focused(&self) -> Option<Focused<'a>> {
        self.options.iter().find(|o| o.focused).map(|o| Focused {
            name: &o.name,
            text: match &o.value {
                OptionValue::String(s) => s,
                _ => "",
            },
        })
    }
}

impl InteractionCreated {
    /// The invocation's options, typed: see [`Args`]. Empty for components and
    /// modals.
    #[must_use]
    pub fn args(&self) -> Args<'_> {
        Args::new(self.command_name.as_deref(), &self.options)
    }
}

impl fmt::Display for Focused<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}", self.name, self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{InteractionKind, UserRef};

    fn opt(name: &str, value: OptionValue) -> CommandOption {
        CommandOption {
            name: name.into(),
            value,
            focused: false,
        }
    }

    fn leaf() -> Vec<CommandOption> {
        vec![
            opt("count", OptionValue::Integer(300)),
            opt("ratio", OptionValue::Number(0.5)),
            opt("word", OptionValue::String("duck".into())),
            opt("loud", OptionValue::Boolean(true)),
            opt("who", OptionValue::User("1".into())),
            opt("where", OptionValue::Channel("2".into())),
            opt("role", OptionValue::Role("3".into())),
            opt("any", OptionValue::Mentionable("4".into())),
            opt("file", OptionValue::Attachment("5".into())),
        ]
    }

    #[test]
    fn typed_getters() -> Result<(), ArgError> {
        let options = leaf();
        let a = Args::new(Some("game"), &options);
        assert_eq!(a.get::<i64>("count")?, 300);
        assert_eq!(a.get::<u32>("count")?, 300);
        assert!((a.get::<f64>("count")? - 300.0).abs() < f64::EPSILON);
        assert!((a.get::<f64>("ratio")? - 0.5).abs() < f64::EPSILON);
        assert_eq!(a.get::<&str>("word")?, "duck");
        assert_eq!(a.get::<String>("word")?, "duck");
        assert!(a.get::<bool>("loud")?);
        assert_eq!(a.get::<UserId>("who")?, UserId("1".into()));
        assert_eq!(a.get::<ChannelId>("where")?.as_str(), "2");
        assert_eq!(a.get::<RoleId>("role")?.as_str(), "3");
        assert_eq!(a.get::<MentionableId>("any")?.as_str(), "4");
        assert_eq!(a.get::<MentionableId>("who")?.as_str(), "1");
        assert_eq!(a.get::<AttachmentId>("file")?.as_str(), "5");
        assert_eq!(a.get_opt::<i64>("nothing")?, None);
        assert_eq!(a.get_opt::<i64>("count")?, Some(300));
        assert!(matches!(
            a.get::<&OptionValue>("loud")?,
            OptionValue::Boolean(true)
        ));
        assert_eq!(a.route(), "game");
        assert!(a.subcommand_path().is_empty());
        Ok(())
    }

    #[test]
    fn errors_read_well() {
        let options = leaf();
        let a = Args::new(Some("game"), &options);
        let msg = |e: ArgError| e.to_string();
        assert_eq!(
            msg(a.get::<i64>("nothing").unwrap_err()),
            "option `nothing` is missing"
        );
        assert_eq!(
            msg(a.get::<i64>("word").unwrap_err()),
            "option `word` should be an integer"
        );
        assert_eq!(
            msg(a.get::<u8>("count").unwrap_err()),
            "option `count` should be an integer from 0 to 255"
        );
        assert_eq!(
            msg(a.get::<f64>("word").unwrap_err()),
            "option `word` should be a number"
        );
        assert_eq!(
            msg(a.get::<String>("count").unwrap_err()),
            "option `count` should be text"
        );
        assert_eq!(
            msg(a.get::<UserId>("role").unwrap_err()),
            "option `role` should be a user"
        );
        assert_eq!(
            msg(a.get_opt::<RoleId>("who").unwrap_err()),
            "option `who` should be a role"
        );
    }

    #[test]
    fn descends_through_group_and_subcommand() -> Result<(), ArgError> {
        let options = vec![opt(
            "admin",
            OptionValue::SubCommandGroup(vec![opt(
                "reset",
                OptionValue::SubCommand(vec![opt("hard", OptionValue::Boolean(false))]),
            )]),
        )];
        let a = Args::new(Some("game"), &options);
        assert_eq!(a.subcommand_path(), ["admin", "reset"]);
        assert_eq!(a.subcommand(), Some("reset"));
        assert_eq!(a.route(), "game admin reset");
        assert!(!a.get::<bool>("hard")?);
        assert_eq!(a.options().len(), 1);

        let empty_sub = vec![opt("stop", OptionValue::SubCommand(Vec::new()))];
        let a = Args::new(Some("game"), &empty_sub);
        assert_eq!(a.route(), "game stop");
        assert!(a.options().is_empty());
        Ok(())
    }

    #[test]
    fn focused_option_for_autocomplete() {
        let mut typed = opt("count", OptionValue::String("1".into()));
        typed.focused = true;
        let options = vec![opt(
            "start",
            OptionValue::SubCommand(vec![
                opt("mode", OptionValue::String("quick".into())),
                typed,
            ]),
        )];
        let a = Args::new(Some("game"), &options);
        let f = a.focused().expect("one option is focused");
        assert_eq!((f.name, f.text), ("count", "1"));
        assert_eq!(f.to_string(), r#"count="1""#);
        // The typed text is not an integer yet.
        assert!(a.get::<i64>("count").is_err());
        assert_eq!(Args::new(Some("game"), &leaf()[..1]).focused(), None);
    }

    #[test]
    fn from_an_interaction_event() -> Result<(), ArgError> {
        let event = InteractionCreated {
            interaction_id: "9".into(),
            kind: InteractionKind::Command,
            command_name: Some("game".into()),
            options: vec![opt(
                "start",
                OptionValue::SubCommand(vec![opt("rounds", OptionValue::Integer(3))]),
            )],
            custom_id: None,
            values: Vec::new(),
            fields: Vec::new(),
            target_id: None,
            message_id: None,
            user: UserRef {
                id: "1".into(),
                name: "mallard".into(),
                display_name: None,
                bot: false,
            },
            channel_id: None,
            guild_id: None,
            locale: None,
            member_roles: Vec::new(),
            member_permissions: None,
            app_permissions: None,
            context: None,
        };
        let args = event.args();
        assert_eq!(args.command(), Some("game"));
        assert_eq!(args.route(), "game start");
        assert_eq!(args.get::<i64>("rounds")?, 3);
        Ok(())
    }
}
