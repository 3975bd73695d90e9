//! Which handlers serve which tenant, from the registry plus the embedding
//! application's own handlers.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::{Registry, TenantConfig};
use crate::handler::{HandlerSet, Interest, UnknownHandler};

use super::RuntimeError;

/// A handler the application registered: it serves every tenant.
pub(crate) type AppHandler = Arc<dyn Fn(&mut HandlerSet, &crate::model::TenantId) + Send + Sync>;

/// Code handlers of worker groups other than the default, by group name
/// (`RuntimeBuilder::group_handler`).
pub(crate) type GroupHandlers = BTreeMap<String, Vec<AppHandler>>;

/// Every worker group of a runtime besides the default: those of
/// `runtime.groups` and those code handlers were added to, in name order.
pub(crate) fn extra_groups(registry: &Registry, code: &GroupHandlers) -> Vec<String> {
    let mut names: Vec<String> = registry
        .runtime
        .groups
        .keys()
        .chain(code.keys())
        .filter(|n| *n != crate::bus::DEFAULT_GROUP)
        .cloned()
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The handler table of worker group `group`: the default group's is
/// [`handler_set`]; another group runs, for every tenant, its configured built-ins
/// (`runtime.groups.<group>.handlers`) then its code handlers, with the tenant's
/// `settings`.
pub(crate) fn group_handler_set(
    registry: &Registry,
    app: &[AppHandler],
    groups: &GroupHandlers,
    group: &str,
) -> Result<HandlerSet, RuntimeError> {
    if group == crate::bus::DEFAULT_GROUP {
        return handler_set(registry, app);
    }
    let builtins = registry
        .runtime
        .groups
        .get(group)
        .map_or(&[][..], |g| g.handlers.as_slice());
    let code = groups.get(group).map_or(&[][..], Vec::as_slice);
    table(
        registry,
        code,
        |_| builtins,
        |_, i, e| format!("runtime.groups.{group}.handlers[{i}]: {e}"),
    )
}

/// What each tenant's handlers want, over every worker group of the cluster (the
/// default group and [`extra_groups`], whether this node runs them or not): a
/// gateway publishes only events some handler wants. A tenant with no handler
/// known here, or a group whose handlers this node does not know (one with no
/// built-ins configured and no code handlers here, or whose table cannot be
/// built), wants everything: this node cannot tell what another node's code
/// wants. (Every node runs the default group's handlers: any node's workers may
/// take any of its events.)
pub(crate) fn interests(
    registry: &Registry,
    app: &[AppHandler],
    groups: &GroupHandlers,
) -> Vec<(crate::model::TenantId, Interest)> {
    let mut sets = vec![handler_set(registry, app).ok()];
    for g in extra_groups(registry, groups) {
        // A group with no built-ins and no code handlers here runs code another
        // node's binary registered: unknown.
        let known_here = groups.contains_key(&g)
            || registry
                .runtime
                .groups
                .get(&g)
                .is_some_and(|c| !c.handlers.is_empty());
        sets.push(
            known_here
                .then(|| group_handler_set(registry, app, groups, &g).ok())
                .flatten(),
        );
    }
    registry
        .tenants
        .iter()
        .map(|t| {
            let id = t.id();
            let mut wanted: Option<Interest> = None;
            for set in &sets {
                let Some(set) = set else {
                    return (id, Interest::ALL);
                };
                if let Some(i) = set.interest(&id) {
                    wanted = Some(wanted.map_or(i, |w| w.union(i)));
                }
            }
            (id, wanted.unwrap_or(Interest::ALL))
        })
        .collect()
}

/// Builds the handler table: each tenant's configured built-ins (its own `handlers`,
/// else `runtime.handlers`), then every application handler, with its `settings`.
pub(crate) fn handler_set(
    registry: &Registry,
    app: &[AppHandler],
) -> Result<HandlerSet, RuntimeError> {
    table(
        registry,
        app,
        |t| t.handlers(&registry.runtime),
        |t, _, e| format!("{}: {}: {e}", t.source.display(), t.id()),
    )
}

/// The handler table of every tenant of `registry`: the built-ins `builtins` names
/// for it, then the code handlers `code`, with the tenant's `settings` and
/// `coordination`; a built-in it cannot have is a problem worded by `problem`
/// (tenant, index, error), each listed once.
fn table<'r>(
    registry: &'r Registry,
    code: &[AppHandler],
    builtins: impl Fn(&'r TenantConfig) -> &'r [String],
    problem: impl Fn(&TenantConfig, usize, &UnknownHandler) -> String,
) -> Result<HandlerSet, RuntimeError> {
    let mut set = HandlerSet::new();
    let mut problems = Vec::new();
    for t in &registry.tenants {
        let id = t.id();
        for (i, name) in builtins(t).iter().enumerate() {
            if let Err(e) = set.add_builtin(&id, name) {
                let p = problem(t, i, &e);
                if !problems.contains(&p) {
                    problems.push(p);
                }
            }
        }
        for add in code {
            add(&mut set, &id);
        }
        set.set_settings(&id, t.settings.clone());
        set.set_coordination(&id, t.coordination);
    }
    if problems.is_empty() {
        Ok(set)
    } else {
        Err(RuntimeError::Config(problems))
    }
}

/// Every registry schedule that names a `handler` names one of its tenant's
/// handlers (else its jobs would reach nobody). Checked where the handlers are
/// known — `Runtime::build` and reload — not by `check-config`, which knows only the
/// built-ins.
pub(crate) fn check_schedule_targets(
    registry: &Registry,
    handlers: &HandlerSet,
) -> Result<(), RuntimeError> {
    let mut problems = Vec::new();
    for t in &registry.tenants {
        let id = t.id();
        let names = handlers.handler_names(&id);
        for (i, s) in t.schedules.iter().enumerate() {
            if let Some(h) = &s.handler
                && !names.contains(h)
            {
                problems.push(format!(
                    "{}: {id}: schedules[{i}].handler: no handler of this tenant is called {h:?} (handlers: {})",
                    t.source.display(),
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(RuntimeError::Config(problems))
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;
    use crate::config::LoadOptions;
    use crate::handler::Handler;
    use crate::model::TenantId;

    fn registry(runtime: &str, tenants: &[(&str, &str)]) -> Registry {
        let mut yaml = format!("namespace: n\nruntime:\n  handlers: [ping]\n{runtime}providers:\n");
        for (name, extra) in tenants {
            let _ = write!(
                yaml,
                "  - provider: discord\n    tenant: {name}\n    credentials: {{ bot_token: fake }}\n{extra}"
            );
        }
        Registry::from_yaml_str(&yaml, "t.yml", &LoadOptions::default()).expect("registry")
    }

    fn of(list: &[(TenantId, Interest)], name: &str) -> Interest {
        let id = TenantId::parse("discord", name).expect("id");
        list.iter().find(|(t, _)| *t == id).expect("listed").1
    }

    /// Wants everything (the default interest).
    struct All;

    impl Handler for All {
        fn name(&self) -> &'static str {
            "all"
        }
    }

    #[test]
    fn a_tenant_wants_what_any_of_its_handlers_in_any_group_wants() {
        let commands = Interest::ALL.without_own_messages();
        let reg = registry("", &[("p", ""), ("none", "    handlers: []\n")]);
        let got = interests(&reg, &[], &GroupHandlers::new());
        assert_eq!(of(&got, "p"), commands, "ping ignores own messages");
        assert_eq!(
            of(&got, "none"),
            Interest::ALL,
            "no handler known: everything"
        );

        // A code handler wanting everything, in another group.
        let all: AppHandler = Arc::new(|set: &mut HandlerSet, t: &crate::model::TenantId| {
            set.add(t, Arc::new(All));
        });
        let groups = GroupHandlers::from([("audit".to_owned(), vec![all])]);
        let got = interests(&reg, &[], &groups);
        assert_eq!(of(&got, "p"), Interest::ALL);

        // A group configured with built-ins that ignore own messages is known.
        let reg = registry("  groups: { side: { handlers: [echo] } }\n", &[("p", "")]);
        assert_eq!(
            of(&interests(&reg, &[], &GroupHandlers::new()), "p"),
            commands
        );
        // A group with nothing known here runs another binary's code: unknown.
        let reg = registry("  groups: { other: { workers: 1 } }\n", &[("p", "")]);
        assert_eq!(
            of(&interests(&reg, &[], &GroupHandlers::new()), "p"),
            Interest::ALL
        );
    }
}
