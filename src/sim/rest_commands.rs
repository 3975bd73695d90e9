//! Application commands: `GET`/`PUT /applications/{app}[/guilds/{guild}]/commands`
//! and `GET /applications/@me`.
//!
//! Sets are kept per application and guild (`None`: global). A bulk overwrite is
//! parsed with the crate's own wire parser and checked with `commands::validate`,
//! as Discord checks it: a bad schema is a 400 "Invalid Form Body" (50035) with
//! Discord's nested `errors` (`{"0": {"name": {"_errors": [...]}}}`), and nothing is
//! stored. What is stored is what Discord answers: the commands as sent, plus
//! server-assigned fields (`id` kept per type and name across overwrites,
//! `application_id`, `version`, `guild_id`) and the defaults Discord spells out.
//! `GET` leaves the localization dictionaries out unless `?with_localizations=true`.

use std::collections::HashMap;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::rest::{Caller, json_body, ok, snowflake};
use super::server::App;
use super::stats::bump;
use crate::commands::{AppCommand, CommandKind, validate};
use crate::providers::discord::commands::{command_to_discord, from_discord};

fn tenant(caller: Caller) -> Result<usize, ApiError> {
    caller.0.ok_or_else(ApiError::unauthorized)
}

/// `GET /applications/@me`: the caller's application.
pub(crate) async fn current_application(
    AxState(app): AxState<App>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let t = &app.state.tenants[tenant(caller)?];
    Ok(ok(json!({
        "id": t.application_id.to_string(),
        "name": t.name,
        "icon": null,
        "description": "",
        "bot_public": true,
        "bot_require_code_grant": false,
        "verify_key": "0".repeat(64),
        "flags": 0,
        "team": null,
        "bot": {
            "id": t.bot.id.to_string(),
            "username": t.bot.username,
            "discriminator": "0",
            "global_name": null,
            "avatar": null,
            "bot": true,
        },
    })))
}

/// Application and guild of a commands route, checked against the caller.
fn commands_scope(
    app: &App,
    caller: Caller,
    params: &HashMap<String, String>,
) -> Result<(u64, Option<u64>), ApiError> {
    let t = tenant(caller)?;
    let application = snowflake(params.get("application_id").map_or("", String::as_str))?;
    if app.state.tenants[t].application_id != application {
        return Err(ApiError::missing_access());
    }
    let guild = params.get("guild_id").map(|g| snowflake(g)).transpose()?;
    if let Some(g) = guild
        && !app.state.tenants[t].in_guild(g)
    {
        return Err(ApiError::missing_access());
    }
    Ok((application, guild))
}

/// `GET /applications/{app}[/guilds/{guild}]/commands[?with_localizations=true]`.
pub(crate) async fn get_commands(
    AxState(app): AxState<App>,
    Extension(caller): Extension<Caller>,
    Path(params): Path<HashMap<String, String>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let key = commands_scope(&app, caller, &params)?;
    let mut cmds = app.state.commands(key.0, key.1);
    if q.get("with_localizations").is_none_or(|v| v != "true") {
        for c in &mut cmds {
            strip_localizations(c);
        }
    }
    Ok(ok(Value::Array(cmds)))
}

/// Removes every `*_localizations` dictionary (Discord sends `*_localized` for the
/// caller's locale instead, which the emulator has none of).
fn strip_localizations(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.ends_with("_localizations"));
            m.values_mut().for_each(strip_localizations);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_localizations),
        _ => {}
    }
}

/// `PUT /applications/{app}[/guilds/{guild}]/commands`: bulk overwrite.
pub(crate) async fn put_commands(
    AxState(app): AxState<App>,
    Extension(caller): Extension<Caller>,
    Path(params): Path<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (application, guild) = commands_scope(&app, caller, &params)?;
    if !matches!(json_body(&body)?, Value::Array(_)) {
        return Err(ApiError::form(
            "_root",
            "BASE_TYPE_ARRAY",
            "Must be an array.",
        ));
    }
    let parsed = from_discord(&body).map_err(|e| {
        form_errors(vec![(
            path_segments(&e.path),
            "BASE_TYPE_INVALID".to_owned(),
            e.problem,
        )])
    })?;
    if let Err(e) = validate(&parsed) {
        let errors = e
            .issues()
            .iter()
            .map(|i| {
                (
                    issue_segments(&parsed, &i.path),
                    "APPLICATION_COMMAND_INVALID".to_owned(),
                    i.to_string(),
                )
            })
            .collect();
        return Err(form_errors(errors));
    }
    let state = &app.state;
    let previous = state.commands(application, guild);
    let mut out = Vec::with_capacity(parsed.len());
    for c in &parsed {
        let kind = kind_code(c.kind);
        let id = previous
            .iter()
            .find(|p| p["name"] == c.name.as_str() && p["type"] == kind)
            .and_then(|p| p["id"].as_str().map(str::to_owned))
            .unwrap_or_else(|| state.snowflake().to_string());
        out.push(stored(c, kind, &id, state.snowflake(), application, guild));
    }
    state.put_commands(application, guild, out.clone());
    bump(&state.tenants[tenant(caller)?].counters.command_puts);
    state.changed.notify_waiters();
    Ok(ok(Value::Array(out)))
}

