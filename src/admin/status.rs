//! The status model: what `/v1/status` returns and `switchboardctl status` shows.
//! Plain serde types, so the CLI parses exactly what the daemon writes.

use serde::{Deserialize, Serialize};

/// A tenant's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantState {
    /// Its actors are starting.
    Starting,
    /// Its actors run.
    Running,
    /// Its actors are restarting after a failure.
    Restarting,
    /// Another node holds its gateway lease; this node takes over when it expires.
    Standby,
    /// It failed for good (bad token, restart budget spent); see `reason`.
    Failed,
    /// It was stopped (removed, or shutting down).
    Stopped,
}

/// One gateway shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ShardStatus {
    /// Shard id.
    pub id: u32,
    /// Shard count.
    pub total: u32,
    /// Connection state (`ready`, `resuming`, ...).
    pub state: String,
    /// Last dispatch sequence.
    pub seq: u64,
    /// Heartbeat latency, ms.
    pub latency_ms: Option<u64>,
    /// Resumes so far.
    pub resumes: u64,
    /// Reconnects so far.
    pub reconnects: u64,
    /// Dispatches received.
    pub events: u64,
}

/// A REST rate-limit bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BucketStatus {
    /// Bucket id.
    pub id: String,
    /// Requests per window.
    pub limit: u64,
    /// Left in this window.
    pub remaining: u64,
    /// Until reset, ms.
    pub reset_after_ms: u64,
}

/// A tenant's REST side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RestStatus {
    /// Requests sent.
    pub requests: u64,
    /// Responses by class: `2xx`, `4xx`, `5xx`, `transport` (no response).
    #[serde(default)]
    pub by_status: std::collections::BTreeMap<String, u64>,
    /// Invalid requests (401/403/429) in the process-wide budget's window, and its
    /// refusal threshold.
    #[serde(default)]
    pub invalid_budget: Option<(u64, u64)>,
    /// 429s seen (including retries twilight hid).
    pub rate_limited: u64,
    /// Circuit breaker state (`closed`, `open`, `half_open`).
    pub circuit: String,
    /// Known buckets.
    pub buckets: Vec<BucketStatus>,
}

/// A tenant's application commands, as its access layer registered them on this
/// node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CommandsStatus {
    /// Commands registered in each scope.
    pub registered: usize,
    /// Scopes (global, or each guild) they are registered in.
    pub scopes: usize,
    /// Whether the current plan is registered.
    pub synced: bool,
    /// When the provider was last seen to hold them (Unix ms).
    #[serde(default)]
    pub synced_at_unix_ms: Option<u64>,
    /// When this node last overwrote them (Unix ms).
    #[serde(default)]
    pub last_put_unix_ms: Option<u64>,
    /// Bulk overwrites this node made.
    #[serde(default)]
    pub puts: u64,
    /// The last failure, until a registration succeeds.
    #[serde(default)]
    pub error: Option<String>,
}

/// One tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantStatus {
    /// `provider/tenant`.
    pub id: String,
    /// Lifecycle state.
    pub state: TenantState,
    /// Why it failed or restarts.
    pub reason: Option<String>,
    /// Actor restarts.
    pub restarts: u64,
    /// Gateway shards (absent on worker-only nodes).
    pub shards: Vec<ShardStatus>,
    /// REST side (absent on worker-only nodes).
    pub rest: Option<RestStatus>,
    /// Envelopes waiting for a worker on this node.
    pub inbox: u64,
    /// Handler panics this node's worker pool charged to the tenant.
    #[serde(default)]
    pub handler_panics: u64,
    /// Set while the tenant is quarantined — its handlers kept panicking, so this
    /// node dead-letters its deliveries for a while: why, and for how long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantined: Option<String>,
    /// In a cluster: the node that holds the tenant's gateway (this one when it
    /// runs here, another one when it is standby here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// Its application commands, where this node's access layer registers them
    /// (absent for a tenant that declares none, and on nodes that do not hold it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<CommandsStatus>,
    /// Its scheduled jobs, as this node's scheduler runs them (worker and
    /// all-in-one nodes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<ScheduleStatus>,
}

