//! The cluster: daemons on one Redis that know each other and share the tenants.
//!
//! Every node heartbeats a [`NodeRecord`] (id, role, admin address, version, start
//! time, the tenants it holds, how many it keeps on standby) under a TTL, and reads
//! everyone else's; the union is the live view. Ownership of a tenant is its
//! exclusive gateway lease (the vault's, with a fencing token) — the view only
//! decides *placement*:
//!
//! - when a tenant's lease is free, the most preferred node with room (rendezvous
//!   hashing, [`placement`]) takes it at once and the others wait their turn, so
//!   tenants spread evenly without a coordinator;
//! - a node holding more than its fair share hands off one tenant per heartbeat,
//!   while another node has room: its gateway closes resumably, the lease is
//!   released and announced on a pub/sub channel, and the new owner RESUMEs;
//! - a standby node sleeps until the lease could expire, or until the release is
//!   announced: a tenant with no change costs one read per lease lifetime.
//!
//! A node that dies is noticed by its lease expiring (the survivors take over and
//! RESUME) and by its record expiring (the view shrinks, shares grow).
//!
//! # Layout
//! - `node.rs`: [`NodeRecord`] and the Redis keys; `placement.rs`: the pure
//!   placement functions; `tasks.rs`: the heartbeat and the release listener.

mod node;
pub mod placement;
mod tasks;
mod tenants;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use fred::prelude::*;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use node::NodeRecord;
pub use tenants::TenantStore;

use node::Keys;
use placement::Candidate;

use crate::model::{TenantId, now_ms};

/// Timing of the cluster registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterConfig {
    /// How often a node writes its record and reads the others'.
    pub heartbeat: Duration,
    /// How long a record outlives its last heartbeat (a dead node leaves the view
    /// this long after it stopped).
    pub node_ttl: Duration,
    /// How much longer each node with room waits than the one preferred before it.
    pub claim_step: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(1),
            node_ttl: Duration::from_secs(3),
            claim_step: Duration::from_millis(250),
        }
    }
}

/// Errors of the cluster registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// Redis refused the URL or could not be reached.
    #[error("cluster registry on Redis: {0}")]
    Redis(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn redis_err(e: fred::error::Error) -> ClusterError {
    ClusterError::Redis(Box::new(e))
}

/// What the cluster asks of a tenant's supervisor on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// Its gateway lease was just released elsewhere: look at it now.
    LeaseReleased,
    /// This node holds more than its share: hand the tenant off.
    HandOff,
}

/// How a tenant's supervisor is reached.
pub(crate) type SignalFn = Arc<dyn Fn(Signal) + Send + Sync>;

struct Member {
    held: bool,
    signal: SignalFn,
}

/// What the background tasks share with the handle.
pub(crate) struct Shared {
    client: Client,
    keys: Keys,
    me: String,
    role: String,
    started_ms: u64,
    config: ClusterConfig,
    admin: RwLock<Option<String>>,
    view: RwLock<Vec<NodeRecord>>,
    members: DashMap<String, Member>,
    tenants: AtomicUsize,
    last_hand_off: Mutex<Option<Instant>>,
    /// Called when another node changed the shared tenant registry.
    on_tenants_changed: RwLock<Option<Arc<dyn Fn() + Send + Sync>>>,
    /// Called when a node left the view (its record expired or was removed).
    on_node_lost: RwLock<Option<Arc<dyn Fn() + Send + Sync>>>,
}

/// This node's membership in the cluster. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    shared: Arc<Shared>,
    subscriber: Client,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.shared.me)
            .field("nodes", &self.nodes().len())
            .finish_non_exhaustive()
    }
}

async fn connect(url: &str) -> Result<Client, ClusterError> {
    crate::bus::connect_redis(url).await.map_err(redis_err)
}

impl Cluster {
    /// Joins the cluster on the Redis at `url` (keys under `prefix`) as node `me`
    /// with `role` (`all`, `access`, `worker`): writes the first heartbeat and starts
    /// the heartbeat and release-listener tasks.
    ///
    /// # Errors
    /// [`ClusterError::Redis`] if Redis cannot be reached.
    pub async fn join(
        url: &str,
        prefix: &str,
        me: &str,
        role: &str,
        config: ClusterConfig,
    ) -> Result<Self, ClusterError> {
        let client = connect(url).await?;
        // A subscribed connection can do nothing else: its own client.
        let subscriber = connect(url).await?;
        let shared = Arc::new(Shared {
            client,
            keys: Keys::new(prefix),
            me: me.to_owned(),
            role: role.to_owned(),
            started_ms: now_ms(),
            config,
            admin: RwLock::new(None),
            view: RwLock::new(Vec::new()),
            members: DashMap::new(),
            tenants: AtomicUsize::new(0),
            last_hand_off: Mutex::new(None),
            on_tenants_changed: RwLock::new(None),
            on_node_lost: RwLock::new(None),
        });
        if let Err(e) = shared.beat().await {
            tracing::warn!(error = %crate::Report(&e), "first cluster heartbeat failed; retrying in the background");
        }
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        tracker.spawn(tasks::heartbeat(Arc::clone(&shared), cancel.clone()));
        tracker.spawn(tasks::listen(
            Arc::clone(&shared),
            subscriber.clone(),
            cancel.clone(),
        ));
        Ok(Self {
            shared,
            subscriber,
            cancel,
            tracker,
        })
    }

    /// This node's id.
    #[must_use]
    pub fn node_id(&self) -> &str {
        &self.shared.me
    }

    /// The live nodes as of the last heartbeat (this one included), by id.
    #[must_use]
    pub fn nodes(&self) -> Vec<NodeRecord> {
        self.shared.view()
    }

