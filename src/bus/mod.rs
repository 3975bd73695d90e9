//! The bus: how envelopes travel between the access layer and the workers.
//!
//! Two backends behind one [`Bus`] type: **in-process** (the embedded default) and
//! **Redis Streams** (several daemons sharing one Redis). Either way:
//!
//! - events and raw payloads go to the tenant's *inbox*, one queue per priority class;
//!   workers take them through a fair [scheduler](SchedulerConfig) (priority first,
//!   then deficit round-robin across tenants, with a per-tenant in-flight cap);
//! - commands (`rest.request`) go to the tenant's request queue, served by that
//!   tenant's `RestActor`, which answers with [`Bus::respond`] to the inbox the request
//!   names (`reply_to`: the requesting node);
//! - delivery is at-least-once: every delivery is acked, retried with backoff (a new
//!   entry carrying `attempt + 1`), or dead-lettered after `max_deliveries` attempts
//!   with its last error. Undecodable bytes are dead-lettered with the decode error.
//!
//! ARCHITECTURE.md documents the topic → queue (Redis key) mapping.

mod backlog;
mod delivery;
mod error;
mod group;
pub(crate) mod jobs;
mod memory;
mod pending;
mod redis;
mod retry;
mod scheduler;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[cfg(feature = "internals")]
pub use backlog::TenantBacklog;
pub use backlog::{BusBacklog, GroupBacklog};
pub use delivery::{DeadLetter, Delivery};
pub use error::BusError;
pub use group::{DEFAULT_GROUP, GroupId, GroupStats, consumer_group};
pub use pending::PendingReply;
pub(crate) use redis::{FENCED_SET, Keys as RedisKeys, connect as connect_redis};
pub use redis::{RedisBusConfig, fence_key};
pub use retry::backoff;
pub use scheduler::{SchedulerConfig, SchedulerStats};

use delivery::Receipt;
use group::Group;
use pending::Pending;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::model::{Envelope, EnvelopeId, RestResponse, TenantId, now_ms};

/// How the bus behaves, whatever the backend.
#[derive(Debug, Clone)]
pub struct BusConfig {
    /// This node's name; responses to its requests are addressed to it.
    pub node_id: String,
    /// Deliveries of one envelope before it is dead-lettered.
    pub max_deliveries: u32,
    /// The fair scheduler's settings.
    pub scheduler: SchedulerConfig,
    /// First retry delay; doubles per attempt.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// How many requests per tenant may wait for its `RestActor`.
    pub request_queue_bound: usize,
    /// Dead letters kept in memory (in-process backend; the oldest is dropped, counted
    /// and logged past this).
    pub dead_letter_capacity: usize,
    /// Whether this node takes inbox work (Redis: runs the inbox fetcher). An
    /// access-only node sets it off: it runs no workers, so anything it fetched would
    /// wait in vain until another node claimed it.
    pub consume_inbox: bool,
    /// Worker groups besides the default one (`runtime.groups`), the same on every
    /// node of a cluster: each sees every inbox envelope independently.
    pub groups: Vec<String>,
    /// The groups this node consumes (with `consume_inbox`); `None`: all of them.
    pub consume_groups: Option<Vec<String>>,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            node_id: format!("node-{}", ulid::Ulid::new().to_string().to_lowercase()),
            max_deliveries: 5,
            scheduler: SchedulerConfig::default(),
            retry_base: Duration::from_millis(200),
            retry_max: Duration::from_secs(30),
            request_queue_bound: 4096,
            dead_letter_capacity: 10_000,
            consume_inbox: true,
            groups: Vec::new(),
            consume_groups: None,
        }
    }
}

/// The bus's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusStats {
    /// Which backend (`memory` or `redis`).
    pub backend: &'static str,
    /// Envelopes published to inboxes.
    pub published: u64,
    /// Deliveries acknowledged after handling.
    pub acked: u64,
    /// Deliveries scheduled for a retry.
    pub retried: u64,
    /// Envelopes (or undecodable entries) dead-lettered.
    pub dead_lettered: u64,
    /// Entries that could not be decoded.
    pub decode_errors: u64,
    /// Requests published.
    pub requests: u64,
    /// Requests waiting for a response on this node.
    pub pending_requests: usize,
    /// The default group's scheduler.
    pub scheduler: SchedulerStats,
    /// Every worker group (the default first): its scheduler and outcomes.
    pub groups: Vec<GroupStats>,
}

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    acked: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    decode_errors: AtomicU64,
    requests: AtomicU64,
}

