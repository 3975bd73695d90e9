//! What a tenant's application commands should be on the provider
//! ([`CommandPlan`]), and the cell through which the runtime tells the tenant's
//! access layer and hears back how registration went ([`CommandSync`]).
//!
//! The runtime computes a plan per tenant from its handlers and its registry entry
//! (at start and on every reload) and hands it to the tenant's [`CommandSync`]; the
//! tenant's REST actor, the only holder of its token, registers it (GET, compare,
//! bulk overwrite only when different) and reports a [`CommandSyncStatus`]. The cell
//! outlives REST actor restarts: a new actor registers the current plan again
//! (which costs one GET per scope and no write when nothing changed).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::commands::CommandSet;

/// Where a command set is registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CommandTarget {
    /// For the whole application.
    Global,
    /// For one guild (its id).
    Guild(u64),
}

impl std::fmt::Display for CommandTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Global => f.write_str("global"),
            Self::Guild(id) => write!(f, "guild {id}"),
        }
    }
}

/// What a tenant's commands should be: `commands` in each of `targets`. Scopes this
/// access layer registered before and the plan no longer names are cleared. A plan
/// with no scopes leaves the provider alone (apart from clearing such scopes): a
/// tenant that declares no commands and has no `commands:` entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommandPlan {
    /// Where.
    pub targets: Vec<CommandTarget>,
    /// What (the same set in each scope).
    pub commands: CommandSet,
}

impl CommandPlan {
    /// The plan that removes everything registered (a removed tenant).
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }
}

/// How registration went, as status shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandSyncStatus {
    /// The plan generation this reports on (0: none registered yet).
    pub generation: u64,
    /// Whether the plan of `generation` is registered in every scope.
    pub synced: bool,
    /// Commands registered per scope (the plan's set), once synced.
    pub registered: usize,
    /// Scopes registered.
    pub scopes: usize,
    /// When Discord was last seen to hold the plan (Unix ms).
    pub synced_at_unix_ms: Option<u64>,
    /// When this node last overwrote the commands (Unix ms).
    pub last_put_unix_ms: Option<u64>,
    /// Bulk overwrites this node made for the tenant.
    pub puts: u64,
    /// The last failure, until a registration succeeds.
    pub error: Option<String>,
}

/// The cell between the runtime and a tenant's access layer: the plan (with a
/// generation that grows with each change) one way, the status the other. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct CommandSync {
    plan: watch::Sender<(u64, Arc<CommandPlan>)>,
    status: watch::Sender<CommandSyncStatus>,
    /// Set once the tenant's gateway has a session: its token is good, so a
    /// rejected token fails the tenant through the gateway's close code first.
    ready: watch::Sender<bool>,
}

impl CommandSync {
    /// A cell holding `plan` (generation 1).
    #[must_use]
    pub fn new(plan: CommandPlan) -> Self {
        Self {
            plan: watch::Sender::new((1, Arc::new(plan))),
            status: watch::Sender::new(CommandSyncStatus::default()),
            ready: watch::Sender::new(false),
        }
    }

    /// Lets registration begin (the tenant's gateway has a session).
    pub fn set_ready(&self) {
        self.ready.send_replace(true);
    }

    /// Whether registration may begin.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Waits until registration may begin.
    pub async fn wait_ready(&self) {
        let mut rx = self.ready.subscribe();
        // An error means the sender is gone, which `self` holds: never.
        let _ = rx.wait_for(|r| *r).await;
    }

    /// Replaces the plan when it differs; returns its generation.
    #[allow(clippy::must_use_candidate)] // callers that do not wait ignore it
    pub fn set(&self, plan: CommandPlan) -> u64 {
        self.plan.send_if_modified(|(generation, current)| {
            if **current == plan {
                return false;
            }
            *generation += 1;
            *current = Arc::new(plan);
            true
        });
        self.plan.borrow().0
    }

    /// The current plan and its generation.
    #[must_use]
    pub fn plan(&self) -> (u64, Arc<CommandPlan>) {
        self.plan.borrow().clone()
    }

    /// Follows plan changes (the access layer's side).
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<(u64, Arc<CommandPlan>)> {
        self.plan.subscribe()
    }

    /// The last status.
    #[must_use]
    pub fn status(&self) -> CommandSyncStatus {
        self.status.borrow().clone()
    }

    /// Updates the status (the access layer's side).
    pub fn report(&self, f: impl FnOnce(&mut CommandSyncStatus)) {
        self.status.send_modify(f);
    }

    /// Waits until the plan of `generation` (or a later one) is registered, or a
    /// registration of it failed, for at most `timeout`; returns whether it was
    /// registered.
    pub async fn wait_synced(&self, generation: u64, timeout: Duration) -> bool {
        let mut rx = self.status.subscribe();
        let done = rx.wait_for(|s| s.generation >= generation && (s.synced || s.error.is_some()));
        match tokio::time::timeout(timeout, done).await {
            Ok(Ok(s)) => s.synced,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::AppCommand;

    #[tokio::test]
    async fn the_generation_moves_only_when_the_plan_changes() {
        let plan = CommandPlan {
            targets: vec![CommandTarget::Global],
            commands: CommandSet::new([AppCommand::slash("ping", "Pong")]),
        };
        let sync = CommandSync::new(plan.clone());
        assert_eq!(sync.set(plan.clone()), 1);
        assert_eq!(sync.set(CommandPlan::none()), 2);
        assert_eq!(sync.plan().1.targets.len(), 0);
        assert!(!sync.wait_synced(2, Duration::from_millis(10)).await);
        sync.report(|s| {
            s.generation = 2;
            s.synced = true;
        });
        assert!(sync.wait_synced(2, Duration::from_millis(10)).await);
        assert!(sync.wait_synced(1, Duration::from_millis(10)).await);
    }
}
