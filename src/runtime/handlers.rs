//! Which handlers serve which tenant, from the registry plus the embedding
//! application's own handlers.

use std::sync::Arc;

use crate::config::Registry;
use crate::handler::HandlerSet;

use super::RuntimeError;

/// A handler the application registered: it serves every tenant.
pub(crate) type AppHandler = Arc<dyn Fn(&mut HandlerSet, &crate::model::TenantId) + Send + Sync>;

/// Builds the handler table: each tenant's configured built-ins (its own `handlers`,
/// else `runtime.handlers`), then every application handler, with its `settings`.
pub(crate) fn handler_set(
    registry: &Registry,
    app: &[AppHandler],
) -> Result<HandlerSet, RuntimeError> {
    let mut set = HandlerSet::new();
    let mut problems = Vec::new();
    for t in &registry.tenants {
        let id = t.id();
        for name in t.handlers(&registry.runtime) {
            if let Err(e) = set.add_builtin(&id, name) {
                problems.push(format!("{}: {}: {e}", t.source.display(), id));
            }
        }
        for add in app {
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