    /// Sets the admin address other nodes see.
    pub fn set_admin(&self, admin: impl Into<String>) {
        *self
            .shared
            .admin
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(admin.into());
    }

    /// Calls `f` whenever a node announces a change of the shared tenant registry
    /// (this node's own announcements included).
    pub(crate) fn on_tenants_changed(&self, f: Arc<dyn Fn() + Send + Sync>) {
        *self
            .shared
            .on_tenants_changed
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(f);
    }

    /// Calls `f` whenever a node leaves the view (it died or left), e.g. so the bus
    /// claims what it left behind.
    pub fn on_node_lost(&self, f: Arc<dyn Fn() + Send + Sync>) {
        *self
            .shared
            .on_node_lost
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(f);
    }

    /// How many tenants the registry has (the fair share divides them).
    pub(crate) fn set_tenants(&self, n: usize) {
        self.shared.tenants.store(n, Ordering::Relaxed);
    }

    /// A tenant's supervisor on this node joins (standby until it holds the lease).
    pub(crate) fn add_tenant(&self, tenant: &TenantId, signal: SignalFn) {
        self.shared.members.insert(
            tenant.to_string(),
            Member {
                held: false,
                signal,
            },
        );
    }

    /// A tenant's supervisor on this node stops.
    pub(crate) fn remove_tenant(&self, tenant: &TenantId) {
        self.shared.members.remove(&tenant.to_string());
    }

    /// Records whether this node holds the tenant's gateway.
    pub(crate) fn set_held(&self, tenant: &TenantId, held: bool) {
        if let Some(mut m) = self.shared.members.get_mut(&tenant.to_string()) {
            m.held = held;
        }
    }

    /// How long to wait before taking `tenant`'s free lease (see [`placement`]).
    #[must_use]
    pub(crate) fn claim_delay(&self, tenant: &TenantId) -> Duration {
        let nodes = self.shared.candidates();
        placement::claim_delay(
            &tenant.to_string(),
            &self.shared.me,
            &nodes,
            self.shared.tenants.load(Ordering::Relaxed),
            self.shared.config.claim_step,
            self.shared.config.node_ttl,
        )
    }

    /// Announces that this node released `tenant`'s gateway lease, so standbys take
    /// it over now rather than when it would have expired.
    pub(crate) async fn announce_release(&self, tenant: &TenantId) {
        let channel = self.shared.keys.released();
        if let Err(e) = self
            .shared
            .client
            .publish::<(), _, _>(channel, tenant.to_string())
            .await
        {
            tracing::debug!(provider = %tenant.provider, tenant = %tenant.tenant, error = %crate::Report(&e), "could not announce a released lease");
        }
    }

    /// Leaves the cluster: stops the tasks and removes this node's record.
    pub async fn leave(&self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        let s = &self.shared;
        let _: Result<(), _> = s.client.del(s.keys.node(&s.me)).await;
        let _: Result<(), _> = s.client.srem(s.keys.nodes(), s.me.as_str()).await;
        let _ = self.subscriber.quit().await;
        let _ = s.client.quit().await;
    }
}

impl Shared {
    fn view(&self) -> Vec<NodeRecord> {
        self.view
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn held(&self) -> Vec<String> {
        let mut held: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.held)
            .map(|m| m.key().clone())
            .collect();
        held.sort();
        held
    }

    /// How many tenants this node holds (without listing them).
    fn held_count(&self) -> usize {
        self.members.iter().filter(|m| m.held).count()
    }

    fn record(&self) -> NodeRecord {
        let held = self.held();
        NodeRecord {
            id: self.me.clone(),
            role: self.role.clone(),
            admin: self
                .admin
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_ms: self.started_ms,
            heartbeat_ms: now_ms(),
            standby: self.members.len().saturating_sub(held.len()),
            held,
        }
    }

    /// The access-capable nodes as placement sees them; this node's own count is
    /// the live one, not the last heartbeat's.
    fn candidates(&self) -> Vec<Candidate> {
        let mine = self.held_count();
        let mut nodes: Vec<Candidate> = self
            .view()
            .into_iter()
            .filter(|n| n.runs_access() && n.id != self.me)
            .map(|n| Candidate {
                id: n.id,
                held: n.held.len(),
            })
            .collect();
        if self.role != "worker" {
            nodes.push(Candidate {
                id: self.me.clone(),
                held: mine,
            });
        }
        nodes
    }

    /// Hands one tenant off if this node holds more than its share (at most one per
    /// two heartbeats, so the others' views catch up first).
    fn rebalance(&self) {
        if self.role == "worker" {
            return;
        }
        {
            let last = self
                .last_hand_off
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|at| at.elapsed() < self.config.heartbeat * 2) {
                return;
            }
        }
        let nodes = self.candidates();
        let tenants = self.tenants.load(Ordering::Relaxed);
        // Within its share (the usual case) a node lists nothing: one count a beat.
        if self.held_count() <= placement::fair_share(tenants, nodes.len()) {
            return;
        }
        let held = self.held();
        let Some(tenant) = placement::hand_off(&self.me, &held, &nodes, tenants) else {
            return;
        };
        if let Some(m) = self.members.get(tenant) {
            tracing::info!(tenant = %tenant, held = held.len(), share = placement::fair_share(tenants, nodes.len()), "over the fair share; handing a tenant off");
            (m.signal)(Signal::HandOff);
            *self
                .last_hand_off
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        }
    }

    /// The shared tenant registry changed.
    fn tenants_changed(&self) {
        let f = self
            .on_tenants_changed
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(f) = f {
            f();
        }
    }

    /// A release was announced: wake the tenant's standby supervisor.
    fn released(&self, tenant: &str) {
        if let Some(m) = self.members.get(tenant)
            && !m.held
        {
            (m.signal)(Signal::LeaseReleased);
        }
    }
}
