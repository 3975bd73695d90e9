//! Application commands on Discord's wire: the model ([`crate::commands`]) to the JSON
//! body of the bulk-overwrite endpoint (`PUT /applications/{app}/commands`, or
//! `…/guilds/{guild}/commands`), what `GET` on those routes returns back to the
//! model, and the comparison registration needs ("does Discord have what we
//! declare?"), blind to what Discord adds.
//!
//! What `GET` returns beyond what was sent, and is ignored or settled:
//! - server-assigned fields: `id`, `application_id`, `guild_id`, `version`,
//!   `default_permission`, `name_localized`, `description_localized`;
//! - defaults made explicit: `type: 1`, `nsfw: false`, `dm_permission: true`,
//!   `default_member_permissions: null`, `description: ""` for context menus,
//!   `required: false`, `autocomplete: false`, `null` or empty localizations,
//!   options, choices and channel types;
//! - numbers in Discord's form: a number option's bounds and choices may come back
//!   as integers (`2` for `2.0`).
//! - `contexts`: a declaration without contexts is the same as Discord reporting
//!   `null` or all three contexts; `integration_types`: none declared is the same
//!   as `null` or `[0]` (guild install, the default of a bot application).
//!
//! `GET` must ask for `?with_localizations=true`, or Discord leaves the localization
//! dictionaries out and every localized command looks changed.
//!
//! Commands of types the model does not have (`PRIMARY_ENTRY_POINT`, an Activity's
//! launcher) are skipped when parsing.

mod codes;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use self::codes::{
    channel_type_code, channel_type_from_code, command_kind_code, context_code, context_from_code,
    install_code, install_from_code, option_kind_code, option_kind_from_code,
};

use crate::commands::{
    AppCommand, Choice, ChoiceValue, CommandKind, InstallContext, InteractionContext,
    Localizations, OptionDef, OptionKind, Permissions,
};

/// A command as Discord's JSON has it (the fields the model knows).
#[derive(Debug, Serialize, Deserialize)]
struct WireCommand {
    #[serde(rename = "type", default = "chat_input")]
    kind: u8,
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name_localizations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description_localizations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    options: Option<Vec<WireOption>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default_member_permissions: Option<Permissions>,
    /// Deprecated by `contexts`; read only.
    #[serde(default, skip_serializing)]
    dm_permission: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    contexts: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    integration_types: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nsfw: Option<bool>,
}

fn chat_input() -> u8 {
    1
}

#[derive(Debug, Serialize, Deserialize)]
struct WireOption {
    #[serde(rename = "type")]
    kind: u8,
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name_localizations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description_localizations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    required: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    choices: Option<Vec<WireChoice>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    options: Option<Vec<WireOption>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    channel_types: Option<Vec<u16>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_length: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_length: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    autocomplete: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize)]
struct WireChoice {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name_localizations: Option<BTreeMap<String, String>>,
    value: Value,
}

/// A `GET` answer that is not a list of commands as Discord documents them.
#[derive(Debug, thiserror::Error)]
#[error("application commands from Discord, at `{path}`: {problem}")]
pub struct ParseCommandsError {
    /// Where, e.g. `[2].options[0].type`.
    pub path: String,
    /// What is wrong.
    pub problem: String,
}

// ---------------------------------------------------------------------------------
// Model → wire

/// The JSON body of a bulk overwrite (`PUT …/commands`) declaring `commands`.
#[must_use]
pub fn to_discord(commands: &[AppCommand]) -> Value {
    Value::Array(commands.iter().map(command_to_discord).collect())
}

/// One command as Discord's JSON (the body of a `POST …/commands` too).
#[must_use]
pub fn command_to_discord(c: &AppCommand) -> Value {
    // Serializing these plain structs cannot fail; `Null` would be refused by
    // Discord with a 400 rather than panic here.
    serde_json::to_value(wire_command(c)).unwrap_or(Value::Null)
}

