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
