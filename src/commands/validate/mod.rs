//! Checks a command set against Discord's documented limits (see
//! [`limits`](super::limits)) before anything is registered, and reports every
//! problem with its path, so a tenant's bad command is found at build time rather
//! than as a 400 at registration.
//!
//! Covered: the name pattern and lowercase rule of chat-input names, context-menu
//! names, description lengths (empty for context menus), localization keys and
//! values, at most 25 options and 25 choices, choice names and values, required
//! options first, unique option names, the nesting of subcommands and groups, which
//! constraints each option type takes, `min <= max`, autocomplete without choices,
//! the per-scope command counts, unique command names per type and the total size
//! of a command.

mod issue;
mod names;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use self::issue::Issues;
pub use self::issue::{CommandIssue, CommandSetError};
use super::command::{AppCommand, CommandKind};
use super::limits::{
    CHAT_INPUT_COMMANDS_MAX, CHOICE_NAME_MAX, CHOICE_STRING_VALUE_MAX, CHOICES_MAX,
    COMMAND_CHARS_MAX, INTEGER_MAGNITUDE_MAX, MESSAGE_COMMANDS_MAX, NUMBER_MAGNITUDE_MAX,
    OPTIONS_MAX, STRING_LENGTH_MAX, USER_COMMANDS_MAX,
};
use super::option::{ChoiceValue, OptionDef, OptionKind};

/// Checks the commands of one scope (global, or one guild) together: each command,
/// the counts per type and unique names per type.
///
/// # Errors
///
/// [`CommandSetError`] listing every problem found.
pub fn validate(commands: &[AppCommand]) -> Result<(), CommandSetError> {
    let mut out = Issues::default();
    let mut seen: BTreeMap<(CommandKind, &str), usize> = BTreeMap::new();
    for c in commands {
        *seen.entry((c.kind, c.name.as_str())).or_default() += 1;
    }
    for ((kind, name), n) in &seen {
        if *n > 1 {
            out.push(
                format!("{}[{name}]", kind.plural()),
                format!("declared {n} times; names are unique per command type"),
            );
        }
    }
    for (kind, max) in [
        (CommandKind::ChatInput, CHAT_INPUT_COMMANDS_MAX),
        (CommandKind::User, USER_COMMANDS_MAX),
        (CommandKind::Message, MESSAGE_COMMANDS_MAX),
    ] {
        let n = commands.iter().filter(|c| c.kind == kind).count();
        if n > max {
            out.push(
                kind.plural(),
                format!("{n} commands, at most {max} per scope"),
            );
        }
    }
    for c in commands {
        command(&mut out, c);
    }
    CommandSetError::from_issues(out.0).map_or(Ok(()), Err)
}

/// Checks one command on its own (not the limits of the set it belongs to).
///
/// # Errors
///
/// [`CommandSetError`] listing every problem found.
pub fn validate_command(c: &AppCommand) -> Result<(), CommandSetError> {
    let mut out = Issues::default();
    command(&mut out, c);
    CommandSetError::from_issues(out.0).map_or(Ok(()), Err)
}

/// The size of a command as Discord counts it against its character limit: names,
/// descriptions, choice names and values of the command and all its options, each
/// field counted at its longest localization.
#[must_use]
pub fn command_chars(c: &AppCommand) -> usize {
    fn option(o: &OptionDef) -> usize {
        o.name_localizations.longest(&o.name)
            + o.description_localizations.longest(&o.description)
            + o.choices
                .iter()
                .map(|ch| ch.name_localizations.longest(&ch.name) + value_chars(&ch.value))
                .sum::<usize>()
            + o.options.iter().map(option).sum::<usize>()
    }
    c.name_localizations.longest(&c.name)
        + c.description_localizations.longest(&c.description)
        + c.options.iter().map(option).sum::<usize>()
}

fn value_chars(v: &ChoiceValue) -> usize {
    match v {
        ChoiceValue::String(s) => s.chars().count(),
        ChoiceValue::Integer(n) => n.to_string().len(),
        ChoiceValue::Number(n) => n.to_string().len(),
    }
}