/// One schedule of a tenant (`schedules:` or `RuntimeBuilder::schedule`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ScheduleStatus {
    /// Its name.
    pub name: String,
    /// Its cron pattern.
    pub cron: String,
    /// The time zone the pattern is read in.
    pub tz: String,
    /// `skip` or `once`: what happens to slots missed while no node ran.
    pub missed: String,
    /// The next slot, Unix milliseconds.
    pub next_run_unix_ms: Option<i64>,
    /// The last slot fired, by any node, as far as this node knows, Unix milliseconds.
    pub last_run_unix_ms: Option<i64>,
    /// Slots this node fired (won the slot's claim and published the job).
    pub fired: u64,
    /// Slots another node fired first.
    pub fired_elsewhere: u64,
    /// Slots skipped: missed while no node ran (`missed: skip`), or found too late.
    pub skipped: u64,
    /// The last failure to fire a slot, if the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The worker pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct WorkersStatus {
    /// Workers configured.
    pub workers: u64,
    /// Busy now.
    pub busy: u64,
    /// Deliveries handled.
    pub handled: u64,
    /// Deliveries failed (retried or dead-lettered).
    pub failed: u64,
    /// Worker restarts.
    pub restarts: u64,
    /// Handler p99, µs.
    pub p99_us: Option<u64>,
    /// The pool as its supervisor sees it: `running`, `restarting` or `failed`.
    #[serde(default = "running")]
    pub state: String,
    /// Why it is restarting or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Times the root supervisor restarted the whole pool.
    #[serde(default)]
    pub pool_restarts: u64,
}

fn running() -> String {
    "running".to_owned()
}

/// The bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BusStatus {
    /// `memory` or `redis`.
    pub backend: String,
    /// Published to inboxes.
    pub published: u64,
    /// Acked.
    pub acked: u64,
    /// Retried.
    pub retried: u64,
    /// Dead-lettered.
    pub dead_lettered: u64,
    /// Waiting on this node.
    pub waiting: u64,
    /// Being handled on this node.
    pub in_flight: u64,
    /// Per tenant, how far behind the workers are (on Redis: across every node).
    /// Empty when the bus could not be read.
    #[serde(default)]
    pub backlog: Vec<BacklogStatus>,
    /// Dead letters kept; `None` when the bus could not be read.
    #[serde(default)]
    pub dead_letter_depth: Option<u64>,
}

/// One tenant's backlog on the bus, summed over its priority classes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BacklogStatus {
    /// `provider/tenant`.
    pub tenant: String,
    /// Envelopes not yet delivered to a worker (Redis: to the consumer group).
    pub lag: u64,
    /// Envelopes delivered and not yet acked.
    pub pending: u64,
}

/// The vault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct VaultStatus {
    /// `memory` or `redis`.
    pub backend: String,
    /// Live leases.
    pub leases: u64,
    /// Whether the vault's store answered its last call.
    #[serde(default)]
    pub available: bool,
}

/// The whole node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeStatus {
    /// switchboard's version.
    pub version: String,
    /// This node's id.
    pub node: String,
    /// `all`, `access` or `worker`.
    pub role: String,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Every tenant, failed ones included.
    pub tenants: Vec<TenantStatus>,
    /// Worker pool (absent on access-only nodes).
    pub workers: Option<WorkersStatus>,
    /// Bus.
    pub bus: BusStatus,
    /// Vault.
    pub vault: VaultStatus,
    /// Every worker group, the default first — listed only when the runtime has
    /// groups besides the default (`runtime.groups`); `workers` and `bus.backlog`
    /// are then the default group's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupStatus>,
}

/// One worker group: its pool on this node, its backlog and its outcomes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GroupStatus {
    /// The group's name (`default` for the tenants' own handlers).
    pub name: String,
    /// Its pool on this node; `None` when this node does not run the group.
    #[serde(default)]
    pub workers: Option<WorkersStatus>,
    /// Envelopes not yet delivered to the group, all tenants (on Redis: across
    /// every node); `None` when the bus could not be read.
    #[serde(default)]
    pub lag: Option<u64>,
    /// Envelopes the group holds unsettled, all tenants.
    #[serde(default)]
    pub pending: Option<u64>,
    /// Deliveries this node acked for the group.
    pub acked: u64,
    /// Deliveries this node retried for the group.
    pub retried: u64,
    /// Deliveries this node dead-lettered for the group.
    pub dead_lettered: u64,
}
