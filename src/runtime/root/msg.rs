//! What the root supervisor is asked, and [`RootHandle`], the typed handle the
//! runtime, reload and the admin backend use instead of touching its state.

use std::sync::Arc;

use ractor::{ActorId, ActorRef, RpcReplyPort};

use super::state::RootView;
use crate::actors::WorkerPoolHandle;
use crate::admin::{AdminError, ReloadReport};
use crate::config::Registry;
use crate::model::TenantId;
use crate::runtime::tenants::TenantEntry;

/// The root's messages. Those that expect an answer carry a reply port; the root
/// answers from its own state, and never waits in its handler for something that
/// needs the root to process another message (a supervision event) first.
pub(crate) enum RootMsg {
    /// Start the worker pool and every tenant of the registry (once, at build).
    /// Answers why the pool could not start.
    Start(RpcReplyPort<Result<(), PoolStartError>>),
    /// Reload: apply a new registry (add, remove, change tenants; new handlers).
    /// Applies run one after the other; the answer comes once the tenants it added
    /// or changed are started.
    Apply(
        Box<Registry>,
        RpcReplyPort<Result<ReloadReport, AdminError>>,
    ),
    /// The tenants the running apply removed or changed are stopped (a task did it,
    /// so the root kept handling supervision events meanwhile): start the new ones.
    Retired,
    /// The root's current view, after every message sent before this one.
    View(RpcReplyPort<Arc<RootView>>),
    /// Shutdown: the root stops restarting anything and hands its children over,
    /// so the runtime can stop them in order.
    Shutdown(RpcReplyPort<ShutdownPlan>),
    /// Start a worker group's pool again (the group's name).
    StartPool(String),
    /// Start a tenant's supervisor again, if the one that died (this id) is still
    /// the tenant's current one.
    RestartTenant(TenantId, ActorId),
    /// Start the vault actor again.
    RestartVault,
}

/// What the runtime stops, in order, on shutdown.
pub(crate) struct ShutdownPlan {
    pub(crate) tenants: Vec<Arc<TenantEntry>>,
    pub(crate) pools: Vec<WorkerPoolHandle>,
}

/// Why a worker group's pool did not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PoolStartError {
    /// Its handler table could not be built.
    #[error("worker group {group}: its handlers")]
    Handlers {
        /// The group.
        group: String,
        /// Why.
        #[source]
        source: Box<super::super::RuntimeError>,
    },
    /// The pool actor could not be spawned.
    #[error("worker group {group}: the pool did not start")]
    Spawn {
        /// The group.
        group: String,
        /// ractor's error.
        #[source]
        source: ractor::SpawnErr,
    },
}

/// Why the root could not answer (the source: ractor's error, the message it
/// could not deliver dropped).
#[derive(Debug, thiserror::Error)]
#[error("the root supervisor is not running")]
pub(crate) struct RootGone(#[source] ractor::RactorErr<()>);

impl<T> From<ractor::RactorErr<T>> for RootGone {
    fn from(e: ractor::RactorErr<T>) -> Self {
        Self(e.map(drop))
    }
}

/// A handle on the root supervisor.
#[derive(Clone)]
pub(crate) struct RootHandle {
    actor: ActorRef<RootMsg>,
}

impl RootHandle {
    pub(super) fn new(actor: ActorRef<RootMsg>) -> Self {
        Self { actor }
    }

    /// Starts the pool and the tenants.
    pub(crate) async fn start(&self) -> Result<Result<(), PoolStartError>, RootGone> {
        Ok(ractor::call!(self.actor, RootMsg::Start)?)
    }

    /// Applies a new registry.
    pub(crate) async fn apply(&self, registry: Registry) -> Result<ReloadReport, AdminError> {
        ractor::call!(self.actor, RootMsg::Apply, Box::new(registry))
            .map_err(|e| AdminError::Internal(crate::Report(&RootGone::from(e)).to_string()))?
    }

    /// The root's view, answered by the root itself.
    pub(crate) async fn view(&self) -> Result<Arc<RootView>, RootGone> {
        Ok(ractor::call!(self.actor, RootMsg::View)?)
    }

    /// Takes the children over for shutdown.
    pub(crate) async fn shutdown(&self) -> Result<ShutdownPlan, RootGone> {
        Ok(ractor::call!(self.actor, RootMsg::Shutdown)?)
    }

    /// Stops the root actor itself (the last step of shutdown).
    pub(crate) fn stop(&self) {
        self.actor.stop(Some("shutdown".to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::{RootGone, RootMsg};

    #[test]
    fn root_gone_keeps_ractors_error_as_its_source() {
        let gone = RootGone::from(ractor::RactorErr::<RootMsg>::Timeout);
        let report = crate::Report(&gone).to_string();
        assert!(
            report.starts_with("the root supervisor is not running: "),
            "{report}"
        );
        assert!(std::error::Error::source(&gone).is_some());
    }
}