fn command(out: &mut Issues, c: &AppCommand) {
    let path = format!("{}[{}]", c.kind.plural(), c.name);
    let at = |field: &str| format!("{path}.{field}");
    match c.kind {
        CommandKind::ChatInput => {
            names::chat_input_name(out, &at("name"), &c.name);
            names::localizations(
                out,
                &at("name_localizations"),
                &c.name_localizations,
                names::chat_input_name,
            );
            names::description(out, &at("description"), &c.description);
            names::localizations(
                out,
                &at("description_localizations"),
                &c.description_localizations,
                names::description,
            );
            options(out, &path, &c.options, Level::Command);
            let chars = command_chars(c);
            if chars > COMMAND_CHARS_MAX {
                out.push(
                    &path,
                    format!(
                        "{chars} characters in names, descriptions and choices, at most \
                         {COMMAND_CHARS_MAX}"
                    ),
                );
            }
        }
        CommandKind::User | CommandKind::Message => {
            names::context_menu_name(out, &at("name"), &c.name);
            names::localizations(
                out,
                &at("name_localizations"),
                &c.name_localizations,
                names::context_menu_name,
            );
            if !c.description.is_empty() {
                out.push(
                    at("description"),
                    "context-menu commands have no description",
                );
            }
            if !c.description_localizations.is_empty() {
                out.push(
                    at("description_localizations"),
                    "context-menu commands have no description",
                );
            }
            if !c.options.is_empty() {
                out.push(at("options"), "context-menu commands have no options");
            }
        }
    }
    if c.contexts
        .as_ref()
        .is_some_and(std::collections::BTreeSet::is_empty)
    {
        out.push(at("contexts"), "empty: the command could be used nowhere");
    }
    if c.installs
        .as_ref()
        .is_some_and(std::collections::BTreeSet::is_empty)
    {
        out.push(
            at("installs"),
            "empty: the command would be offered to no installation",
        );
    }
}

/// Where an options array sits in the command tree.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Command,
    Group,
    SubCommand,
}

fn options(out: &mut Issues, parent: &str, opts: &[OptionDef], level: Level) {
    if opts.len() > OPTIONS_MAX {
        out.push(
            format!("{parent}.options"),
            format!("{} options, at most {OPTIONS_MAX}", opts.len()),
        );
    }
    let nested = opts.iter().any(|o| o.kind.is_subcommand_or_group());
    let mut first_optional: Option<&str> = None;
    for (i, o) in opts.iter().enumerate() {
        let path = format!("{parent}.options[{i}]");
        if let Some(j) = opts[..i].iter().position(|p| p.name == o.name) {
            out.push(
                format!("{path}.name"),
                format!("`{}` is also the name of options[{j}]", o.name),
            );
        }
        match (level, o.kind) {
            (Level::Command, k) if nested && !k.is_subcommand_or_group() => out.push(
                &path,
                format!(
                    "{} option beside subcommands; a command with subcommands or groups has \
                     no other options",
                    k.article_name()
                ),
            ),
            (Level::Group, k) if k != OptionKind::SubCommand => out.push(
                &path,
                format!(
                    "{} in a group; groups contain only subcommands",
                    k.article_name()
                ),
            ),
            (Level::SubCommand, k) if k.is_subcommand_or_group() => out.push(
                &path,
                format!(
                    "{} in a subcommand; nesting is command → group → subcommand",
                    k.article_name()
                ),
            ),
            _ => {}
        }
        if !o.kind.is_subcommand_or_group() {
            if o.required {
                if let Some(optional) = first_optional {
                    out.push(
                        format!("{path}.required"),
                        format!(
                            "required option `{}` after optional option `{optional}`; \
                             required options come first",
                            o.name
                        ),
                    );
                }
            } else if first_optional.is_none() {
                first_optional = Some(&o.name);
            }
        }
        option(out, &path, o);
    }
}

fn option(out: &mut Issues, path: &str, o: &OptionDef) {
    let at = |field: &str| format!("{path}.{field}");
    let kind = o.kind;
    let what = kind.article_name();
    names::chat_input_name(out, &at("name"), &o.name);
    names::localizations(
        out,
        &at("name_localizations"),
        &o.name_localizations,
        names::chat_input_name,
    );
    names::description(out, &at("description"), &o.description);
    names::localizations(
        out,
        &at("description_localizations"),
        &o.description_localizations,
        names::description,
    );
    if o.required && kind.is_subcommand_or_group() {
        out.push(at("required"), format!("{what} cannot be required"));
    }
    match kind {
        OptionKind::SubCommand => options(out, path, &o.options, Level::SubCommand),
        OptionKind::SubCommandGroup => options(out, path, &o.options, Level::Group),
        _ if !o.options.is_empty() => {
            out.push(
                at("options"),
                format!("{what} option has no options of its own"),
            );
        }
        _ => {}
    }
    choices(out, path, o);
    if o.autocomplete {
        if !kind.takes_choices() {
            out.push(
                at("autocomplete"),
                format!("{what} option cannot autocomplete (only strings, integers, numbers)"),
            );
        } else if !o.choices.is_empty() {
            out.push(
                at("autocomplete"),
                "autocomplete and choices are mutually exclusive",
            );
        }
    }
    if !o.channel_types.is_empty() && kind != OptionKind::Channel {
        out.push(
            at("channel_types"),
            format!("{what} option has no channel types (only channel options)"),
        );
    }
    value_bounds(out, path, o);
    length_bounds(out, path, o);
}