fn wire_command(c: &AppCommand) -> WireCommand {
    let chat = c.kind == CommandKind::ChatInput;
    WireCommand {
        kind: command_kind_code(c.kind),
        name: c.name.clone(),
        name_localizations: map(&c.name_localizations),
        // Discord refuses a description on context-menu commands (and reports "").
        description: chat.then(|| c.description.clone()),
        description_localizations: map(&c.description_localizations).filter(|_| chat),
        options: (!c.options.is_empty()).then(|| c.options.iter().map(wire_option).collect()),
        default_member_permissions: c.default_member_permissions,
        dm_permission: None,
        contexts: c
            .contexts
            .as_ref()
            .map(|s| s.iter().map(|x| context_code(*x)).collect()),
        integration_types: c
            .installs
            .as_ref()
            .map(|s| s.iter().map(|x| install_code(*x)).collect()),
        nsfw: c.nsfw.then_some(true),
    }
}

fn wire_option(o: &OptionDef) -> WireOption {
    WireOption {
        kind: option_kind_code(o.kind),
        name: o.name.clone(),
        name_localizations: map(&o.name_localizations),
        description: o.description.clone(),
        description_localizations: map(&o.description_localizations),
        required: o.required.then_some(true),
        choices: (!o.choices.is_empty()).then(|| {
            o.choices
                .iter()
                .map(|ch| WireChoice {
                    name: ch.name.clone(),
                    name_localizations: map(&ch.name_localizations),
                    value: value_to_json(&ch.value),
                })
                .collect()
        }),
        options: (!o.options.is_empty()).then(|| o.options.iter().map(wire_option).collect()),
        channel_types: (!o.channel_types.is_empty()).then(|| {
            o.channel_types
                .iter()
                .map(|t| channel_type_code(*t))
                .collect()
        }),
        min_value: o.min_value.as_ref().map(value_to_json),
        max_value: o.max_value.as_ref().map(value_to_json),
        min_length: o.min_length,
        max_length: o.max_length,
        autocomplete: o.autocomplete.then_some(true),
    }
}

fn map(l: &Localizations) -> Option<BTreeMap<String, String>> {
    (!l.is_empty()).then(|| l.0.clone())
}

fn value_to_json(v: &ChoiceValue) -> Value {
    match v {
        ChoiceValue::Integer(n) => Value::from(*n),
        // A non-finite number (which validation refuses) becomes `null`.
        ChoiceValue::Number(n) => Value::from(*n),
        ChoiceValue::String(s) => Value::from(s.as_str()),
    }
}

// ---------------------------------------------------------------------------------
// Wire → model

/// Parses what `GET …/commands?with_localizations=true` returns.
///
/// # Errors
///
/// [`ParseCommandsError`] with the path of the first field that is not as
/// documented (a missing name, an unknown option type).
pub fn from_discord(json: &[u8]) -> Result<Vec<AppCommand>, ParseCommandsError> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let wire: Vec<WireCommand> =
        serde_path_to_error::deserialize(&mut de).map_err(|e| ParseCommandsError {
            path: e.path().to_string(),
            problem: e.into_inner().to_string(),
        })?;
    let mut out = Vec::with_capacity(wire.len());
    for (i, w) in wire.into_iter().enumerate() {
        if let Some(c) = command_from_wire(w, &format!("[{i}]"))? {
            out.push(c);
        }
    }
    Ok(out)
}

