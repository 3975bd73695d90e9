//! The root supervisor's state — its children, their restart budgets, the running
//! registry — and [`RootView`], the read-only snapshot of it the root publishes.
//!
//! Only the root writes its state. Everyone else reads the latest `RootView` from a
//! `watch` channel (a cloned `Arc`, no round trip: `/readyz` and `/metrics` scrape
//! it) or asks the root with a message.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use ractor::{ActorCell, RpcReplyPort};
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

use crate::actors::{RestartBudget, RestartPolicy, WorkerPoolConfig, WorkerPoolHandle};
use crate::admin::{AdminError, ReloadReport};
use crate::bus::Bus;
use crate::cluster::Cluster;
use crate::config::{Registry, TenantConfig};
use crate::handler::HandlerSet;
use crate::model::TenantId;
use crate::runtime::commands::Plans;
use crate::runtime::handlers::{AppHandler, GroupHandlers};
use crate::runtime::tenants::{AccessShared, TenantEntry};
use crate::vault::VaultHandle;

/// A child's state as the root sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChildState {
    Running,
    Restarting,
    Failed,
}

impl ChildState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Restarting => "restarting",
            Self::Failed => "failed",
        }
    }
}

/// A worker group's pool as the view shows it.
#[derive(Clone)]
pub(crate) struct PoolView {
    /// The worker group it serves.
    pub(crate) group: String,
    /// The running pool, if any.
    pub(crate) handle: Option<WorkerPoolHandle>,
    pub(crate) state: ChildState,
    /// Why it is restarting or failed.
    pub(crate) reason: Option<String>,
    /// Pool restarts made by the root.
    pub(crate) restarts: u64,
}

/// What the root publishes after each change of its children.
pub(crate) struct RootView {
    /// The registry running now.
    pub(crate) registry: Arc<Registry>,
    /// The supervised tenants, by id (their health is read from shared cells).
    pub(crate) tenants: Vec<(TenantId, Arc<TenantEntry>)>,
    /// The worker pools this node runs, one per worker group (the default first
    /// when it runs it): none on an access-only node.
    pub(crate) pools: Vec<PoolView>,
}

impl RootView {
    /// The view before the root has started anything.
    pub(crate) fn empty(registry: Arc<Registry>, groups: &[String]) -> Self {
        Self {
            registry,
            tenants: Vec::new(),
            pools: groups.iter().map(|g| PoolView::new(g)).collect(),
        }
    }

    /// The default group's pool if this node runs it, else its first.
    pub(crate) fn pool(&self) -> Option<&PoolView> {
        self.pools
            .iter()
            .find(|p| p.group == crate::bus::DEFAULT_GROUP)
            .or_else(|| self.pools.first())
    }
}

impl PoolView {
    fn new(group: &str) -> Self {
        Self {
            group: group.to_owned(),
            handle: None,
            state: ChildState::Running,
            reason: None,
            restarts: 0,
        }
    }
}

/// What the root is started with.
pub(crate) struct RootArgs {
    pub(crate) registry: Arc<Registry>,
    pub(crate) bus: Bus,
    pub(crate) vault: VaultHandle,
    /// Set when this node runs the access layer (tenant supervisors).
    pub(crate) access: Option<Arc<AccessShared>>,
    /// The cluster this node joined (Redis mode): told the tenant count on reload.
    pub(crate) cluster: Option<Cluster>,
    pub(crate) app_handlers: Vec<AppHandler>,
    /// Code handlers of the worker groups besides the default.
    pub(crate) group_handlers: GroupHandlers,
    /// Every tenant's application-command plan.
    pub(crate) plans: Plans,
    /// The pools of the worker groups this node runs (none: access only).
    pub(crate) pools: Vec<WorkerPoolConfig>,
    pub(crate) policy: RestartPolicy,
    /// Where the root's background work (stopping tenants) is tracked, so shutdown
    /// waits for it.
    pub(crate) tasks: TaskTracker,
    pub(crate) view: watch::Sender<Arc<RootView>>,
}

/// A supervised tenant and the root's restart budget for its supervisor.
pub(crate) struct TenantSlot {
    pub(crate) entry: Arc<TenantEntry>,
    pub(crate) budget: RestartBudget,
}