/// Registers `commands` for `application` in one scope as a bulk overwrite would
/// (validated, ids kept by name and type), without counting a PUT: for tests and
/// control clients that need commands in place before injecting them.
pub(crate) fn register(
    state: &super::state::State,
    application: u64,
    guild: Option<u64>,
    commands: &[AppCommand],
) -> Result<(), super::error::SimError> {
    validate(commands).map_err(|e| super::error::SimError::Invalid(e.to_string()))?;
    let previous = state.commands(application, guild);
    let out = commands
        .iter()
        .map(|c| {
            let kind = kind_code(c.kind);
            let id = previous
                .iter()
                .find(|p| p["name"] == c.name.as_str() && p["type"] == kind)
                .and_then(|p| p["id"].as_str().map(str::to_owned))
                .unwrap_or_else(|| state.snowflake().to_string());
            stored(c, kind, &id, state.snowflake(), application, guild)
        })
        .collect();
    state.put_commands(application, guild, out);
    state.changed.notify_waiters();
    Ok(())
}

fn kind_code(k: CommandKind) -> u8 {
    match k {
        CommandKind::ChatInput => 1,
        CommandKind::User => 2,
        CommandKind::Message => 3,
    }
}

/// A command as Discord stores and returns it.
fn stored(
    c: &AppCommand,
    kind: u8,
    id: &str,
    version: u64,
    application: u64,
    guild: Option<u64>,
) -> Value {
    let mut v = command_to_discord(c);
    let Value::Object(m) = &mut v else {
        return v;
    };
    m.insert("id".into(), json!(id));
    m.insert("application_id".into(), json!(application.to_string()));
    m.insert("version".into(), json!(version.to_string()));
    m.insert("type".into(), json!(kind));
    if let Some(g) = guild {
        m.insert("guild_id".into(), json!(g.to_string()));
    }
    let defaults = [
        ("description", json!("")),
        ("default_member_permissions", Value::Null),
        ("dm_permission", json!(true)),
        ("nsfw", json!(false)),
        ("contexts", Value::Null),
        ("integration_types", json!([0])),
        ("name_localizations", Value::Null),
        ("description_localizations", Value::Null),
    ];
    for (k, d) in defaults {
        m.entry(k).or_insert(d);
    }
    v
}

/// `[2].options[0].type` → `["2", "options", "0", "type"]`.
fn path_segments(path: &str) -> Vec<String> {
    path.split(['.', '[', ']'])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A validation path (`commands[game].options[2].choices`) in Discord's form: the
/// command's index in the body, then the fields. Set-wide problems (counts,
/// duplicates) go to the root.
fn issue_segments(parsed: &[AppCommand], path: &str) -> Vec<String> {
    let Some((head, rest)) = path.split_once('[') else {
        return Vec::new();
    };
    let Some((name, tail)) = rest.split_once(']') else {
        return Vec::new();
    };
    let kind = match head {
        "commands" => CommandKind::ChatInput,
        "user_commands" => CommandKind::User,
        "message_commands" => CommandKind::Message,
        _ => return Vec::new(),
    };
    if tail.is_empty() {
        return Vec::new();
    }
    let Some(i) = parsed.iter().position(|c| c.kind == kind && c.name == name) else {
        return Vec::new();
    };
    let mut out = vec![i.to_string()];
    out.extend(path_segments(tail));
    out
}

/// Adds `error` under `path`'s `_errors`.
fn insert(node: &mut Map<String, Value>, path: &[String], error: Value) {
    match path.split_first() {
        None => {
            let list = node.entry("_errors").or_insert_with(|| json!([]));
            if let Value::Array(a) = list {
                a.push(error);
            }
        }
        Some((seg, rest)) => {
            let next = node.entry(seg.clone()).or_insert_with(|| json!({}));
            if !next.is_object() {
                *next = json!({});
            }
            if let Value::Object(m) = next {
                insert(m, rest, error);
            }
        }
    }
}

/// Discord's 400 Invalid Form Body (50035) with nested `errors`.
fn form_errors(errors: Vec<(Vec<String>, String, String)>) -> ApiError {
    let mut root = Map::new();
    for (path, code, message) in errors {
        insert(&mut root, &path, json!({"code": code, "message": message}));
    }
    let mut e = ApiError::new(400, "Invalid Form Body", 50035);
    e.body["errors"] = Value::Object(root);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_paths_become_discord_error_paths() {
        let parsed = vec![AppCommand::slash("ok", "x"), AppCommand::slash("Bad", "")];
        assert_eq!(
            issue_segments(&parsed, "commands[Bad].options[2].choices"),
            ["1", "options", "2", "choices"]
        );
        assert!(issue_segments(&parsed, "commands[Bad]").is_empty());
        assert!(issue_segments(&parsed, "commands").is_empty());
        let e = form_errors(vec![
            (vec!["1".into(), "name".into()], "C".into(), "m1".into()),
            (
                vec!["1".into(), "description".into()],
                "C".into(),
                "m2".into(),
            ),
            (vec![], "C".into(), "m3".into()),
        ]);
        assert_eq!(e.status, 400);
        assert_eq!(e.body["code"], 50035);
        assert_eq!(e.body["errors"]["1"]["name"]["_errors"][0]["message"], "m1");
        assert_eq!(
            e.body["errors"]["1"]["description"]["_errors"][0]["message"],
            "m2"
        );
        assert_eq!(e.body["errors"]["_errors"][0]["message"], "m3");
    }
}