fn command_from_wire(w: WireCommand, path: &str) -> Result<Option<AppCommand>, ParseCommandsError> {
    let kind = match w.kind {
        1 => CommandKind::ChatInput,
        2 => CommandKind::User,
        3 => CommandKind::Message,
        _ => return Ok(None),
    };
    let mut c = AppCommand::new(kind, w.name, w.description.unwrap_or_default());
    c.name_localizations = localizations(w.name_localizations);
    c.description_localizations = localizations(w.description_localizations);
    c.default_member_permissions = w.default_member_permissions;
    c.nsfw = w.nsfw.unwrap_or(false);
    c.contexts = match (w.contexts, w.dm_permission) {
        (Some(list), _) => Some(
            list.iter()
                .enumerate()
                .map(|(j, x)| context_from_code(*x, &format!("{path}.contexts[{j}]")))
                .collect::<Result<_, _>>()?,
        ),
        // An older registration: DMs turned off through the deprecated field.
        (None, Some(false)) => Some(BTreeSet::from([InteractionContext::Guild])),
        (None, _) => None,
    };
    c.installs = w
        .integration_types
        .map(|list| {
            list.iter()
                .enumerate()
                .map(|(j, x)| install_from_code(*x, &format!("{path}.integration_types[{j}]")))
                .collect::<Result<_, _>>()
        })
        .transpose()?;
    c.options = options_from_wire(w.options, path)?;
    Ok(Some(c))
}

fn options_from_wire(
    options: Option<Vec<WireOption>>,
    parent: &str,
) -> Result<Vec<OptionDef>, ParseCommandsError> {
    options
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, o)| option_from_wire(o, &format!("{parent}.options[{i}]")))
        .collect()
}

fn option_from_wire(w: WireOption, path: &str) -> Result<OptionDef, ParseCommandsError> {
    let kind = option_kind_from_code(w.kind).ok_or_else(|| ParseCommandsError {
        path: format!("{path}.type"),
        problem: format!("unknown option type {}", w.kind),
    })?;
    let mut o = OptionDef::new(kind, w.name, w.description);
    o.name_localizations = localizations(w.name_localizations);
    o.description_localizations = localizations(w.description_localizations);
    o.required = w.required.unwrap_or(false);
    o.autocomplete = w.autocomplete.unwrap_or(false);
    o.min_length = w.min_length;
    o.max_length = w.max_length;
    o.channel_types = w
        .channel_types
        .unwrap_or_default()
        .into_iter()
        .map(channel_type_from_code)
        .collect();
    o.min_value = w
        .min_value
        .map(|v| value_from_json(kind, v, &format!("{path}.min_value")))
        .transpose()?;
    o.max_value = w
        .max_value
        .map(|v| value_from_json(kind, v, &format!("{path}.max_value")))
        .transpose()?;
    o.choices = w
        .choices
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, ch)| {
            Ok(Choice {
                name: ch.name,
                name_localizations: localizations(ch.name_localizations),
                value: value_from_json(kind, ch.value, &format!("{path}.choices[{i}].value"))?,
            })
        })
        .collect::<Result<_, ParseCommandsError>>()?;
    o.options = options_from_wire(w.options, path)?;
    Ok(o)
}

fn localizations(m: Option<BTreeMap<String, String>>) -> Localizations {
    Localizations(m.unwrap_or_default())
}

/// A JSON value typed by the option it belongs to: a number option's values are
/// numbers even when Discord writes them as integers.
fn value_from_json(
    kind: OptionKind,
    v: Value,
    path: &str,
) -> Result<ChoiceValue, ParseCommandsError> {
    Ok(match v {
        Value::String(s) => ChoiceValue::String(s),
        Value::Number(n) => match (kind, n.as_i64(), n.as_f64()) {
            (OptionKind::Number, _, Some(x)) | (_, None, Some(x)) => ChoiceValue::Number(x),
            (_, Some(i), _) => ChoiceValue::Integer(i),
            (_, None, None) => {
                return Err(ParseCommandsError {
                    path: path.to_owned(),
                    problem: format!("{n} is not a number the model can hold"),
                });
            }
        },
        other => {
            return Err(ParseCommandsError {
                path: path.to_owned(),
                problem: format!("expected a string or a number, got {other}"),
            });
        }
    })
}

// ---------------------------------------------------------------------------------
// Comparison

