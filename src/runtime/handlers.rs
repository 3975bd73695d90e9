//! Which handlers serve which tenant, from the registry plus the embedding
//! application's own handlers.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::{Registry, TenantConfig};
use crate::handler::{HandlerSet, UnknownHandler};

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
