//! Each tenant's application-command plan: the commands its handlers declare
//! (filtered by `commands.only`), validated against the provider's limits, and
//! where they go (`commands.scope`, else `allow.guilds`).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::actors::access::{CommandPlan, CommandTarget};
use crate::commands::CommandSet;
use crate::config::{Registry, TenantConfig};
use crate::handler::HandlerSet;
use crate::model::TenantId;

use super::RuntimeError;
use super::handlers::handler_set;

/// Every tenant's plan, by id.
pub(crate) type Plans = BTreeMap<TenantId, Arc<CommandPlan>>;

/// The plan of every tenant of `registry` served by `handlers`.
///
/// # Errors
/// [`RuntimeError::Config`] listing, with file and tenant, every command that
/// would be refused (with its path, e.g. `commands[Bad].name: …`) and every name in
/// `commands.only` no handler of the tenant declares.
pub(crate) fn plans(registry: &Registry, handlers: &HandlerSet) -> Result<Plans, RuntimeError> {
    let mut out = Plans::new();
    let mut problems = Vec::new();
    for t in &registry.tenants {
        match plan(t, handlers) {
            Ok(p) => {
                out.insert(t.id(), Arc::new(p));
            }
            Err(mut p) => problems.append(&mut p),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(RuntimeError::Config(problems))
    }
}

fn plan(t: &TenantConfig, handlers: &HandlerSet) -> Result<CommandPlan, Vec<String>> {
    let id = t.id();
    let at = |path: &str, what: &str| format!("{}: {id}: {path}: {what}", t.source.display());
    let declared = handlers.commands(&id);
    let mut problems = Vec::new();
    let commands = match t.commands.as_ref().and_then(|c| c.only.as_ref()) {
        None => declared,
        Some(only) => {
            for (i, name) in only.iter().enumerate() {
                if !declared.iter().any(|c| &c.name == name) {
                    let names: Vec<&str> = declared.iter().map(|c| c.name.as_str()).collect();
                    problems.push(at(
                        &format!("commands.only[{i}]"),
                        &format!(
                            "no handler of this tenant declares a command {name:?} (declared: {})",
                            if names.is_empty() {
                                "none".to_owned()
                            } else {
                                names.join(", ")
                            }
                        ),
                    ));
                }
            }
            declared
                .iter()
                .filter(|c| only.contains(&c.name))
                .cloned()
                .collect::<CommandSet>()
        }
    };
    if let Err(e) = commands.validate() {
        for issue in e.issues() {
            problems.push(at(&issue.path, &issue.problem));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    // A tenant that declares nothing and says nothing about commands leaves the
    // provider's commands alone (they may be managed elsewhere).
    let managed = t.commands.is_some() || !commands.is_empty();
    let targets = if managed {
        t.command_scopes()
            .into_iter()
            .map(|g| g.map_or(CommandTarget::Global, CommandTarget::Guild))
            .collect()
    } else {
        Vec::new()
    };
    Ok(CommandPlan { targets, commands })
}

/// Checks what a registry's built-in handlers declare, as `switchboard
/// check-config` does: unknown built-in handler names, commands the provider would
/// refuse, `commands.only` names nobody declares.
///
/// ```
/// use switchboard::config::{LoadOptions, Registry};
///
/// let yaml = "providers:\n  - provider: discord\n    tenant: duck\n    credentials: { bot_token: t }\n    handlers: [ping]\n    commands: { only: [pong] }\n";
/// let reg = Registry::from_yaml_str(yaml, "t.yml", &LoadOptions::default())?;
/// let err = switchboard::runtime::check_commands(&reg).unwrap_err();
/// assert!(err.to_string().contains("t.yml: discord/duck: commands.only[0]: no handler of this tenant declares a command \"pong\" (declared: ping)"), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`RuntimeError::Config`] listing every problem.
pub fn check_commands(registry: &Registry) -> Result<(), RuntimeError> {
    let handlers = handler_set(registry, &[])?;
    plans(registry, &handlers).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::AppCommand;
    use crate::config::LoadOptions;
    use crate::handler::Handler;

    struct Declares(Vec<AppCommand>);
    impl Handler for Declares {
        fn name(&self) -> &'static str {
            "declares"
        }
        fn commands(&self) -> Vec<AppCommand> {
            self.0.clone()
        }
    }

    fn registry(tenants: &str) -> Registry {
        let yaml = format!("runtime:\n  handlers: [ping]\nproviders:\n{tenants}");
        Registry::from_yaml_str(&yaml, "t.yml", &LoadOptions::default()).expect("registry")
    }

    fn tenant(name: &str, extra: &str) -> String {
        format!(
            "  - provider: discord\n    tenant: {name}\n    credentials: {{ bot_token: t-{name} }}\n{extra}"
        )
    }

    #[test]
    fn scopes_follow_allow_and_the_commands_key() {
        let reg = registry(
            &[
                tenant("star", ""),
                tenant("two", "    allow: { guilds: ['22', '11'] }\n"),
                tenant(
                    "global",
                    "    allow: { guilds: ['11'] }\n    commands: { scope: global }\n",
                ),
                tenant("quiet", "    handlers: [echo]\n"),
                tenant(
                    "cleared",
                    "    handlers: [echo]\n    commands: { scope: global }\n",
                ),
            ]
            .concat(),
        );
        let handlers = handler_set(&reg, &[]).expect("handlers");
        let plans = plans(&reg, &handlers).expect("plans");
        let get = |n: &str| plans[&TenantId::parse("discord", n).expect("id")].clone();
        assert_eq!(get("star").targets, [CommandTarget::Global]);
        assert_eq!(get("star").commands.len(), 1);
        assert_eq!(
            get("two").targets,
            [CommandTarget::Guild(11), CommandTarget::Guild(22)]
        );
        assert_eq!(get("global").targets, [CommandTarget::Global]);
        assert!(
            get("quiet").targets.is_empty(),
            "nothing declared, not managed"
        );
        assert_eq!(get("cleared").targets, [CommandTarget::Global]);
        assert!(get("cleared").commands.is_empty());
    }

    /// An app handler declaring `/Bad Name` for every tenant.
    fn declares_a_bad_name() -> crate::runtime::handlers::AppHandler {
        Arc::new(|set: &mut HandlerSet, t: &TenantId| {
            set.add(
                t,
                Arc::new(Declares(vec![AppCommand::slash("Bad Name", "x")])),
            );
        })
    }

    #[test]
    fn bad_commands_and_unknown_only_names_are_reported_with_their_path() {
        let reg = registry(&tenant("duck", "    commands: { only: [ping, nope] }\n"));
        let bad = declares_a_bad_name();
        let handlers = handler_set(&reg, &[bad]).expect("handlers");
        let err = plans(&reg, &handlers).expect_err("bad").to_string();
        assert!(
            err.contains("t.yml: discord/duck: commands.only[1]: no handler of this tenant declares a command \"nope\" (declared: Bad Name, ping)"),
            "{err}"
        );

        let reg = registry(&tenant("duck", ""));
        let bad = declares_a_bad_name();
        let handlers = handler_set(&reg, &[bad]).expect("handlers");
        let err = plans(&reg, &handlers).expect_err("bad").to_string();
        assert!(
            err.contains("t.yml: discord/duck: commands[Bad Name].name:"),
            "{err}"
        );
    }
}