/// How what Discord has differs from what is declared, for one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandChange {
    /// Declared, not on Discord.
    Added {
        /// Its type.
        kind: CommandKind,
        /// Its name.
        name: String,
    },
    /// On Discord, no longer declared.
    Removed {
        /// Its type.
        kind: CommandKind,
        /// Its name.
        name: String,
    },
    /// On Discord with other options, texts or settings.
    Changed {
        /// Its type.
        kind: CommandKind,
        /// Its name.
        name: String,
    },
}

impl fmt::Display for CommandChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (verb, kind, name) = match self {
            Self::Added { kind, name } => ("added", kind, name),
            Self::Removed { kind, name } => ("removed", kind, name),
            Self::Changed { kind, name } => ("changed", kind, name),
        };
        write!(f, "{verb} {}[{name}]", kind.plural())
    }
}

/// Whether Discord's commands (`fetched`, from [`from_discord`]) are the
/// `declared` ones, ignoring order, server-assigned fields and the defaults Discord
/// fills in. When it is `false`, a bulk overwrite is due. (Registration uses the
/// [`diff`] itself; this is for tests.)
#[cfg(feature = "internals")]
#[must_use]
pub fn same_commands(declared: &[AppCommand], fetched: &[AppCommand]) -> bool {
    diff(declared, fetched).is_empty()
}

/// What a bulk overwrite with `declared` would change on Discord, which has
/// `fetched`: commands added, removed and changed, by type and name.
#[must_use]
pub fn diff(declared: &[AppCommand], fetched: &[AppCommand]) -> Vec<CommandChange> {
    let declared = canonical_map(declared.iter().map(canonical_declared));
    let fetched = canonical_map(fetched.iter().cloned().map(settle_defaults));
    let mut changes = Vec::new();
    for ((kind, name), d) in &declared {
        let (kind, name) = (*kind, name.clone());
        match fetched.get(&(kind, name.clone())) {
            None => changes.push(CommandChange::Added { kind, name }),
            Some(f) if f != d => changes.push(CommandChange::Changed { kind, name }),
            Some(_) => {}
        }
    }
    for (kind, name) in fetched.keys() {
        if !declared.contains_key(&(*kind, name.clone())) {
            changes.push(CommandChange::Removed {
                kind: *kind,
                name: name.clone(),
            });
        }
    }
    changes
}

fn canonical_map(
    commands: impl Iterator<Item = AppCommand>,
) -> BTreeMap<(CommandKind, String), AppCommand> {
    commands.map(|c| ((c.kind, c.name.clone()), c)).collect()
}

/// The declaration as Discord will store it: through the wire form's text and back,
/// so both sides of a comparison are read by the same code (`serde_json`'s float
/// parsing is not exact to the last bit, so even numbers must go through text).
fn canonical_declared(c: &AppCommand) -> AppCommand {
    let wire = serde_json::to_vec(&wire_command(c))
        .ok()
        .and_then(|v| serde_json::from_slice::<WireCommand>(&v).ok())
        .and_then(|w| command_from_wire(w, "").ok().flatten());
    // Only a declaration Discord would refuse (e.g. a non-finite number) fails to
    // come back; compared as is, it differs, and the overwrite reports the problem.
    settle_defaults(wire.unwrap_or_else(|| c.clone()))
}

/// Settles the values that mean "Discord's default" to one spelling.
fn settle_defaults(mut c: AppCommand) -> AppCommand {
    let all_contexts = BTreeSet::from([
        InteractionContext::Guild,
        InteractionContext::BotDm,
        InteractionContext::PrivateChannel,
    ]);
    if c.contexts.as_ref() == Some(&all_contexts) {
        c.contexts = None;
    }
    if c.installs.as_ref() == Some(&BTreeSet::from([InstallContext::Guild])) {
        c.installs = None;
    }
    if c.kind != CommandKind::ChatInput {
        c.description.clear();
        c.description_localizations = Localizations::new();
    }
    c
}
