//! Semantic checks after deserialization: names, ids, URLs, backends, limits.
//!
//! Provider-specific rules (Discord snowflakes and intents) live here too, keyed by
//! provider name, because the registry must reject them before any actor starts.

use std::path::Path;

use super::error::Issues;
use super::load::LoadOptions;
use super::registry::{
    AllowConfig, BackendKind, CommandScope, CommandsConfig, RawTenant, RuntimeConfig, TenantConfig,
};
use crate::model::{ProviderName, TenantName, validate_segment};

/// Providers this build can run.
pub const SUPPORTED_PROVIDERS: &[&str] = &["discord"];

/// Discord gateway intents by their snake-case names.
pub const DISCORD_INTENTS: &[&str] = &[
    "guilds",
    "guild_members",
    "guild_moderation",
    "guild_expressions",
    "guild_integrations",
    "guild_webhooks",
    "guild_invites",
    "guild_voice_states",
    "guild_presences",
    "guild_messages",
    "guild_message_reactions",
    "guild_message_typing",
    "direct_messages",
    "direct_message_reactions",
    "direct_message_typing",
    "message_content",
    "guild_scheduled_events",
    "auto_moderation_configuration",
    "auto_moderation_execution",
    "guild_message_polls",
    "direct_message_polls",
];

/// Whether `s` looks like a Discord snowflake: 1–20 digits that fit a non-zero `u64`.
#[must_use]
pub fn is_snowflake(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 20
        && s.bytes().all(|b| b.is_ascii_digit())
        && s.parse::<u64>().is_ok_and(|n| n > 0)
}

pub(crate) fn namespace(ns: &str, file: &Path, issues: &mut Issues) {
    if let Err(e) = validate_segment(ns) {
        issues.push(file, "namespace", format!("{ns:?} {e}"));
    }
}