enum Backend {
    Memory(memory::MemoryBackend),
    Redis(Box<redis::RedisBackend>),
}

struct Inner {
    config: BusConfig,
    /// The worker groups, the default first, each with its own scheduler.
    /// Deliveries wait boxed: an envelope is several hundred bytes, and a box moves
    /// through the queue's futures and slots as one pointer.
    groups: Vec<Group>,
    pending: Pending,
    counters: Counters,
    backend: Backend,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

/// A handle on the bus; cheap to clone, shared by every actor of a node.
///
/// ```
/// # tokio_test_block_on(async {
/// use switchboard::bus::{Bus, BusConfig};
/// use switchboard::model::{Envelope, Event, MemberLeft, Payload, TenantId, UserRef};
///
/// let bus = Bus::memory(BusConfig::default());
/// let duck = TenantId::parse("discord", "duck")?;
/// let user = UserRef { id: "1".into(), name: "mallard".into(), display_name: None, bot: false };
/// let event = Event::MemberLeft(MemberLeft { guild_id: "2".into(), user });
/// bus.publish(Envelope::new("promethean", &duck, Payload::Event(event))?).await?;
///
/// let delivery = bus.next().await.expect("a delivery");
/// assert_eq!(delivery.envelope.tenant_id(), duck);
/// bus.ack(delivery).await?;
/// bus.close().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Runtime::new().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("backend", &self.backend_name())
            .field("node_id", &self.inner.config.node_id)
            .finish_non_exhaustive()
    }
}

impl Bus {
    /// An in-process bus.
    #[must_use]
    pub fn memory(config: BusConfig) -> Self {
        let backend = Backend::Memory(memory::MemoryBackend::new(&config));
        Self::with_backend(config, backend)
    }

    /// A bus on Redis Streams, shared with every node on the same Redis and prefix.
    ///
    /// # Errors
    /// [`BusError::Redis`] if Redis cannot be reached.
    pub async fn redis(config: BusConfig, redis: RedisBusConfig) -> Result<Self, BusError> {
        let backend = redis::RedisBackend::connect(&config, redis).await?;
        let bus = Self::with_backend(config, Backend::Redis(Box::new(backend)));
        redis::RedisBackend::start(&bus);
        Ok(bus)
    }

    fn with_backend(config: BusConfig, backend: Backend) -> Self {
        Self {
            inner: Arc::new(Inner {
                groups: group::groups(
                    &config.groups,
                    config.consume_groups.as_deref(),
                    // In process the scheduler is the inbox: `consume_inbox` only
                    // stops a Redis node's fetchers.
                    config.consume_inbox || matches!(backend, Backend::Memory(_)),
                    config.scheduler,
                ),
                config,
                pending: Pending::default(),
                counters: Counters::default(),
                backend,
                cancel: CancellationToken::new(),
                tasks: TaskTracker::new(),
            }),
        }
    }

    pub(crate) fn redis_backend(&self) -> Option<&redis::RedisBackend> {
        match &self.inner.backend {
            Backend::Redis(r) => Some(r),
            Backend::Memory(_) => None,
        }
    }

