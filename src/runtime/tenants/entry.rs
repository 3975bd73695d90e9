//! [`TenantEntry`]: a supervised tenant as the root supervisor holds it — starting
//! its supervisor, stopping it in order, and its status.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ractor::{Actor, ActorRef};

use super::{AccessShared, Ctx, SupMsg, TenantShared, TenantSupervisor};
use crate::actors::access::{CommandPlan, CommandSync};
use crate::actors::gateway;
use crate::admin::{
    BucketStatus, CommandsStatus, RestStatus, ShardStatus, TenantState, TenantStatus,
};
use crate::config::{Registry, TenantConfig};

/// A supervised tenant.
pub(crate) struct TenantEntry {
    pub(crate) config: Arc<TenantConfig>,
    pub(crate) fingerprint: [u8; 32],
    shared: Arc<TenantShared>,
    actor: Option<ActorRef<SupMsg>>,
}

impl TenantEntry {
    /// Starts the tenant's supervisor, linked to `root` (the only place tenants are
    /// started from is the root supervisor).
    pub(crate) async fn start(
        access: &AccessShared,
        config: Arc<TenantConfig>,
        registry: &Registry,
        commands: CommandPlan,
        root: ractor::ActorCell,
    ) -> Self {
        let shared = Arc::new(TenantShared {
            state: RwLock::new((TenantState::Starting, None)),
            restarts: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            gateway: RwLock::new(None),
            rest: RwLock::new(None),
            commands: CommandSync::new(commands),
        });
        let ctx = Ctx {
            config: config.clone(),
            namespace: registry.namespace.clone(),
            bus: access.bus.clone(),
            vault: access.vault.clone(),
            tokens: access.interaction_tokens(&config.id()),
            deferrals: crate::actors::access::Deferrals::new(registry.runtime.interactions.into()),
            sessions: access.sessions(registry).await,
            budget: access.budget.clone(),
            limits: access.limits.clone(),
            lease_ttl: Duration::from_secs(registry.runtime.lease_ttl_secs),
            shared: shared.clone(),
            cluster: access.cluster().cloned(),
            interest: access.interest(&config.id()),
        };
        let policy = crate::runtime::restart_policy(registry);
        let actor = match Actor::spawn_linked(None, TenantSupervisor, (ctx, policy), root).await {
            Ok((a, _)) => Some(a),
            Err(e) => {
                shared.set(
                    TenantState::Failed,
                    Some(format!("supervisor did not start: {e}")),
                );
                None
            }
        };
        Self {
            fingerprint: crate::runtime::credentials::fingerprint(&config),
            config,
            shared,
            actor,
        }
    }

    /// Hands the tenant's REST actor a new command plan (a reload changed its
    /// handlers or its `commands:`); nothing happens when the plan is the same.
    pub(crate) fn set_commands(&self, plan: CommandPlan) {
        self.shared.commands.set(plan);
    }

    /// Before the tenant stops: brings its registered commands to `plan` (none for
    /// a removed tenant; for a changed one, only the targets its next version
    /// keeps) and waits, at most `timeout`, until its REST actor has done so. Does
    /// not wait when no REST actor runs here, or it has not begun registering.
    pub(crate) async fn settle_commands(&self, plan: CommandPlan, timeout: Duration) -> bool {
        let generation = self.shared.commands.set(plan);
        // No REST actor here (another node holds the tenant, or it failed), or its
        // gateway never had a session (so nothing was registered): nothing to wait for.
        if self.shared.rest().is_none() || !self.shared.commands.is_ready() {
            return false;
        }
        self.shared.commands.wait_synced(generation, timeout).await
    }

    /// The command plan it registers now.
    pub(crate) fn command_plan(&self) -> Arc<CommandPlan> {
        self.shared.commands.plan().1
    }

    /// The shards its gateway runs (whose sessions it saves).
    pub(crate) fn shard_ids(&self) -> Vec<u32> {
        self.shared
            .gateway()
            .map(|g| g.health().shards.iter().map(|s| s.id).collect())
            .unwrap_or_default()
    }

    /// The supervisor actor's id (how the root recognises this tenant's exit).
    pub(crate) fn supervisor_id(&self) -> Option<ractor::ActorId> {
        self.actor.as_ref().map(|a| a.get_id())
    }

    /// Whether a stop was asked for (reload, shutdown) or the tenant failed for good.
    pub(crate) fn is_stopping(&self) -> bool {
        self.shared.stopping.load(Ordering::SeqCst)
    }

    /// Kills the supervisor as a bug would (tests of the root's restart).
    #[cfg(test)]
    pub(crate) fn kill_supervisor(&self) {
        if let Some(a) = &self.actor {
            a.kill();
        }
    }