fn var_name_ok(name: &str) -> bool {
    let mut c = name.chars();
    c.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A Redis URL of `field`: its scheme, and its TLS parameters (`?ca_file=`: only on
/// `rediss://`; with `read_files`, the file must hold PEM certificates). Messages never
/// repeat the URL past its scheme check, since it may hold a password.
fn redis_url(
    url: Option<&String>,
    field: &str,
    read_files: bool,
    file: &Path,
    issues: &mut Issues,
) {
    match url {
        None => issues.push(
            file,
            field,
            "required for backend redis (e.g. redis://127.0.0.1:6379)",
        ),
        Some(u) if !(u.starts_with("redis://") || u.starts_with("rediss://")) => issues.push(
            file,
            field,
            format!("{u:?} is not a Redis URL (expected redis://host:port or rediss://...)"),
        ),
        Some(u) => {
            if let Err(e) = crate::redis_tls::check_url(u, read_files) {
                issues.push(file, field, e.to_string());
            }
        }
    }
}

/// `runtime.interactions`: the deferral must reach Discord within its 3 s window.
fn interactions(rt: &RuntimeConfig, file: &Path, issues: &mut Issues) {
    let ix = rt.interactions;
    if !(100..=2_500).contains(&ix.defer_after_ms) {
        issues.push(
            file,
            "runtime.interactions.defer_after_ms",
            format!(
                "{} is outside 100–2500: the deferral must reach Discord within its 3-second window",
                ix.defer_after_ms
            ),
        );
    }
    if !(1_000..=840_000).contains(&ix.answer_within_ms) {
        issues.push(
            file,
            "runtime.interactions.answer_within_ms",
            format!(
                "{} is outside 1000–840000 (the interaction token lives 15 minutes)",
                ix.answer_within_ms
            ),
        );
    }
}

/// `runtime.fetch`: limits of the `http.fetch` effect.
fn fetch(rt: &RuntimeConfig, file: &Path, issues: &mut Issues) {
    const GIB: u64 = 1 << 30;
    let f = rt.fetch;
    if !(1..=GIB).contains(&f.max_bytes) {
        issues.push(
            file,
            "runtime.fetch.max_bytes",
            format!("{} is outside 1–{GIB} (1 GiB)", f.max_bytes),
        );
    }
    if !(100..=600_000).contains(&f.timeout_ms) {
        issues.push(
            file,
            "runtime.fetch.timeout_ms",
            format!("{} is outside 100–600000", f.timeout_ms),
        );
    }
}

/// `runtime.embeddings`: the embeddings service.
fn embeddings(rt: &RuntimeConfig, file: &Path, issues: &mut Issues) {
    let Some(e) = &rt.embeddings else {
        return;
    };
    match url::Url::parse(&e.url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        Ok(u) => issues.push(
            file,
            "runtime.embeddings.url",
            format!(
                "a {}: URL: expected http:// or https:// with a host",
                u.scheme()
            ),
        ),
        Err(err) => issues.push(file, "runtime.embeddings.url", format!("not a URL: {err}")),
    }
    if e.model.trim().is_empty() {
        issues.push(file, "runtime.embeddings.model", "must not be empty");
    }
    if let Err(err) = validate_segment(&e.secret) {
        issues.push(
            file,
            "runtime.embeddings.secret",
            format!("secret name {:?} {err}", e.secret),
        );
    }
    if e.dimension == Some(0) {
        issues.push(file, "runtime.embeddings.dimension", "must be at least 1");
    }
    if !(1..=2048).contains(&e.batch) {
        issues.push(
            file,
            "runtime.embeddings.batch",
            format!("{} is outside 1–2048", e.batch),
        );
    }
    if e.rate_per_sec == 0 {
        issues.push(
            file,
            "runtime.embeddings.rate_per_sec",
            "must be at least 1",
        );
    }
    if e.burst == Some(0) {
        issues.push(file, "runtime.embeddings.burst", "must be at least 1");
    }
    if e.max_retries > 10 {
        issues.push(
            file,
            "runtime.embeddings.max_retries",
            format!("{} is more than 10", e.max_retries),
        );
    }
    if !(100..=600_000).contains(&e.timeout_ms) {
        issues.push(
            file,
            "runtime.embeddings.timeout_ms",
            format!("{} is outside 100–600000", e.timeout_ms),
        );
    }
}

/// `runtime.groups`: names are segments other than the default group's, each
/// group has 1–4096 workers, and its handlers are built-ins.
fn groups(rt: &RuntimeConfig, file: &Path, issues: &mut Issues) {
    for (name, g) in &rt.groups {
        let at = format!("runtime.groups.{name}");
        if let Err(e) = validate_segment(name) {
            issues.push(file, &at, format!("group name {name:?} {e}"));
        } else if name == crate::bus::DEFAULT_GROUP {
            issues.push(
                file,
                &at,
                format!(
                    "{name:?} is the default group (runtime.workers, runtime.handlers); choose another name"
                ),
            );
        }
        if g.workers == 0 || g.workers > 4096 {
            issues.push(
                file,
                format!("{at}.workers"),
                format!("{} workers: must be 1 to 4096", g.workers),
            );
        }
        for (i, h) in g.handlers.iter().enumerate() {
            let field = format!("{at}.handlers[{i}]");
            if let Err(e) = validate_segment(h) {
                issues.push(file, field, format!("handler name {h:?} {e}"));
            } else if crate::handler::builtin(h).is_none() {
                issues.push(
                    file,
                    field,
                    format!(
                        "unknown handler {h:?}: not a built-in (code handlers join a group with RuntimeBuilder::group_handler)"
                    ),
                );
            }
        }
    }
}

pub(crate) fn runtime(rt: &RuntimeConfig, file: &Path, opts: &LoadOptions, issues: &mut Issues) {
    let at_least_one = |v: u64, field: &str, issues: &mut Issues| {
        if v == 0 {
            issues.push(file, format!("runtime.{field}"), "must be at least 1");
        }
    };
    at_least_one(rt.workers as u64, "workers", issues);
    if rt.workers > 4096 {
        issues.push(
            file,
            "runtime.workers",
            format!("{} is more than 4096", rt.workers),
        );
    }
    at_least_one(
        rt.max_in_flight_per_tenant as u64,
        "max_in_flight_per_tenant",
        issues,
    );
    at_least_one(u64::from(rt.max_deliveries), "max_deliveries", issues);
    at_least_one(rt.lease_ttl_secs, "lease_ttl_secs", issues);
    at_least_one(rt.restart.period_secs, "restart.period_secs", issues);
    interactions(rt, file, issues);
    fetch(rt, file, issues);
    embeddings(rt, file, issues);
    for (i, h) in rt.handlers.iter().enumerate() {
        if let Err(e) = validate_segment(h) {
            issues.push(
                file,
                format!("runtime.handlers[{i}]"),
                format!("handler name {h:?} {e}"),
            );
        }
    }
    groups(rt, file, issues);
    if let Err(e) = validate_segment(&rt.redis_prefix) {
        issues.push(
            file,
            "runtime.redis_prefix",
            format!("{:?} {e}", rt.redis_prefix),
        );
    }
    match rt.vault.backend {
        BackendKind::Memory => {
            if rt.vault.url.is_some()
                || rt.vault.key_env.is_some()
                || rt.vault.worker_key_env.is_some()
            {
                issues.push(
                    file,
                    "runtime.vault",
                    "url, key_env and worker_key_env are only for backend redis",
                );
            }
        }
        BackendKind::Redis => {
            redis_url(
                rt.vault.url.as_ref(),
                "runtime.vault.url",
                opts.resolve_env,
                file,
                issues,
            );
            let key_env = rt
                .vault
                .key_env
                .as_deref()
                .unwrap_or("SWITCHBOARD_VAULT_KEY");
            if !var_name_ok(key_env) {
                issues.push(
                    file,
                    "runtime.vault.key_env",
                    format!("{key_env:?} is not a variable name"),
                );
            } else if opts.resolve_env && (opts.env)(key_env).is_none() {
                issues.push(
                    file,
                    "runtime.vault.key_env",
                    format!(
                        "environment variable {key_env} (the vault's encryption key) is not set"
                    ),
                );
            }
            if let Some(worker_env) = rt.vault.worker_key_env.as_deref()
                && !var_name_ok(worker_env)
            {
                issues.push(
                    file,
                    "runtime.vault.worker_key_env",
                    format!("{worker_env:?} is not a variable name"),
                );
            }
        }
    }
    bus(rt, file, opts.resolve_env, issues);
    admin(rt, file, opts, issues);
    store(rt, file, issues);
}

/// `runtime.store`: each backend with its own fields, and a PostgreSQL URL that is
/// one. The URL is a secret: problems never quote it.
fn store(rt: &RuntimeConfig, file: &Path, issues: &mut Issues) {
    use secrecy::ExposeSecret;

    use super::registry::StoreBackend;
    let Some(store) = &rt.store else {
        return;
    };
    if store.max_connections == Some(0) {
        issues.push(file, "runtime.store.max_connections", "must be at least 1");
    }
    match store.backend {
        StoreBackend::Sqlite => {
            if store.url.is_some() {
                issues.push(
                    file,
                    "runtime.store.url",
                    "only for backend postgres (sqlite takes a path)",
                );
            }
            if store
                .path
                .as_ref()
                .is_some_and(|p| p.as_os_str().is_empty())
            {
                issues.push(file, "runtime.store.path", "must not be empty");
            }
        }
        StoreBackend::Postgres => {
            if store.path.is_some() {
                issues.push(
                    file,
                    "runtime.store.path",
                    "only for backend sqlite (postgres takes a url)",
                );
            }
            match &store.url {
                None => issues.push(
                    file,
                    "runtime.store.url",
                    "required for backend postgres (e.g. postgres://user@127.0.0.1:5432/switchboard)",
                ),
                Some(u) => {
                    let u = u.expose_secret();
                    let ok = url::Url::parse(u).is_ok_and(|parsed| {
                        matches!(parsed.scheme(), "postgres" | "postgresql")
                            && parsed.host_str().is_some()
                    });
                    // An uninterpolated `${VAR}` (check-config without the
                    // environment) is checked when the runtime starts.
                    if !ok && !u.starts_with("${") {
                        issues.push(
                            file,
                            "runtime.store.url",
                            "is not a PostgreSQL URL (expected postgres://user:password@host:port/database; not shown, it may hold a password)",
                        );
                    }
                }
            }
        }
    }
}

/// `runtime.admin`: a usable token variable, and no admin API on the network without
/// a token (the runtime refuses to start one; this says so before it tries).
fn admin(rt: &RuntimeConfig, file: &Path, opts: &LoadOptions, issues: &mut Issues) {
    let admin = &rt.admin;
    let exposed = !crate::admin::is_loopback(admin.listen.ip());
    match &admin.token_env {
        Some(t) if !var_name_ok(t) => issues.push(
            file,
            "runtime.admin.token_env",
            format!("{t:?} is not a variable name"),
        ),
        Some(t) if exposed && opts.resolve_env && (opts.env)(t).is_none_or(|v| v.is_empty()) => {
            issues.push(
                file,
                "runtime.admin.token_env",
                format!(
                    "environment variable {t} is not set or empty, and runtime.admin.listen {} is not a loopback address: the admin API is not served on the network without a token",
                    admin.listen
                ),
            );
        }
        None if exposed => issues.push(
            file,
            "runtime.admin.listen",
            format!(
                "{} is not a loopback address and runtime.admin.token_env is not set: the admin API is not served on the network without a token (set token_env, or listen on 127.0.0.1)",
                admin.listen
            ),
        ),
        None if admin.auth_reads => issues.push(
            file,
            "runtime.admin.auth_reads",
            "needs runtime.admin.token_env: without a token every read under /v1/ would be refused",
        ),
        Some(_) | None => {}
    }
}

/// `runtime.bus` and what needs it (`runtime.tenants_store: redis`).
fn bus(rt: &RuntimeConfig, file: &Path, read_files: bool, issues: &mut Issues) {
    if rt.tenants_store == super::registry::TenantsStore::Redis
        && rt.bus.backend != BackendKind::Redis
    {
        issues.push(
            file,
            "runtime.tenants_store",
            "redis needs runtime.bus.backend: redis (the registry lives next to the bus)",
        );
    }
    match rt.bus.backend {
        BackendKind::Memory => {
            if rt.bus.url.is_some() {
                issues.push(file, "runtime.bus.url", "only for backend redis");
            }
            if rt.bus.claim_idle_ms.is_some() {
                issues.push(file, "runtime.bus.claim_idle_ms", "only for backend redis");
            }
        }
        BackendKind::Redis => redis_url(
            rt.bus.url.as_ref(),
            "runtime.bus.url",
            read_files,
            file,
            issues,
        ),
    }
}

fn url_with_scheme(url: &str, schemes: &[&str], field: &str, file: &Path, issues: &mut Issues) {
    let rest = schemes
        .iter()
        .find_map(|s| url.strip_prefix(s).and_then(|r| r.strip_prefix("://")));
    let ok = rest.is_some_and(|r| {
        let host = r.split('/').next().unwrap_or("");
        !host.is_empty() && !host.contains(char::is_whitespace)
    });
    if !ok {
        let expected: Vec<String> = schemes.iter().map(|s| format!("{s}://host:port")).collect();
        issues.push(
            file,
            field,
            format!(
                "{url:?} is not a valid URL (expected {})",
                expected.join(" or ")
            ),
        );
    }
}

/// Discord's own rules: a bot token, snowflake ids, known intents.
fn discord_rules(
    raw: &RawTenant,
    f: &dyn Fn(&str) -> String,
    file: &Path,
    opts: &LoadOptions,
    issues: &mut Issues,
) {
    if raw.credentials.bot_token.is_none() {
        issues.push(
            file,
            f("credentials.bot_token"),
            "required for provider discord",
        );
    }
    if let Some(app_id) = &raw.credentials.app_id
        && !(is_snowflake(app_id) || (!opts.resolve_env && app_id.starts_with("${")))
    {
        issues.push(
            file,
            f("credentials.app_id"),
            format!("{app_id:?} is not a snowflake id (1-20 digits)"),
        );
    }
    for (list, name) in [
        (&raw.allow.guilds, "allow.guilds"),
        (&raw.allow.channels, "allow.channels"),
    ] {
        for (i, id) in list.iter().enumerate() {
            if id != "*" && !is_snowflake(id) {
                issues.push(
                    file,
                    format!("{}[{i}]", f(name)),
                    format!("{id:?} is not a snowflake id or \"*\""),
                );
            }
        }
    }
    for (i, intent) in raw.gateway.intents.iter().enumerate() {
        if !DISCORD_INTENTS.contains(&intent.as_str()) {
            issues.push(
                file,
                format!("{}[{i}]", f("gateway.intents")),
                format!(
                    "unknown intent {intent:?} (expected one of: {})",
                    DISCORD_INTENTS.join(", ")
                ),
            );
        }
    }
}

/// `commands`: guild scope needs explicit guilds; `only` names each command once.
/// (Whether the handlers declare the names in `only` is checked where the handlers
/// are known: `Runtime::build`, reload and `check-config`.)
fn commands(
    c: &CommandsConfig,
    allow: &AllowConfig,
    f: &impl Fn(&str) -> String,
    file: &Path,
    issues: &mut Issues,
) {
    if c.scope == Some(CommandScope::Guilds) {
        if allow.guilds.iter().any(|g| g == "*") {
            issues.push(
                file,
                f("commands.scope"),
                "`guilds` registers to each guild allow.guilds lists, but it is \"*\"; list the guild ids or use `global`",
            );
        } else if allow.guilds.is_empty() {
            issues.push(
                file,
                f("commands.scope"),
                "`guilds` registers to each guild allow.guilds lists, but it lists none",
            );
        }
    }
    for (i, name) in c.only.iter().flatten().enumerate() {
        let path = format!("{}[{i}]", f("commands.only"));
        if name.trim().is_empty() {
            issues.push(file, path, "empty command name");
        } else if c.only.iter().flatten().take(i).any(|n| n == name) {
            issues.push(file, path, format!("{name:?} is listed twice"));
        }
    }
}

/// `schedules:`: every entry's name, pattern, time zone and handler name, and no
/// name twice (see `crate::jobs::Schedule::from_config`).
fn schedules(
    list: &[super::registry::ScheduleConfig],
    f: &impl Fn(&str) -> String,
    file: &Path,
    issues: &mut Issues,
) {
    for (i, s) in list.iter().enumerate() {
        let at = |field: &str| f(&format!("schedules[{i}].{field}"));
        if let Err(errors) = crate::jobs::Schedule::from_config(s) {
            for e in errors {
                issues.push(file, at(e.field()), e.to_string());
            }
        }
        if list.iter().take(i).any(|o| o.name == s.name) {
            issues.push(
                file,
                at("name"),
                format!("{:?} is used by another schedule of this tenant", s.name),
            );
        }
    }
}

/// Checks one tenant and builds its final form.
pub(crate) fn tenant(
    raw: RawTenant,
    file: &Path,
    path: &str,
    opts: &LoadOptions,
    issues: &mut Issues,
) -> Option<TenantConfig> {
    let before = issues.list.len();
    let f = |field: &str| {
        if path.is_empty() {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        }
    };
    let provider = ProviderName::new(&raw.provider)
        .map_err(|e| issues.push(file, f("provider"), e.to_string()))
        .ok();
    if provider.is_some() && !SUPPORTED_PROVIDERS.contains(&raw.provider.as_str()) {
        issues.push(
            file,
            f("provider"),
            format!(
                "unknown provider {:?} (supported: {})",
                raw.provider,
                SUPPORTED_PROVIDERS.join(", ")
            ),
        );
    }
    let tenant = TenantName::new(&raw.tenant)
        .map_err(|e| issues.push(file, f("tenant"), e.to_string()))
        .ok();
    let discord = raw.provider == "discord";

    if discord {
        discord_rules(&raw, &f, file, opts, issues);
    }
    if let Some(ns) = &raw.storage.namespace
        && let Err(e) = validate_segment(ns)
    {
        {
            issues.push(file, f("storage.namespace"), format!("{ns:?} {e}"));
        }
    }
    if let Some(api) = &raw.endpoints.api {
        url_with_scheme(api, &["http", "https"], &f("endpoints.api"), file, issues);
    }
    if let Some(gw) = &raw.endpoints.gateway {
        url_with_scheme(gw, &["ws", "wss"], &f("endpoints.gateway"), file, issues);
    }
    for (i, h) in raw.handlers.iter().flatten().enumerate() {
        if let Err(e) = validate_segment(h) {
            issues.push(
                file,
                format!("{}[{i}]", f("handlers")),
                format!("handler name {h:?} {e}"),
            );
        }
    }
    for name in raw.secrets.keys() {
        if let Err(e) = validate_segment(name) {
            issues.push(
                file,
                f(&format!("secrets.{name}")),
                format!("secret name {e}"),
            );
        }
    }
    if let Some(c) = &raw.commands {
        commands(c, &raw.allow, &f, file, issues);
    }
    let settings = raw.settings.unwrap_or(serde_json::Value::Null);
    if !(settings.is_object() || settings.is_null()) {
        issues.push(file, f("settings"), "expected a mapping");
    }
    if raw
        .coordination
        .is_some_and(|c| c.max_bots_per_message == 0)
    {
        issues.push(
            file,
            f("coordination.max_bots_per_message"),
            "must be at least 1",
        );
    }

    schedules(&raw.schedules, &f, file, issues);

    if issues.list.len() != before {
        return None;
    }
    Some(TenantConfig {
        provider: provider?,
        tenant: tenant?,
        credentials: raw.credentials,
        allow: raw.allow,
        storage: raw.storage,
        gateway: raw.gateway,
        endpoints: raw.endpoints,
        publish_raw: raw.publish_raw,
        handlers: raw.handlers,
        commands: raw.commands,
        settings,
        secrets: raw.secrets,
        coordination: raw.coordination,
        schedules: raw.schedules,
        source: file.to_owned(),
    })
}