/// A worker group's pool's place in the tree, with its own restart budget.
pub(crate) struct PoolSlot {
    pub(crate) config: WorkerPoolConfig,
    pub(crate) view: PoolView,
    pub(crate) budget: RestartBudget,
}

impl PoolSlot {
    pub(crate) fn is(&self, cell: &ActorCell) -> bool {
        self.view
            .handle
            .as_ref()
            .is_some_and(|p| p.actor().get_id() == cell.get_id())
    }
}

/// An apply between its two halves: the old tenants are being stopped by a task.
pub(crate) struct Applying {
    pub(crate) registry: Arc<Registry>,
    /// The default group's handlers.
    pub(crate) handlers: HandlerSet,
    /// Every other group's handlers, by group.
    pub(crate) group_sets: Vec<(String, HandlerSet)>,
    pub(crate) plans: Plans,
    /// Tenants to start once the old ones are stopped.
    pub(crate) start: Vec<Arc<TenantConfig>>,
    pub(crate) report: ReloadReport,
    pub(crate) reply: ApplyReply,
}

/// The root's state: every child, its budget, and the running registry.
pub(crate) struct RootState {
    pub(crate) registry: Arc<Registry>,
    pub(crate) bus: Bus,
    pub(crate) vault: VaultHandle,
    pub(crate) access: Option<Arc<AccessShared>>,
    pub(crate) cluster: Option<Cluster>,
    pub(crate) app_handlers: Vec<AppHandler>,
    pub(crate) group_handlers: GroupHandlers,
    /// Every tenant's application-command plan, for the registry running now.
    pub(crate) plans: Plans,
    pub(crate) policy: RestartPolicy,
    pub(crate) tasks: TaskTracker,
    pub(crate) tenants: BTreeMap<TenantId, TenantSlot>,
    pub(crate) pools: Vec<PoolSlot>,
    pub(crate) vault_budget: RestartBudget,
    /// The apply in progress, and those waiting for it.
    pub(crate) applying: Option<Applying>,
    pub(crate) queued: VecDeque<(Box<Registry>, ApplyReply)>,
    /// Set by `Shutdown`: every exit is expected from then on.
    pub(crate) shutting_down: bool,
    /// Where the view is published.
    publisher: watch::Sender<Arc<RootView>>,
}

impl RootState {
    pub(crate) fn new(args: RootArgs) -> Self {
        Self {
            registry: args.registry,
            bus: args.bus,
            vault: args.vault,
            access: args.access,
            cluster: args.cluster,
            app_handlers: args.app_handlers,
            group_handlers: args.group_handlers,
            plans: args.plans,
            tenants: BTreeMap::new(),
            pools: args
                .pools
                .into_iter()
                .map(|config| PoolSlot {
                    view: PoolView::new(&config.group),
                    config,
                    budget: RestartBudget::new(args.policy),
                })
                .collect(),
            vault_budget: RestartBudget::new(args.policy),
            policy: args.policy,
            tasks: args.tasks,
            applying: None,
            queued: VecDeque::new(),
            shutting_down: false,
            publisher: args.view,
        }
    }

    /// The view of the state as it is now.
    pub(crate) fn view(&self) -> Arc<RootView> {
        Arc::new(RootView {
            registry: self.registry.clone(),
            tenants: self
                .tenants
                .iter()
                .map(|(id, slot)| (id.clone(), slot.entry.clone()))
                .collect(),
            pools: self.pools.iter().map(|p| p.view.clone()).collect(),
        })
    }

    /// Publishes the view; called after every change of children or registry.
    pub(crate) fn publish(&self) {
        self.publisher.send_replace(self.view());
    }

    /// The tenant whose supervisor is `cell`.
    pub(crate) fn tenant_of(&self, cell: &ActorCell) -> Option<TenantId> {
        self.tenants
            .iter()
            .find(|(_, s)| s.entry.supervisor_id() == Some(cell.get_id()))
            .map(|(id, _)| id.clone())
    }
}

/// Where an apply's answer goes.
pub(crate) type ApplyReply = RpcReplyPort<Result<ReloadReport, AdminError>>;