fn choices(out: &mut Issues, path: &str, o: &OptionDef) {
    if o.choices.is_empty() {
        return;
    }
    let at = format!("{path}.choices");
    if !o.kind.takes_choices() {
        out.push(
            &at,
            format!(
                "{} option has no choices (only strings, integers, numbers)",
                o.kind.article_name()
            ),
        );
        return;
    }
    if o.choices.len() > CHOICES_MAX {
        out.push(
            &at,
            format!("{} choices, at most {CHOICES_MAX}", o.choices.len()),
        );
    }
    for (i, ch) in o.choices.iter().enumerate() {
        let cp = format!("{at}[{i}]");
        let check_name = |out: &mut Issues, p: &str, t: &str| {
            names::length(out, p, t, 1, CHOICE_NAME_MAX, "a choice name");
        };
        check_name(out, &format!("{cp}.name"), &ch.name);
        names::localizations(
            out,
            &format!("{cp}.name_localizations"),
            &ch.name_localizations,
            check_name,
        );
        let vp = format!("{cp}.value");
        match (o.kind, &ch.value) {
            (OptionKind::String, ChoiceValue::String(s)) => {
                let len = s.chars().count();
                if len > CHOICE_STRING_VALUE_MAX {
                    out.push(
                        vp,
                        format!("{len} characters, at most {CHOICE_STRING_VALUE_MAX}"),
                    );
                }
            }
            (OptionKind::Integer, v @ ChoiceValue::Integer(_))
            | (OptionKind::Number, v @ (ChoiceValue::Integer(_) | ChoiceValue::Number(_))) => {
                number_in_range(out, &vp, o.kind, v);
            }
            (kind, v) => out.push(
                vp,
                format!(
                    "{} value for {} option",
                    v.article_name(),
                    kind.article_name()
                ),
            ),
        }
    }
}

/// A number option's value must be finite and within ±2^53; an integer option's
/// within ±(2^53 - 1).
fn number_in_range(out: &mut Issues, path: &str, kind: OptionKind, v: &ChoiceValue) {
    match v {
        ChoiceValue::Integer(n) if kind == OptionKind::Integer => {
            if n.unsigned_abs() > INTEGER_MAGNITUDE_MAX.unsigned_abs() {
                out.push(
                    path,
                    format!("{n} is outside ±{INTEGER_MAGNITUDE_MAX} (2^53 - 1)"),
                );
            }
        }
        _ => match v.as_f64() {
            Some(x) if !x.is_finite() => out.push(path, format!("{x} is not a finite number")),
            Some(x) if x.abs() > NUMBER_MAGNITUDE_MAX => {
                out.push(path, format!("{x} is outside ±2^53"));
            }
            _ => {}
        },
    }
}

fn value_bounds(out: &mut Issues, path: &str, o: &OptionDef) {
    let numeric = matches!(o.kind, OptionKind::Integer | OptionKind::Number);
    for (field, bound) in [("min_value", &o.min_value), ("max_value", &o.max_value)] {
        let Some(v) = bound else { continue };
        let at = format!("{path}.{field}");
        if !numeric {
            out.push(
                at,
                format!(
                    "{} option has no {field} (only integers and numbers)",
                    o.kind.article_name()
                ),
            );
            continue;
        }
        match (o.kind, v) {
            (OptionKind::Integer, ChoiceValue::Integer(_))
            | (OptionKind::Number, ChoiceValue::Integer(_) | ChoiceValue::Number(_)) => {
                number_in_range(out, &at, o.kind, v);
            }
            (kind, v) => out.push(
                at,
                format!(
                    "{} bound for {} option",
                    v.article_name(),
                    kind.article_name()
                ),
            ),
        }
    }
    if let (true, Some(min), Some(max)) = (
        numeric,
        o.min_value.as_ref().and_then(ChoiceValue::as_f64),
        o.max_value.as_ref().and_then(ChoiceValue::as_f64),
    ) && min > max
    {
        out.push(
            format!("{path}.min_value"),
            format!("{min} is greater than max_value {max}"),
        );
    }
}

fn length_bounds(out: &mut Issues, path: &str, o: &OptionDef) {
    if o.min_length.is_none() && o.max_length.is_none() {
        return;
    }
    if o.kind != OptionKind::String {
        let field = if o.min_length.is_some() {
            "min_length"
        } else {
            "max_length"
        };
        out.push(
            format!("{path}.{field}"),
            format!(
                "{} option has no length limits (only strings)",
                o.kind.article_name()
            ),
        );
        return;
    }
    if let Some(min) = o.min_length
        && min > STRING_LENGTH_MAX
    {
        out.push(
            format!("{path}.min_length"),
            format!("{min}, at most {STRING_LENGTH_MAX}"),
        );
    }
    if let Some(max) = o.max_length
        && !(1..=STRING_LENGTH_MAX).contains(&max)
    {
        out.push(
            format!("{path}.max_length"),
            format!("{max}, between 1 and {STRING_LENGTH_MAX}"),
        );
    }
    if let (Some(min), Some(max)) = (o.min_length, o.max_length)
        && min > max
    {
        out.push(
            format!("{path}.min_length"),
            format!("{min} is greater than max_length {max}"),
        );
    }
}