    fn backend_name(&self) -> &'static str {
        match self.inner.backend {
            Backend::Memory(_) => "memory",
            Backend::Redis(_) => "redis",
        }
    }

    /// This node's id (the `reply_to` of its requests).
    #[must_use]
    pub fn node_id(&self) -> &str {
        &self.inner.config.node_id
    }

    /// The bus's settings.
    #[must_use]
    pub fn config(&self) -> &BusConfig {
        &self.inner.config
    }

    /// Prepares a tenant's queues ahead of its first envelope (the runtime registers
    /// every configured tenant at start), so fetchers read it from the first message.
    ///
    /// # Errors
    /// [`BusError::Redis`] when Redis fails.
    pub async fn register_tenant(&self, tenant: &TenantId) -> Result<(), BusError> {
        match &self.inner.backend {
            Backend::Memory(_) => Ok(()),
            Backend::Redis(r) => r.ensure_tenant(tenant).await,
        }
    }

    /// Publishes an event or raw payload to its tenant's inbox, or a command to its
    /// tenant's request queue. Waits while the tenant's queue is full (backpressure).
    ///
    /// # Errors
    /// [`BusError::Route`] for a response (use [`Bus::respond`]), [`BusError::Closed`]
    /// after shutdown, [`BusError::Redis`] when Redis fails.
    pub async fn publish(&self, envelope: Envelope) -> Result<(), BusError> {
        match (envelope.topic.area(), envelope.topic.name()) {
            ("rest", "request") => self.publish_request(envelope).await,
            ("rest", _) => Err(BusError::Route(format!(
                "{} is answered with Bus::respond, not published",
                envelope.topic
            ))),
            _ => {
                // Exported as `switchboard_bus_published_total` at scrape time: a
                // metrics-registry lookup per envelope would cost more than the queue.
                self.inner
                    .counters
                    .published
                    .fetch_add(1, Ordering::Relaxed);
                match &self.inner.backend {
                    Backend::Memory(_) => self.enqueue(envelope, Receipt::Memory).await,
                    Backend::Redis(r) => r.publish(self, envelope).await,
                }
            }
        }
    }

    /// Publishes an event written by the owner of the tenant's gateway lease, with the
    /// lease's fencing token: on Redis the write is refused (atomically, in Lua) once
    /// a newer owner has written, so a stale owner that lost its lease without
    /// noticing (paused, partitioned) cannot publish. In process there is one owner.
    ///
    /// # Errors
    /// As [`Bus::publish`], and [`BusError::Fenced`] for a stale owner.
    pub async fn publish_fenced(&self, envelope: Envelope, fence: u64) -> Result<(), BusError> {
        self.publish_owned(envelope, fence, false).await
    }

    /// [`Bus::publish_fenced`] for a live dispatch: an envelope published for the
    /// first time (the gateway received it after READY or RESUMED, not as a replay),
    /// so no handler can have finished it yet and its first delivery skips the
    /// idempotency lookup (one round trip less per event on Redis). Only for a fence
    /// claimed with [`Bus::claim_fence`] before the gateway connected: the owner it
    /// replaced can then publish nothing the live session also receives. A write
    /// whose outcome is unknown (the connection failed with it in flight) is written
    /// again as a possible repeat, which is looked up.
    ///
    /// # Errors
    /// As [`Bus::publish_fenced`].
    pub async fn publish_live(&self, envelope: Envelope, fence: u64) -> Result<(), BusError> {
        self.publish_owned(envelope, fence, true).await
    }

    /// Records `fence` as the tenant's newest gateway owner's before its gateway
    /// connects, so a stale owner's publishes are refused from now on (not from this
    /// owner's first write). In process there is one owner: nothing to do.
    ///
    /// # Errors
    /// [`BusError::Fenced`] if a newer owner is on record; [`BusError::Redis`].
    pub async fn claim_fence(&self, tenant: &TenantId, fence: u64) -> Result<(), BusError> {
        match &self.inner.backend {
            Backend::Redis(r) => r.raise_fence(tenant, fence).await,
            Backend::Memory(_) => Ok(()),
        }
    }

    async fn publish_owned(
        &self,
        envelope: Envelope,
        fence: u64,
        fresh: bool,
    ) -> Result<(), BusError> {
        match &self.inner.backend {
            Backend::Redis(r) if envelope.topic.area() != "rest" => {
                r.publish_fenced(self, envelope, fence, fresh).await?;
                self.inner
                    .counters
                    .published
                    .fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            _ => self.publish(envelope).await,
        }
    }

    /// Publishes many inbox envelopes: on Redis in pipelined batches, in process a
    /// chunk at a time under one lock. A batch holding a `rest.request` is published
    /// one envelope at a time.
    ///
    /// # Errors
    /// As [`Bus::publish`].
    // Only the tests and `benches/bus.rs` publish in batches so far; kept (with the
    // backends' batch paths behind it) as the bulk path a replay or import will use.
    #[cfg_attr(
        not(feature = "internals"),
        allow(dead_code, reason = "used by tests and benches only, for now")
    )]
    pub async fn publish_batch(&self, envelopes: Vec<Envelope>) -> Result<(), BusError> {
        match &self.inner.backend {
            Backend::Redis(r) if envelopes.iter().all(|e| e.topic.area() != "rest") => {
                let n = envelopes.len() as u64;
                r.publish_batch(self, envelopes).await?;
                self.inner
                    .counters
                    .published
                    .fetch_add(n, Ordering::Relaxed);
                Ok(())
            }
            Backend::Memory(_) if envelopes.iter().all(|e| e.topic.area() != "rest") => {
                let n = envelopes.len() as u64;
                self.inner
                    .counters
                    .published
                    .fetch_add(n, Ordering::Relaxed);
                // One lock per chunk and group instead of one per envelope.
                for i in self.consumed_group_ids() {
                    let items: Vec<_> = envelopes
                        .iter()
                        .map(|envelope| {
                            (
                                envelope.tenant_id(),
                                envelope.priority(),
                                Box::new(
                                    Delivery::new(envelope.clone(), Receipt::Memory).in_group(i),
                                ),
                            )
                        })
                        .collect();
                    self.group_of(i)
                        .scheduler
                        .push_all(items)
                        .await
                        .map_err(|_| BusError::Closed)?;
                }
                Ok(())
            }
            _ => {
                for e in envelopes {
                    self.publish(e).await?;
                }
                Ok(())
            }
        }
    }

    /// The ids of the groups this node consumes.
    fn consumed_group_ids(&self) -> Vec<GroupId> {
        self.inner
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.consumed)
            .map(|(i, _)| GroupId(i))
            .collect()
    }

    pub(crate) fn group_of(&self, id: GroupId) -> &Group {
        // Ids are only minted by this bus (`Bus::group`), so they are in range; the
        // default group is always there.
        self.inner.groups.get(id.0).unwrap_or(&self.inner.groups[0])
    }

    /// The worker group called `name`, if this bus has it.
    #[must_use]
    pub fn group(&self, name: &str) -> Option<GroupId> {
        self.inner
            .groups
            .iter()
            .position(|g| &*g.name == name)
            .map(GroupId)
    }

    /// The name of worker group `id`.
    #[must_use]
    pub fn group_name(&self, id: GroupId) -> &str {
        &self.group_of(id).name
    }

    /// The names of every worker group of this bus, the default first.
    #[must_use]
    pub fn group_names(&self) -> Vec<String> {
        self.inner
            .groups
            .iter()
            .map(|g| g.name.to_string())
            .collect()
    }

    /// Whether more than the default group exists (then retries and replays are
    /// addressed to one group, and Redis acks delete only what no group needs).
    pub(crate) fn has_groups(&self) -> bool {
        self.inner.groups.len() > 1
    }

    /// Puts an inbox envelope into every consumed group's scheduler, waiting for
    /// room in each (in process, a group that is `queue_bound_per_tenant` behind on
    /// a tenant holds that tenant's publishers back).
    async fn enqueue(&self, envelope: Envelope, receipt: Receipt) -> Result<(), BusError> {
        let tenant = envelope.tenant_id();
        let class = envelope.priority();
        for i in self.consumed_group_ids() {
            let d = Delivery::new(envelope.clone(), receipt.clone()).in_group(i);
            self.group_of(i)
                .scheduler
                .push(tenant.clone(), class, Box::new(d))
                .await
                .map_err(|_| BusError::Closed)?;
        }
        Ok(())
    }

    /// Waits for the next delivery of the default group, chosen fairly. `None`
    /// once the bus is closed and nothing is left. (Workers use [`Bus::next_for`].)
    #[cfg(feature = "internals")]
    pub async fn next(&self) -> Option<Delivery> {
        self.next_for(GroupId::default()).await
    }

    /// Waits for the next delivery of worker group `group`, chosen fairly among
    /// its tenants. `None` once the bus is closed and nothing is left.
    pub async fn next_for(&self, group: GroupId) -> Option<Delivery> {
        let scheduler = &self.group_of(group).scheduler;
        // Fast path: something is eligible now (no waiter registered anywhere).
        let popped = if let Some(p) = scheduler.try_pop() {
            Some(p)
        } else {
            tokio::select! {
                p = scheduler.pop() => p,
                () = self.inner.cancel.cancelled() => scheduler.try_pop(),
            }
        };
        popped.map(|(mut delivery, ticket)| {
            delivery.ticket = Some(ticket);
            delivery.group = group;
            // On Redis its acknowledgement waits for the commands it causes here
            // (`redis/holds.rs`).
            if let (Backend::Redis(r), Receipt::Redis { .. }) =
                (&self.inner.backend, &delivery.receipt)
            {
                delivery.hold = r.open_hold(delivery.envelope.id);
            }
            *delivery
        })
    }

    /// Acknowledges a handled delivery.
    ///
    /// # Errors
    /// [`BusError::Redis`] if the acknowledgement could not be written (the entry will
    /// then be redelivered: handlers must be idempotent, see [`Bus::mark_done`]).
    #[allow(clippy::unused_async)] // async like `fail`; Redis acks are batched in the background
    pub async fn ack(&self, delivery: Delivery) -> Result<(), BusError> {
        self.ack_done(delivery, &[] as &[&str]);
        Ok(())
    }

    /// Acknowledges a delivery that `handlers` finished, recording each one's
    /// idempotency mark first (as [`Bus::mark_done`]), so a redelivery of the same
    /// envelope skips them. On Redis the marks travel in the acknowledgement's
    /// batched pipeline, ahead of it: a handled delivery costs no round trip of its
    /// own, and an entry is never acknowledged without its marks.
    pub fn ack_done(&self, delivery: Delivery, handlers: &[impl AsRef<str>]) {
        let Delivery {
            envelope,
            receipt,
            ticket,
            group,
            hold,
            ..
        } = delivery;
        // The tenant's in-flight slot is free once the outcome is decided.
        drop(ticket);
        // Exported as `switchboard_bus_acked_total` at scrape time.
        self.inner.counters.acked.fetch_add(1, Ordering::Relaxed);
        self.group_of(group)
            .counters
            .acked
            .fetch_add(1, Ordering::Relaxed);
        match &self.inner.backend {
            Backend::Memory(m) => {
                for h in handlers {
                    m.mark_done(envelope.id, h.as_ref());
                }
            }
            Backend::Redis(r) => {
                r.ack_done(&receipt, &envelope.tenant_id(), envelope.id, handlers, hold);
            }
        }
    }

    /// Records a failed delivery: it is retried after a backoff as a new entry with
    /// `attempt + 1`, or dead-lettered with `error` once `max_deliveries` attempts
    /// have been made.
    ///
    /// # Errors
    /// [`BusError::Redis`] if the retry or dead letter could not be written (the
    /// original entry then stays pending and is redelivered).
    pub async fn fail(&self, mut delivery: Delivery, error: &str) -> Result<(), BusError> {
        let hold = delivery.hold.take();
        // Boxed: a worker's future holds this one.
        let failed = Box::pin(self.fail_now(delivery, error)).await;
        settled_hold(hold, &failed);
        failed
    }

    async fn fail_now(&self, delivery: Delivery, error: &str) -> Result<(), BusError> {
        let Delivery {
            mut envelope,
            receipt,
            ticket,
            group,
            ..
        } = delivery;
        // The tenant's in-flight slot is free as soon as the outcome is decided.
        drop(ticket);
        let attempts = envelope.attempt.saturating_add(1);
        if attempts >= self.inner.config.max_deliveries {
            tracing::warn!(
                provider = %envelope.provider, tenant = %envelope.tenant, id = %envelope.id,
                group = self.group_name(group), attempts, error, "dead-lettering envelope"
            );
            return self
                .dead_letter(Some(envelope), None, error, attempts, &receipt, group)
                .await;
        }
        envelope.attempt = attempts;
        let delay = backoff(
            attempts,
            self.inner.config.retry_base,
            self.inner.config.retry_max,
        );
        self.inner.counters.retried.fetch_add(1, Ordering::Relaxed);
        self.group_of(group)
            .counters
            .retried
            .fetch_add(1, Ordering::Relaxed);
        metrics::counter!("switchboard_bus_retried_total").increment(1);
        tracing::debug!(
            provider = %envelope.provider, tenant = %envelope.tenant, id = %envelope.id,
            attempt = attempts, delay_ms = delay.as_millis() as u64, error, "retrying envelope"
        );
        match &self.inner.backend {
            Backend::Memory(_) => {
                let bus = self.clone();
                self.inner.tasks.spawn(async move {
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        // On shutdown the retry is due at once rather than lost.
                        () = bus.inner.cancel.cancelled() => {}
                    }
                    let tenant = envelope.tenant_id();
                    let class = envelope.priority();
                    // Back into this delivery's group only.
                    bus.group_of(group).scheduler.push_now(
                        &tenant,
                        class,
                        Box::new(Delivery::new(envelope, Receipt::Memory).in_group(group)),
                    );
                });
                Ok(())
            }
            Backend::Redis(r) => {
                let target = self.has_groups().then(|| &self.group_of(group).consumer);
                r.retry(envelope, delay, &receipt, target.map(|c| &**c))
                    .await
            }
        }
    }

    /// Whether failing this envelope now would dead-letter it (its last attempt).
    pub(crate) fn is_last_attempt(&self, envelope: &Envelope) -> bool {
        self.is_last_delivery(envelope.attempt)
    }

    /// Whether a delivery after `attempt` earlier ones is the last before the dead
    /// letter queue (`max_deliveries`).
    pub(crate) fn is_last_delivery(&self, attempt: u32) -> bool {
        attempt.saturating_add(1) >= self.inner.config.max_deliveries
    }

    /// Dead-letters a delivery at once, without retries (an envelope no retry can
    /// fix, e.g. for an unknown tenant).
    ///
    /// # Errors
    /// [`BusError::Redis`] if the dead letter could not be written.
    pub async fn reject(&self, mut delivery: Delivery, error: &str) -> Result<(), BusError> {
        let hold = delivery.hold.take();
        let Delivery {
            envelope,
            receipt,
            ticket,
            group,
            ..
        } = delivery;
        drop(ticket);
        let attempts = envelope.attempt.saturating_add(1);
        let rejected = self
            .dead_letter(Some(envelope), None, error, attempts, &receipt, group)
            .await;
        settled_hold(hold, &rejected);
        rejected
    }

    pub(crate) async fn dead_letter(
        &self,
        envelope: Option<Envelope>,
        raw: Option<Vec<u8>>,
        error: &str,
        attempts: u32,
        receipt: &Receipt,
        group: GroupId,
    ) -> Result<(), BusError> {
        self.inner
            .counters
            .dead_lettered
            .fetch_add(1, Ordering::Relaxed);
        let g = self.group_of(group);
        g.counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("switchboard_bus_dead_lettered_total").increment(1);
        let letter = DeadLetter {
            id: String::new(),
            envelope,
            raw,
            error: error.to_owned(),
            attempts,
            ts: now_ms(),
            group: g.name.to_string(),
        };
        match &self.inner.backend {
            Backend::Memory(m) => {
                m.dead_letter(letter);
                Ok(())
            }
            Backend::Redis(r) => r.dead_letter(letter, receipt).await,
        }
    }

    /// The newest dead letters, at most `limit`.
    ///
    /// # Errors
    /// [`BusError::Redis`] if Redis cannot be read.
    pub async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, BusError> {
        match &self.inner.backend {
            Backend::Memory(m) => Ok(m.dead_letters(limit)),
            Backend::Redis(r) => r.dead_letters(limit).await,
        }
    }

    /// Publishes a dead letter's envelope again with a fresh attempt count and removes
    /// it from the dead-letter queue. Returns false if no such dead letter (or it held
    /// undecodable bytes, which cannot be replayed).
    ///
    /// # Errors
    /// As [`Bus::publish`].
    pub async fn replay_dead_letter(&self, id: &str) -> Result<bool, BusError> {
        let letter = match &self.inner.backend {
            Backend::Memory(m) => m.take_dead_letter(id),
            Backend::Redis(r) => r.take_dead_letter(id).await?,
        };
        let Some((mut env, group)) = letter.and_then(|l| Some((l.envelope?, l.group))) else {
            return Ok(false);
        };
        env.attempt = 0;
        match self.group(&group) {
            // Several groups: only the group that gave up on it runs it again.
            Some(id) if self.has_groups() && env.topic.area() != "rest" => {
                self.publish_to(env, id).await?;
            }
            _ => self.publish(env).await?,
        }
        Ok(true)
    }

    /// Publishes an inbox envelope for one worker group only (a replayed dead letter
    /// of that group): the other groups never see it.
    async fn publish_to(&self, envelope: Envelope, group: GroupId) -> Result<(), BusError> {
        self.inner
            .counters
            .published
            .fetch_add(1, Ordering::Relaxed);
        let g = self.group_of(group);
        match &self.inner.backend {
            Backend::Memory(_) => {
                let tenant = envelope.tenant_id();
                let class = envelope.priority();
                let d = Delivery::new(envelope, Receipt::Memory).in_group(group);
                g.scheduler
                    .push(tenant, class, Box::new(d))
                    .await
                    .map_err(|_| BusError::Closed)
            }
            Backend::Redis(r) => r.publish_to(envelope, &g.consumer).await,
        }
    }

    /// Records that `handler` finished envelope `id`, so a redelivery skips it.
    ///
    /// # Errors
    /// [`BusError::Redis`] if the mark cannot be written.
    pub async fn mark_done(
        &self,
        tenant: &TenantId,
        id: EnvelopeId,
        handler: &str,
    ) -> Result<(), BusError> {
        match &self.inner.backend {
            Backend::Memory(m) => {
                m.mark_done(id, handler);
                Ok(())
            }
            Backend::Redis(r) => r.mark_done(tenant, id, handler).await,
        }
    }

    /// Whether `handler` already finished envelope `id`.
    ///
    /// # Errors
    /// [`BusError::Redis`] if the mark cannot be read.
    pub async fn is_done(
        &self,
        tenant: &TenantId,
        id: EnvelopeId,
        handler: &str,
    ) -> Result<bool, BusError> {
        match &self.inner.backend {
            Backend::Memory(m) => Ok(m.is_done(id, handler)),
            Backend::Redis(r) => r.is_done(tenant, id, handler).await,
        }
    }

    async fn publish_request(&self, mut envelope: Envelope) -> Result<(), BusError> {
        if envelope.reply_to.is_none() {
            envelope.reply_to = Some(self.inner.config.node_id.clone());
        }
        if envelope.corr.is_none() {
            envelope.corr = Some(envelope.id);
        }
        self.inner.counters.requests.fetch_add(1, Ordering::Relaxed);
        match &self.inner.backend {
            Backend::Memory(m) => m.push_request(envelope).await,
            Backend::Redis(r) => r.publish_request(self, envelope).await,
        }
    }

    /// Sends a command and waits for its response, at most `timeout`.
    ///
    /// # Errors
    /// [`BusError::Timeout`] when no response arrives in time (the request may still be
    /// served later; commands carry idempotency keys for that reason). (Handlers use
    /// [`Bus::submit`].)
    #[cfg(feature = "internals")]
    pub async fn request(
        &self,
        envelope: Envelope,
        timeout: Duration,
    ) -> Result<Envelope, BusError> {
        self.submit(envelope, timeout).await?.wait().await
    }

    /// Sends a command and returns as soon as the tenant's request queue holds it
    /// (durably, on Redis): the caller goes on, and waits for the response only if it
    /// asks for it ([`PendingReply::wait`], at most `timeout`).
    ///
    /// On Redis "durably" is the request stream, or — for a command whose
    /// `causation` is a delivery a worker holds on this node, for a tenant whose
    /// `RestActor` runs here — that delivery: its entry is not acknowledged until
    /// the command is answered or written to the stream, so a crash redelivers it
    /// and its handler sends the command again under the same nonce. Such a command
    /// costs no round trip.
    ///
    /// # Errors
    /// As [`Bus::publish`]: the command was not accepted.
    pub async fn submit(
        &self,
        mut envelope: Envelope,
        timeout: Duration,
    ) -> Result<PendingReply, BusError> {
        let corr = *envelope.corr.get_or_insert(envelope.id);
        envelope.reply_to = Some(self.inner.config.node_id.clone());
        let rx = self.inner.pending.register(corr);
        if let Err(e) = self.publish_request(envelope).await {
            self.inner.pending.forget(&corr);
            return Err(e);
        }
        Ok(PendingReply::new(corr, rx, self.clone(), timeout))
    }

    /// Takes the next request for `tenant` (its `RestActor` calls this). `None` once
    /// the bus is closed.
    pub async fn next_request(&self, tenant: &TenantId) -> Option<Delivery> {
        match &self.inner.backend {
            Backend::Memory(m) => {
                tokio::select! {
                    d = m.next_request(tenant) => d,
                    () = self.inner.cancel.cancelled() => None,
                }
            }
            Backend::Redis(r) => r.next_request(self, tenant).await,
        }
    }

    /// Claims entries other consumers left idle only when asked ([`Bus::claim_soon`])
    /// and every `safety`, instead of sweeping every tenant every half claim time:
    /// for a node in a cluster, which knows when another node left. One sweep runs a
    /// claim time from now: a node that died before this one joined never leaves its
    /// view, and its entries would otherwise wait for the safety sweep.
    pub fn claim_on_demand(&self, safety: Duration) {
        if let Backend::Redis(r) = &self.inner.backend {
            r.claims.on_demand(safety);
            r.claims.sweep_after(r.cfg.claim_idle);
        }
    }

    /// Another node left: sweep for its entries once they have been idle for the
    /// claim time.
    pub fn claim_soon(&self) {
        if let Backend::Redis(r) = &self.inner.backend {
            r.claims.sweep_after(r.cfg.claim_idle);
        }
    }

    /// This node stops serving `tenant`'s requests (another node holds the tenant
    /// now): on Redis the requests fetched here but not served go back on the stream
    /// for the holder. In process there is one node: nothing to do.
    pub async fn stop_requests(&self, tenant: &TenantId) {
        if let Backend::Redis(r) = &self.inner.backend {
            r.stop_requests(tenant).await;
        }
    }

    /// Answers a request taken with [`Bus::next_request`]: the response goes to the
    /// node that asked, and the request is acknowledged.
    ///
    /// # Errors
    /// [`BusError::Route`] if the request names no reply inbox; [`BusError::Redis`].
    pub async fn respond(&self, request: Delivery, response: RestResponse) -> Result<(), BusError> {
        let reply = request.envelope.reply(response);
        let Some(reply_to) = request.envelope.reply_to.clone() else {
            return Err(BusError::Route(format!(
                "request {} names no reply inbox",
                request.envelope.id
            )));
        };
        let responded = match &self.inner.backend {
            Backend::Redis(r) if reply_to != self.inner.config.node_id => {
                r.respond(&reply_to, reply, &request.receipt).await
            }
            Backend::Redis(r) => {
                // Asked from this node: hand it over directly, no round trip.
                self.deliver_response(reply);
                r.ack(&request.receipt);
                Ok(())
            }
            Backend::Memory(_) => {
                self.deliver_response(reply);
                Ok(())
            }
        };
        // Answered: a command served on the strength of the delivery that caused
        // it lets that delivery's acknowledgement go (`redis/holds.rs`).
        settled_hold(request.hold, &responded);
        responded
    }

    /// Hands a response that reached this node to its waiter.
    pub(crate) fn deliver_response(&self, reply: Envelope) {
        if !self.inner.pending.resolve(reply) {
            metrics::counter!("switchboard_bus_orphan_responses_total").increment(1);
            tracing::debug!("response arrived after its request gave up");
        }
    }

    /// Counters and queue depths.
    #[must_use]
    pub fn stats(&self) -> BusStats {
        let c = &self.inner.counters;
        BusStats {
            backend: self.backend_name(),
            published: c.published.load(Ordering::Relaxed),
            acked: c.acked.load(Ordering::Relaxed),
            retried: c.retried.load(Ordering::Relaxed),
            dead_lettered: c.dead_lettered.load(Ordering::Relaxed),
            decode_errors: c.decode_errors.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
            pending_requests: self.inner.pending.len(),
            scheduler: self.inner.groups[0].scheduler.stats(),
            groups: self
                .inner
                .groups
                .iter()
                .map(|g| GroupStats {
                    name: g.name.to_string(),
                    consumed: g.consumed,
                    acked: g.counters.acked.load(Ordering::Relaxed),
                    retried: g.counters.retried.load(Ordering::Relaxed),
                    dead_lettered: g.counters.dead_lettered.load(Ordering::Relaxed),
                    scheduler: g.scheduler.stats(),
                })
                .collect(),
        }
    }

    /// Stops the bus: no new deliveries are fetched, background tasks end, and on
    /// Redis every delivery fetched but not handed to a worker is given back to its
    /// stream (a new entry for the same consumer group, the old one acknowledged),
    /// so the next node takes it at once instead of after the claim time. In-process,
    /// waiting deliveries are lost with the process (the runtime says how many).
    pub async fn close(&self) {
        self.inner.cancel.cancel();
        for g in &self.inner.groups {
            g.scheduler.close();
        }
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
        if let Backend::Redis(r) = &self.inner.backend {
            let waiting: Vec<Delivery> = self
                .inner
                .groups
                .iter()
                .flat_map(|g| g.scheduler.drain())
                .map(|d| *d)
                .collect();
            r.hand_back(waiting).await;
            r.close().await;
        }
    }
}

/// Lets go of a delivery's hold once what became of it is written (`result` is
/// `Ok`); otherwise the guard is dropped: a command's side then breaks the hold, so
/// the delivery that caused it is never acknowledged (`redis/holds.rs`).
fn settled_hold(hold: Option<redis::HoldGuard>, result: &Result<(), BusError>) {
    if let (Some(hold), Ok(())) = (hold, result) {
        hold.release();
    }
}