    /// Restarts of this tenant's actors so far.
    pub(crate) fn restarts(&self) -> u64 {
        self.shared.restarts.load(Ordering::Relaxed)
    }

    /// Carries the restart count over to a replacement entry.
    pub(crate) fn set_restarts(&self, n: u64) {
        self.shared.restarts.store(n, Ordering::Relaxed);
    }

    /// The supervisor died and the root will start the tenant again: stop what is
    /// left of its children so the replacement does not run beside them.
    pub(crate) fn mark_restarting(&self, why: &str) {
        self.shared.set(
            TenantState::Restarting,
            Some(format!("supervisor died: {why}")),
        );
        self.shared.stop_children("supervisor died");
    }

    /// The supervisor died past the root's budget: the tenant stays stopped.
    pub(crate) fn mark_failed(&self, reason: String) {
        self.shared.fail(&self.config.id(), reason);
    }

    /// Stops taking events in (the gateway closes resumably and saves its session)
    /// while the REST actor keeps serving the handlers still running.
    pub(crate) async fn stop_gateway(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(g) = self.shared.gateway() {
            g.stop().await;
        }
    }

    /// Marks the tenant as stopping, so its exits are expected (the root is about to
    /// hand it to a task that stops it).
    pub(crate) fn begin_stop(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
    }

    /// Stops the tenant: gateways close resumably and save their sessions, the REST
    /// actor answers what it holds, leases are released.
    pub(crate) async fn stop(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(g) = self.shared.gateway() {
            g.stop().await;
        }
        if let Some(r) = self.shared.rest() {
            r.stop().await;
        }
        if let Some(a) = &self.actor {
            let _ = a.stop_and_wait(None, Some(Duration::from_secs(10))).await;
        }
        if self.shared.get().0 != TenantState::Failed {
            self.shared.set(TenantState::Stopped, None);
        }
    }

    pub(crate) fn status(&self, inbox: u64) -> TenantStatus {
        let (mut state, mut reason) = self.shared.get();
        let mut shards = Vec::new();
        if let Some(g) = self.shared.gateway() {
            let h = g.health();
            match h.state {
                gateway::TenantState::Failed(r) => {
                    state = TenantState::Failed;
                    reason = Some(r);
                }
                gateway::TenantState::Starting if state == TenantState::Running => {
                    state = TenantState::Starting;
                }
                _ => {}
            }
            shards = h
                .shards
                .iter()
                .map(|s| ShardStatus {
                    id: s.id,
                    total: s.total,
                    state: serde_json::to_value(s.status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    seq: s.last_sequence.unwrap_or(0),
                    latency_ms: s.latency.map(|l| l.as_millis() as u64),
                    resumes: s.resumes,
                    reconnects: s.reconnects,
                    events: s.events_in,
                })
                .collect();
        }
        let rest = self.shared.rest().map(|r| {
            let h = r.health();
            RestStatus {
                requests: h.requests.success
                    + h.requests.client_error
                    + h.requests.server_error
                    + h.requests.transport_error,
                by_status: [
                    ("2xx", h.requests.success),
                    ("4xx", h.requests.client_error),
                    ("5xx", h.requests.server_error),
                    ("transport", h.requests.transport_error),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
                invalid_budget: Some((u64::from(h.budget.used), u64::from(h.budget.threshold))),
                rate_limited: h.ratelimited,
                circuit: serde_json::to_value(h.circuit)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                buckets: h
                    .buckets
                    .iter()
                    .map(|b| BucketStatus {
                        id: format!("{}:{}", b.id, b.major),
                        limit: u64::from(b.limit),
                        remaining: u64::from(b.remaining),
                        reset_after_ms: b.reset_after_ms.unwrap_or(0),
                    })
                    .collect(),
            }
        });
        let (_, plan) = self.shared.commands.plan();
        let sync = self.shared.commands.status();
        let runs_here = self.shared.rest().is_some();
        let commands =
            (sync.generation > 0 || (runs_here && !plan.targets.is_empty())).then_some({
                CommandsStatus {
                    registered: sync.registered,
                    scopes: sync.scopes,
                    synced: sync.synced,
                    synced_at_unix_ms: sync.synced_at_unix_ms,
                    last_put_unix_ms: sync.last_put_unix_ms,
                    puts: sync.puts,
                    error: sync.error,
                }
            });
        TenantStatus {
            id: self.config.id().to_string(),
            state,
            reason,
            restarts: self.shared.restarts.load(Ordering::Relaxed),
            shards,
            rest,
            inbox,
            // Filled in from the worker pool, which charges handler panics.
            handler_panics: 0,
            quarantined: None,
            // Filled in from the cluster view.
            holder: None,
            commands,
            // Filled in from this node's job scheduler.
            schedules: Vec::new(),
        }
    }
}
