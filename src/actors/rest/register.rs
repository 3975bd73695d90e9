//! Registering the tenant's application commands: a task beside the request pump
//! that follows the tenant's [`CommandSync`] plan. Per target (global, or a guild)
//! it asks Discord what it has (`GET …/commands?with_localizations=true`), compares
//! with the plan ([`same_commands`]) and bulk-overwrites (`PUT …/commands`) only
//! when they differ, so restarts and reloads do not churn. Targets it registered
//! and the plan no longer names are cleared (`PUT []`). Every call goes through the
//! same gates as the tenant's other REST calls ([`send`]).
//!
//! It begins once the tenant's gateway has a session ([`CommandSync::set_ready`]),
//! so a rejected token fails the tenant through the gateway's close code, not a
//! registration call. The application id is `credentials.app_id`, else `GET /applications/@me` (once).
//! A failure is reported in the status and retried with backoff (up to a minute
//! apart) until it works or the plan changes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::core::Core;
use super::exec::{Failure, send};
use crate::actors::access::{CommandPlan, CommandSync, CommandTarget};
use crate::bus::backoff;
use crate::providers::discord::commands::{ParseCommandsError, diff, from_discord, to_discord};
use crate::providers::discord::rest as calls;

/// Why a registration failed: the call and, where another error caused it, that
/// error as the source (the status shows it through [`Report`](crate::Report)).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RegisterError {
    /// The provider refused or failed a call.
    #[error("{what}: {status} {message}")]
    Call {
        what: &'static str,
        status: u16,
        message: String,
    },
    /// A call could not be built.
    #[error("{what}: the request could not be built")]
    Build {
        what: &'static str,
        #[source]
        source: calls::BuildError,
    },
    /// `GET …/commands` answered something that is not a list of application
    /// commands as Discord documents them.
    #[error("GET commands: the answer is not a list of application commands")]
    Commands(#[source] ParseCommandsError),
    /// `GET /applications/@me` answered without a usable application id (the
    /// source: the JSON error, if the body was not JSON at all).
    #[error("GET /applications/@me: the answer names no application id")]
    ApplicationId(#[source] Option<serde_json::Error>),
}

impl RegisterError {
    fn build(what: &'static str) -> impl FnOnce(calls::BuildError) -> Self {
        move |source| Self::Build { what, source }
    }

    fn call(what: &'static str, f: Failure) -> Self {
        Self::Call {
            what,
            status: f.status,
            message: f.message,
        }
    }
}

/// Longest wait between retries of a failed registration.
const RETRY_MAX: Duration = Duration::from_secs(60);

/// Follows `sync`'s plan until `stop`.
pub(crate) async fn run(
    core: Arc<Core>,
    sync: CommandSync,
    app_id: Option<String>,
    stop: CancellationToken,
) {
    // Registration begins once the gateway has a session (see `CommandSync`).
    tokio::select! {
        biased;
        () = stop.cancelled() => return,
        () = sync.wait_ready() => {}
    }
    let mut plans = sync.subscribe();
    let mut app = app_id.and_then(|a| a.parse::<u64>().ok());
    // What this actor registered, per target: the plan's fingerprint.
    let mut synced: BTreeMap<CommandTarget, String> = BTreeMap::new();
    loop {
        let (generation, plan) = plans.borrow_and_update().clone();
        let mut failures = 0;
        loop {
            let result = tokio::select! {
                biased;
                () = stop.cancelled() => return,
                r = register(&core, &mut app, &plan, &mut synced) => r,
            };
            match result {
                Ok(puts) => {
                    let now = crate::model::now_ms();
                    sync.report(|s| {
                        s.generation = generation;
                        s.synced = true;
                        s.registered = if plan.targets.is_empty() {
                            0
                        } else {
                            plan.commands.len()
                        };
                        s.scopes = plan.targets.len();
                        s.synced_at_unix_ms = Some(now);
                        if puts > 0 {
                            s.puts += puts;
                            s.last_put_unix_ms = Some(now);
                        }
                        s.error = None;
                    });
                    break;
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(error = %crate::Report(&e), failures, "registering application commands failed");
                    sync.report(|s| {
                        s.generation = generation;
                        s.synced = false;
                        s.error = Some(crate::Report(&e).to_string());
                    });
                    if core.is_failed() {
                        return;
                    }
                    let wait = backoff(failures, Duration::from_secs(1), RETRY_MAX);
                    tokio::select! {
                        biased;
                        () = stop.cancelled() => return,
                        // A new plan is registered instead.
                        r = plans.changed() => if r.is_err() { return } else { break },
                        () = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
        if plans.has_changed().unwrap_or(false) {
            continue;
        }
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            r = plans.changed() => if r.is_err() { return },
        }
    }
}

/// Brings every target of `plan` (and every target registered before that it no
/// longer names) in line; returns how many bulk overwrites it took.
async fn register(
    core: &Core,
    app: &mut Option<u64>,
    plan: &CommandPlan,
    synced: &mut BTreeMap<CommandTarget, String>,
) -> Result<u64, RegisterError> {
    let stale: Vec<CommandTarget> = synced
        .keys()
        .filter(|t| !plan.targets.contains(t))
        .copied()
        .collect();
    if plan.targets.is_empty() && stale.is_empty() {
        // Not managed: leave the provider's commands alone.
        return Ok(0);
    }
    let app = if let Some(a) = app {
        *a
    } else {
        let a = application_id(core).await?;
        *app = Some(a);
        a
    };
    let fingerprint = plan.commands.fingerprint();
    let mut puts = 0;
    for target in &plan.targets {
        if synced.get(target) == Some(&fingerprint) {
            continue;
        }
        if overwrite_if_changed(core, app, *target, plan).await? {
            puts += 1;
        }
        synced.insert(*target, fingerprint.clone());
    }
    for target in stale {
        if overwrite_if_changed(core, app, target, &CommandPlan::none()).await? {
            puts += 1;
        }
        synced.remove(&target);
    }
    Ok(puts)
}

/// GET, compare, PUT when different; returns whether it PUT.
async fn overwrite_if_changed(
    core: &Core,
    app: u64,
    target: CommandTarget,
    plan: &CommandPlan,
) -> Result<bool, RegisterError> {
    let guild = match target {
        CommandTarget::Global => None,
        CommandTarget::Guild(g) => Some(g),
    };
    let get = calls::get_commands(app, guild).map_err(RegisterError::build("GET commands"))?;
    let reply = send(core, &get)
        .await
        .map_err(|f| RegisterError::call("GET commands", f))?;
    let fetched = from_discord(&reply.body).map_err(RegisterError::Commands)?;
    let declared = plan.commands.commands();
    let changes = diff(declared, &fetched);
    if changes.is_empty() {
        return Ok(false);
    }
    let body = to_discord(declared);
    let put =
        calls::set_commands(app, guild, &body).map_err(RegisterError::build("PUT commands"))?;
    send(core, &put)
        .await
        .map_err(|f| RegisterError::call("PUT commands", f))?;
    let changes: Vec<String> = changes.iter().map(ToString::to_string).collect();
    tracing::info!(%target, commands = declared.len(), changes = %changes.join(", "), "application commands registered");
    Ok(true)
}

/// The application's id, from `GET /applications/@me`.
async fn application_id(core: &Core) -> Result<u64, RegisterError> {
    let call =
        calls::current_application().map_err(RegisterError::build("GET /applications/@me"))?;
    let reply = send(core, &call)
        .await
        .map_err(|f| RegisterError::call("GET /applications/@me", f))?;
    let me: Value =
        serde_json::from_slice(&reply.body).map_err(|e| RegisterError::ApplicationId(Some(e)))?;
    me.get("id")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or(RegisterError::ApplicationId(None))
}
