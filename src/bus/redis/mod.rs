//! The Redis Streams backend: several daemons share one Redis.
//!
//! Publishing is an `XADD` to the tenant's inbox stream for the envelope's priority
//! class (`keys.rs` has the layout), followed in the same round trip by a ring on the
//! work doorbell (`ring.rs`) — or, when the publishing node's own workers have room,
//! by a read that takes the entry for them (`take.rs`). Each node runs one fetcher
//! per worker group it runs (`group.rs`), reading through that group's consumer
//! group (`workers` for the default) only the inbox streams that rang and whose
//! local queue has room, and feeding that group's fair scheduler — so fairness and
//! the per-tenant cap hold across Redis too, and an idle tenant costs no read at
//! all. The fetcher first re-reads this node's own pending entries, and claims
//! (`XAUTOCLAIM`) entries another node left idle past `claim_idle`.
//!
//! Acknowledgements are batched (`XACK` + `XDEL` of every stream in one Lua call), so
//! an acked entry leaves the stream and nothing pending is ever trimmed. A command a
//! handler sends for this node's own `RestActor` while its delivery is in hand is
//! not written at all: the delivery's acknowledgement waits for its answer instead
//! (`holds.rs`). Retries wait
//! in a per-tenant sorted set and are moved back into the stream by a Lua script when
//! due; dead letters go to one `dlq` stream. Blocking reads use clients of their own:
//! a blocking command stalls every other command on its connection.

mod acks;
mod claims;
mod fetch;
mod holds;
mod jobs;
mod keys;
mod recover;
mod ring;
mod scripts;
mod take;

pub(crate) use self::connect_client as connect;
pub use keys::fence_key;
pub(crate) use scripts::FENCED_SET;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use fred::bytes::Bytes;
use fred::clients::Pipeline;
use fred::prelude::*;
use fred::types::streams::XCap;
use tokio::sync::{Notify, mpsc};

use super::delivery::{DeadLetter, Delivery, Receipt};
use super::error::BusError;
use super::{Bus, BusConfig};
use crate::model::{Envelope, EnvelopeId, Priority, TenantId, decode, encode, now_ms};
pub(crate) use keys::Keys;
use acks::{AckItem, AckQueue, Settle};
pub(crate) use holds::HoldGuard;

/// The consumer group of `RestActor`s on request streams.
pub(crate) const REST: &str = "rest";

/// Where the Redis bus lives and how it reads.
#[derive(Debug, Clone)]
pub struct RedisBusConfig {
    /// Redis URL, e.g. `redis://127.0.0.1:6379`.
    pub url: String,
    /// Key prefix (`runtime.redis_prefix`).
    pub prefix: String,
    /// Entries pending this long on another consumer are claimed (that node died).
    pub claim_idle: Duration,
    /// How long one blocking read waits.
    pub block: Duration,
    /// Entries read per stream per read.
    pub fetch_count: u64,
    /// Inbox length past which publishers wait (backpressure).
    pub stream_soft_limit: u64,
    /// How long an idempotency mark lives.
    pub done_ttl: Duration,
    /// How long a few settled deliveries' acknowledgements wait for a publish to
    /// carry them before a call of their own writes them (`acks.rs`); their
    /// entries stay pending that much longer.
    pub ack_linger: Duration,
}

impl RedisBusConfig {
    /// Defaults for `url` and `prefix`.
    #[must_use]
    pub fn new(url: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: prefix.into(),
            claim_idle: Duration::from_secs(30),
            block: Duration::from_millis(500),
            fetch_count: 64,
            stream_soft_limit: 200_000,
            done_ttl: Duration::from_secs(3600),
            ack_linger: Duration::from_millis(20),
        }
    }
}

/// What a node knows of a tenant whose streams and groups exist.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Known {
    /// This node created every one of the tenant's consumer groups (none existed):
    /// no consumer can have had an entry pending in them before, so the fetchers
    /// skip re-reading this node's own pending entries of the tenant — a node that
    /// creates a thousand tenants does not read four thousand empty pending lists
    /// as their first traffic arrives.
    pub(crate) created_here: bool,
}

/// An entry a consumer group of this node holds: stream, entry id, group.
pub(crate) type HeldKey = (String, String, Cow<'static, str>);

/// A worker group's consumer group on the inbox streams, and whether this node
/// reads it.
#[derive(Debug, Clone)]
pub(crate) struct InboxGroup {
    pub(crate) consumer: Cow<'static, str>,
    pub(crate) consumed: bool,
}

/// A request queue of a tenant served on this node.
type RequestQueue = (
    mpsc::Sender<Delivery>,
    tokio::sync::Mutex<mpsc::Receiver<Delivery>>,
);

pub(crate) struct RedisBackend {
    pub(crate) cfg: RedisBusConfig,
    pub(crate) keys: Keys,
    pub(crate) node: String,
    pub(crate) client: Client,
    pub(crate) inbox_reader: Client,
    pub(crate) request_reader: Client,
    pub(crate) reply_reader: Client,
    /// The blocking reader of the work doorbell.
    pub(crate) ring_reader: Client,
    /// Streams that rang and may have entries to read.
    pub(crate) rings: ring::Rings,
    /// Whether this node's workers read the inboxes (else inbox rings are ignored).
    pub(crate) reads_inbox: bool,
    /// Every worker group's consumer group on the inbox streams (the default's,
    /// `workers`, first), in the bus's group order.
    pub(crate) inbox_groups: Vec<InboxGroup>,
    /// Wakes the retry mover when this node schedules a retry.
    pub(crate) retry_wake: Notify,
    /// Tenants whose streams and groups exist, as far as this node knows (an
    /// uninitialised cell: being created by a call still running).
    pub(crate) known: DashMap<TenantId, Arc<tokio::sync::OnceCell<Known>>>,
    /// Tenants whose `RestActor` runs on this node.
    pub(crate) request_subs: DashMap<TenantId, Arc<RequestQueue>>,
    /// Bumped whenever `request_subs` gains or loses a tenant (the request fetcher
    /// walks the served tenants only then, or for a claim sweep).
    pub(crate) request_subs_changed: AtomicU64,
    /// How many tenants `request_subs` holds: only while some can a command be
    /// held by its cause, so only then do deliveries open holds (`holds.rs`).
    served: AtomicUsize,
    /// Entries this node holds (fetched, not yet settled), with when they were last
    /// claimed: the toucher re-claims old ones so no other node takes them while this
    /// node is alive, and claims skip them so this node never takes one twice.
    pub(crate) in_hand: DashMap<HeldKey, tokio::time::Instant>,
    /// Acknowledgements waiting to be written (`acks.rs`).
    pub(crate) acks: Arc<AckQueue>,
    /// Acknowledgements waiting for the commands their deliveries caused here
    /// (`holds.rs`).
    pub(crate) holds: Arc<holds::Holds>,
    publishes: AtomicU64,
    pub(crate) request_bound: usize,
    /// About how many dead letters the `dlq` stream keeps (approximate trimming).
    dead_letter_cap: usize,
    /// When the fetchers claim entries other consumers left idle.
    pub(crate) claims: Box<claims::ClaimSchedule>,
    /// Inbox lengths batch publishers read (`XLEN`), plus what this node added
    /// since, with when they were read (`backpressure_many`).
    lengths: DashMap<String, (u64, tokio::time::Instant)>,
}

/// How long a batch publisher trusts an inbox length it read (other nodes publish
/// too).
const LENGTH_FRESH: Duration = Duration::from_secs(1);

/// A connected client to the Redis at `url`, with the project's connection timeout
/// and reconnect policy: the one way the bus, the cluster registry, the session
/// store and the interaction-token store connect.
///
/// `rediss://` is TLS or an error, never plain text; `?ca_file=PATH` names the CA to
/// trust (`crate::redis_tls`). A TLS setup problem is a fred `Tls` error naming it.
pub(crate) async fn connect_client(url: &str) -> Result<Client, fred::error::Error> {
    let config =
        crate::redis_tls::fred_config(url).map_err(crate::redis_tls::RedisTlsError::into_fred)?;
    let client = Builder::from_config(config)
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(5);
        })
        .set_policy(ReconnectPolicy::new_exponential(0, 50, 2_000, 2))
        .build()?;
    client.init().await?;
    Ok(client)
}

/// A fenced write's outcome: refused with [`BusError::Fenced`] unless `written`.
fn fenced(written: bool, t: &TenantId, fence: u64) -> Result<(), BusError> {
    if written {
        Ok(())
    } else {
        Err(BusError::Fenced {
            tenant: t.to_string(),
            fence,
        })
    }
}

fn fields(bytes: Vec<u8>) -> Vec<(&'static str, Value)> {
    vec![("e", Value::Bytes(Bytes::from(bytes)))]
}

impl RedisBackend {
    pub(crate) async fn connect(
        config: &BusConfig,
        redis: RedisBusConfig,
    ) -> Result<Self, BusError> {
        let client = connect_client(&redis.url).await?;
        let inbox_reader = connect_client(&redis.url).await?;
        let request_reader = connect_client(&redis.url).await?;
        let reply_reader = connect_client(&redis.url).await?;
        let ring_reader = connect_client(&redis.url).await?;
        let inbox_groups: Vec<InboxGroup> = super::group::groups(
            &config.groups,
            config.consume_groups.as_deref(),
            config.consume_inbox,
            config.scheduler,
        )
        .into_iter()
        .map(|g| InboxGroup {
            consumer: g.consumer,
            consumed: g.consumed,
        })
        .collect();
        let acks = Arc::new(AckQueue::default());
        let holds = holds::Holds::new(Arc::clone(&acks), redis.ack_linger);
        Ok(Self {
            keys: Keys::new(&redis.prefix),
            cfg: redis,
            node: config.node_id.clone(),
            client,
            inbox_reader,
            request_reader,
            reply_reader,
            ring_reader,
            rings: ring::Rings::new(inbox_groups.len()),
            reads_inbox: inbox_groups.iter().any(|g| g.consumed),
            inbox_groups,
            retry_wake: Notify::new(),
            known: DashMap::new(),
            request_subs: DashMap::new(),
            request_subs_changed: AtomicU64::new(0),
            served: AtomicUsize::new(0),
            in_hand: DashMap::new(),
            claims: Box::default(),
            lengths: DashMap::new(),
            acks,
            holds,
            publishes: AtomicU64::new(0),
            request_bound: config.request_queue_bound.max(1),
            dead_letter_cap: config.dead_letter_capacity.max(1),
        })
    }

    /// Starts the fetchers, the ack batcher, the retry mover and the reply reader.
    pub(crate) fn start(bus: &Bus) {
        let Some(r) = bus.redis_backend() else { return };
        let tasks = &bus.inner.tasks;
        tasks.spawn(acks::ack_batcher(bus.clone()));
        for (i, g) in r.inbox_groups.iter().enumerate() {
            if g.consumed {
                tasks.spawn(fetch::inbox_fetcher(bus.clone(), super::GroupId(i)));
            }
        }
        tasks.spawn(ring::ring_reader(bus.clone()));
        tasks.spawn(fetch::request_fetcher(bus.clone()));
        tasks.spawn(fetch::reply_reader(bus.clone()));
        tasks.spawn(fetch::retry_mover(bus.clone()));
        tasks.spawn(fetch::toucher(bus.clone()));
    }

    /// Creates the tenant's streams and groups once, and records the tenant.
    pub(crate) async fn ensure_tenant(&self, t: &TenantId) -> Result<(), BusError> {
        self.ensure_known(t).await.map(|_| ())
    }

    /// [`Self::ensure_tenant`], returning how many groups this call created. One
    /// creation per tenant at a time: a fetcher listing a tenant while it is being
    /// registered waits for that registration rather than racing it, so it learns
    /// that this node created the groups (a race would find them there and take
    /// them for older ones).
    pub(crate) async fn ensure_known(&self, t: &TenantId) -> Result<usize, BusError> {
        let cell = match self.known.get(t) {
            Some(cell) if cell.initialized() => return Ok(0),
            Some(cell) => Arc::clone(&cell),
            None => Arc::clone(&self.known.entry(t.clone()).or_default()),
        };
        let mut created = 0;
        let result = cell
            .get_or_try_init(|| async {
                let (missing, known) = self.create_tenant_groups(t).await?;
                created = missing;
                Ok::<_, BusError>(known)
            })
            .await;
        match result {
            Ok(_) => Ok(created),
            Err(e) => {
                // Not known after all: listings and sweeps must not count it yet.
                self.known.remove_if(t, |_, c| !c.initialized());
                Err(e)
            }
        }
    }

    /// Creates every stream and group of a tenant that does not exist (tolerating
    /// those that do) and adds it to the tenant set. Returns how many groups were
    /// missing, and what the node now knows of the tenant.
    async fn create_tenant_groups(&self, t: &TenantId) -> Result<(usize, Known), BusError> {
        // One round trip: starting a thousand tenants costs a thousand, not seven
        // thousand.
        // Every worker group's consumer group, whichever this node runs: an entry
        // is deleted only once each of them is done with it.
        let mut groups: Vec<(String, &str)> = Priority::ALL
            .iter()
            .flat_map(|c| {
                self.inbox_groups
                    .iter()
                    .map(|g| (self.keys.inbox(t, *c), &*g.consumer))
            })
            .collect();
        groups.push((self.keys.rest(t), REST));
        let p = self.client.pipeline();
        for (key, group) in &groups {
            let _: Value = p.xgroup_create(key.as_str(), *group, "0", true).await?;
        }
        let _: Value = p.sadd(self.keys.tenants(), t.to_string()).await?;
        let mut created = 0;
        for reply in p.try_all::<Value>().await {
            match reply {
                Ok(Value::String(_) | Value::Bytes(_)) => created += 1,
                Ok(_) => {}
                // The group already existed.
                Err(e) if e.details().contains("BUSYGROUP") => {}
                Err(e) => return Err(e.into()),
            }
        }
        let created_here = created == groups.len();
        Ok((created, Known { created_here }))
    }

    /// Whether this node created every consumer group of `t` (nothing of its own
    /// can be pending there from before it did).
    pub(crate) fn created_here(&self, t: &TenantId) -> bool {
        self.known
            .get(t)
            .and_then(|cell| cell.get().map(|k| k.created_here))
            .unwrap_or(false)
    }

    /// Queues on `p` one ring naming every stream of `streams`, after the writes it
    /// announces: a batch touching five hundred streams rings once, not five hundred
    /// times.
    async fn ring_on<'a>(
        &self,
        p: &Pipeline<Client>,
        streams: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), BusError> {
        let cap = XCap::try_from(("MAXLEN", "~", ring::RING_MAX_LEN))?;
        let _: Value = p
            .xadd(self.keys.ring(), false, cap, "*", ring::ring_fields(streams))
            .await?;
        Ok(())
    }

    /// Appends an entry to `stream` and rings the doorbell for it, in one round trip.
    async fn xadd_and_ring(&self, stream: &str, bytes: Vec<u8>) -> Result<(), BusError> {
        let p = self.client.pipeline();
        let _: Value = p
            .xadd(stream, false, None::<()>, "*", fields(bytes))
            .await?;
        self.ring_on(&p, [stream]).await?;
        let _: Vec<Value> = p.all().await?;
        Ok(())
    }

    pub(crate) async fn publish(&self, bus: &Bus, env: Envelope) -> Result<(), BusError> {
        let t = env.tenant_id();
        self.ensure_tenant(&t).await?;
        let key = self.keys.inbox(&t, env.priority());
        self.backpressure(bus, &key).await?;
        self.xadd_and_ring(&key, encode(&env)?).await
    }

    /// [`Self::publish`] for a gateway owner holding fence `fence`: refused with
    /// [`BusError::Fenced`] once a newer owner has written.
    ///
    /// `fresh`: the envelope is published for the first time (a live dispatch), so
    /// the entry is marked (field `n`) and its first delivery skips the idempotency
    /// lookup. Such a write is sent once (loading the script after `NOSCRIPT` is
    /// no retry: nothing ran): if the connection fails with it in flight, whether it
    /// landed is unknown, and it is written again unmarked — a client retry of the
    /// marked write could land twice, both copies skipping the lookup.
    pub(crate) async fn publish_fenced(
        &self,
        bus: &Bus,
        env: Envelope,
        fence: u64,
        fresh: bool,
    ) -> Result<(), BusError> {
        let t = env.tenant_id();
        self.ensure_tenant(&t).await?;
        let key = self.keys.inbox(&t, env.priority());
        self.backpressure(bus, &key).await?;
        let bytes = Bytes::from(encode(&env)?);
        let take = self.inbox_take(bus, &t, env.priority(), &key);
        let keys = vec![self.keys.fence(&t), key.clone(), self.keys.ring()];
        let args = |fresh: bool| {
            let mut args = vec![
                Value::from(fence.to_string()),
                Value::Bytes(bytes.clone()),
                Value::from(ring::RING_MAX_LEN),
                Value::from(if fresh { "1" } else { "0" }),
            ];
            if let Some(take) = &take {
                args.extend(take.iter().cloned());
            }
            args
        };
        // Queued acknowledgements ride on the first attempt (`acks.rs`).
        let riding = Settle::riding(self).map(|settle| {
            let (mut keys, mut args) = (keys.clone(), args(fresh));
            if take.is_none() {
                args.extend([Value::from("0"), Value::from(""), Value::from("")]);
            }
            settle.append(self, &mut keys, &mut args);
            (settle, keys, args)
        });
        let script = if riding.is_some() {
            &scripts::FENCED_XADD_ACKS
        } else {
            &scripts::FENCED_XADD
        };
        // (fred's futures are large: boxed, so every caller's future stays small.)
        let reply: Value = 'write: {
            let (settle, first_keys, first_args) = match riding {
                Some((settle, keys, args)) => (Some(settle), keys, args),
                None => (None, keys.clone(), args(fresh)),
            };
            let sent = if fresh {
                // Written once: no client retry after a connection failure.
                let once = self.client.with_options(&Options {
                    max_attempts: Some(1),
                    ..Options::default()
                });
                let sha = script.sha1().clone();
                let mut sent = Box::pin(once.evalsha(sha.clone(), first_keys.clone(), first_args.clone())).await;
                if matches!(&sent, Err(e) if e.details().starts_with("NOSCRIPT")) {
                    // Nothing ran: load the script and send the write (once) again.
                    sent = match Box::pin(script.load(&self.client)).await {
                        Ok(()) => Box::pin(once.evalsha(sha, first_keys, first_args)).await,
                        Err(e) => Err(e),
                    };
                }
                sent
            } else {
                Box::pin(script.evalsha_with_reload(&self.client, first_keys, first_args)).await
            };
            let sent = match settle {
                Some(settle) => settle.after(self, sent).await,
                None => sent,
            };
            match sent {
                Ok(reply) => break 'write reply,
                Err(e) if !fresh => return Err(e.into()),
                Err(e) => {
                    tracing::debug!(error = %crate::Report(&e), "a first publish failed; writing it again as a possible repeat");
                }
            }
            Box::pin(scripts::FENCED_XADD.evalsha_with_reload(&self.client, keys, args(false)))
                .await?
        };
        match reply {
            // Written, and what this node's workers take of the stream with it.
            entries @ Value::Array(_) => {
                Box::pin(self.hand_taken_events(bus, &t, &key, entries)).await;
                Ok(())
            }
            written => fenced(written.as_i64() == Some(1), &t, fence),
        }
    }

    /// Claims fence `fence` for tenant `t`'s gateway before it connects (see
    /// `RAISE_FENCE`). Refused with [`BusError::Fenced`] if a newer owner is on
    /// record.
    pub(crate) async fn raise_fence(&self, t: &TenantId, fence: u64) -> Result<(), BusError> {
        let raised: i64 = scripts::RAISE_FENCE
            .evalsha_with_reload(
                &self.client,
                vec![self.keys.fence(t)],
                vec![Value::from(fence.to_string())],
            )
            .await?;
        fenced(raised == 1, t, fence)
    }

    /// Every so often, checks the inbox length and waits while it is over the limit.
    async fn backpressure(&self, bus: &Bus, key: &str) -> Result<(), BusError> {
        if !self
            .publishes
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(128)
        {
            return Ok(());
        }
        self.wait_for_room(bus, &[key].into()).await.map(|_| ())
    }

    /// [`Self::backpressure`] for a batch: the streams it writes whose length could
    /// be past the soft limit, checked at once. A stream read less than
    /// [`LENGTH_FRESH`] ago is not read again unless what this node added since
    /// could take it to the limit: a batch over a thousand quiet streams costs no
    /// `XLEN` per stream.
    async fn backpressure_many(
        &self,
        bus: &Bus,
        batch: &[(String, Vec<u8>)],
    ) -> Result<(), BusError> {
        let mut adding: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
        for (key, _) in batch {
            *adding.entry(key.as_str()).or_default() += 1;
        }
        let now = tokio::time::Instant::now();
        let stale = |key: &str, n: u64| {
            self.lengths.get(key).is_none_or(|e| {
                let (len, at) = *e;
                now.duration_since(at) >= LENGTH_FRESH
                    || len.saturating_add(n) >= self.cfg.stream_soft_limit
            })
        };
        let check: std::collections::BTreeSet<&str> = adding
            .iter()
            .filter(|(k, n)| stale(k, **n))
            .map(|(k, _)| *k)
            .collect();
        let lens = if check.is_empty() {
            Vec::new()
        } else {
            self.wait_for_room(bus, &check).await?
        };
        let read: HashMap<&str, u64> = check.iter().copied().zip(lens).collect();
        for (key, n) in adding {
            match read.get(key) {
                Some(len) => {
                    self.lengths.insert(key.to_owned(), (len + n, now));
                }
                None => {
                    if let Some(mut e) = self.lengths.get_mut(key) {
                        e.0 += n;
                    }
                }
            }
        }
        Ok(())
    }

    /// Waits while any of `keys` is past the soft limit; their lengths are read in
    /// one pipelined round trip. Returns the lengths last read, in `keys`' order.
    async fn wait_for_room(
        &self,
        bus: &Bus,
        keys: &std::collections::BTreeSet<&str>,
    ) -> Result<Vec<u64>, BusError> {
        loop {
            let p = self.client.pipeline();
            for key in keys {
                let _: Value = p.xlen(*key).await?;
            }
            let lens: Vec<u64> = p.all().await?;
            if lens.iter().all(|&n| n < self.cfg.stream_soft_limit) {
                return Ok(lens);
            }
            if bus.inner.cancel.is_cancelled() {
                return Err(BusError::Closed);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) async fn publish_batch(
        &self,
        bus: &Bus,
        envs: Vec<Envelope>,
    ) -> Result<(), BusError> {
        for chunk in envs.chunks(2000) {
            let mut encoded = Vec::with_capacity(chunk.len());
            for env in chunk {
                let t = env.tenant_id();
                self.ensure_tenant(&t).await?;
                let key = self.keys.inbox(&t, env.priority());
                encoded.push((key, encode(env)?));
            }
            self.backpressure_many(bus, &encoded).await?;
            let p = self.client.pipeline();
            let mut written = std::collections::BTreeSet::new();
            for (key, bytes) in encoded {
                let _: Value = p
                    .xadd(key.as_str(), false, None::<()>, "*", fields(bytes))
                    .await?;
                written.insert(key);
            }
            self.ring_on(&p, written.iter().map(String::as_str)).await?;
            let _: Vec<Value> = p.all().await?;
        }
        Ok(())
    }

    /// Forgets an entry this node held.
    pub(crate) fn release(&self, receipt: &Receipt) {
        if let Receipt::Redis { stream, id, group } = receipt {
            self.in_hand
                .remove(&(stream.clone(), id.clone(), group.clone()));
        }
    }

    pub(crate) fn ack(&self, receipt: &Receipt) {
        self.ack_marked(receipt, Vec::new(), None);
    }

    /// [`Self::ack`] after writing `handlers`' idempotency marks for `id` of `t`: both
    /// go in the next script that settles acknowledgements (the ack batcher's, or a
    /// publish's that carries them: `acks.rs`), the marks first, so a crash never
    /// leaves an entry acknowledged without its marks, and a handled delivery costs
    /// no round trip of its own. With `hold` (the delivery's side of its hold) both
    /// wait until the commands the delivery caused here are answered (`holds.rs`).
    pub(crate) fn ack_done(
        &self,
        receipt: &Receipt,
        t: &TenantId,
        id: EnvelopeId,
        handlers: &[impl AsRef<str>],
        hold: Option<HoldGuard>,
    ) {
        let marks = if handlers.is_empty() {
            Vec::new()
        } else {
            let id = id.to_string();
            handlers
                .iter()
                .map(|h| self.keys.done(t, &id, h.as_ref()))
                .collect()
        };
        self.ack_marked(receipt, marks, hold);
    }

    fn ack_marked(&self, receipt: &Receipt, marks: Vec<String>, hold: Option<HoldGuard>) {
        if let Receipt::Redis { stream, group, id } = receipt {
            // Still held here until the batcher has settled it (it releases it then):
            // a re-read of this node's pending entries meanwhile must not deliver it
            // again. The batcher only stops at shutdown; an ack lost then is
            // redelivered.
            let item = AckItem {
                stream: stream.clone(),
                group: group.clone(),
                id: id.clone(),
                marks,
            };
            match hold {
                Some(hold) => hold.settle(item),
                None => self
                    .acks
                    .push(item, tokio::time::Instant::now() + self.cfg.ack_linger),
            }
        }
    }

    /// Acknowledges and deletes one entry now (used where order matters).
    pub(crate) async fn ack_now(&self, receipt: &Receipt) -> Result<(), BusError> {
        let settled = match receipt {
            Receipt::Redis { stream, group, id } => {
                self.settle_entries(stream, group, vec![id.clone()]).await
            }
            Receipt::Memory => Ok(()),
        };
        // Released only once settled: until then a re-read of this node's pending
        // entries (a tenant seen for the first time) must not deliver it again.
        self.release(receipt);
        settled
    }

    /// Acknowledges `ids` of `stream` for `group` and deletes them — with several
    /// worker groups on an inbox stream, only those no other group still needs
    /// (not yet read by it, or pending in it), atomically in Lua (`ACK_DEL`).
    pub(crate) async fn settle_entries(
        &self,
        stream: &str,
        group: &str,
        ids: Vec<String>,
    ) -> Result<(), BusError> {
        let replies = if self.inbox_groups.len() > 1 && group != REST {
            let mut args: Vec<Value> = Vec::with_capacity(ids.len() + 1);
            args.push(Value::from(group));
            args.extend(ids.into_iter().map(Value::from));
            let r: Result<Value, _> = scripts::ACK_DEL
                .evalsha_with_reload(&self.client, vec![stream.to_owned()], args)
                .await;
            vec![r]
        } else {
            let p = self.client.pipeline();
            let _: Value = p.xack(stream, group, ids.clone()).await?;
            let _: Value = p.xdel(stream, ids).await?;
            p.try_all().await
        };
        self.settled(stream, replies).await
    }

    /// Schedules a retry of `env` after `delay` and settles its entry. With several
    /// worker groups `target` names the consumer group the retry is for: the member
    /// carries it (`<class>|<id>|<attempt>|<group>`) and the moved entry its field
    /// `g`, so the other groups skip it.
    pub(crate) async fn retry(
        &self,
        env: Envelope,
        delay: Duration,
        receipt: &Receipt,
        target: Option<&str>,
    ) -> Result<(), BusError> {
        let t = env.tenant_id();
        let mut member = format!("{}|{}|{}", env.priority().index(), env.id, env.attempt);
        if let Some(g) = target {
            member.push('|');
            member.push_str(g);
        }
        let due = now_ms() + delay.as_millis() as u64;
        let bytes = encode(&env)?;
        let p = self.client.pipeline();
        let _: Value = p
            .hset(
                self.keys.retry_data(&t),
                (member.as_str(), Bytes::from(bytes)),
            )
            .await?;
        let _: Value = p
            .zadd(
                self.keys.retry(&t),
                None,
                None,
                false,
                false,
                (due as f64, member.as_str()),
            )
            .await?;
        // Ring the doorbell: the mover reads this tenant when the retry is due.
        let _: Value = p
            .zadd(
                self.keys.retry_due(),
                None,
                None,
                false,
                false,
                (due as f64, format!("{t}|{member}")),
            )
            .await?;
        let replies = p.try_all::<Value>().await;
        if let Some(e) = replies.into_iter().find_map(Result::err) {
            // Not stored: the entry stays pending and is redelivered.
            return Err(e.into());
        }
        // Stored: settle the entry (a `NOGROUP` here is no error, see `settled`).
        self.ack_now(receipt).await?;
        self.retry_wake.notify_one();
        Ok(())
    }

    pub(crate) async fn dead_letter(
        &self,
        letter: DeadLetter,
        receipt: &Receipt,
    ) -> Result<(), BusError> {
        let mut f: Vec<(&'static str, Value)> = Vec::with_capacity(6);
        if let Some(env) = &letter.envelope {
            f.push(("e", Value::Bytes(Bytes::from(encode(env)?))));
            f.push(("tenant", Value::from(env.tenant_id().to_string())));
        }
        if let Some(raw) = &letter.raw {
            f.push(("raw", Value::Bytes(Bytes::from(raw.clone()))));
        }
        f.push(("error", Value::from(letter.error.clone())));
        f.push(("group", Value::from(letter.group.clone())));
        f.push(("attempts", Value::from(i64::from(letter.attempts))));
        f.push((
            "ts",
            Value::from(i64::try_from(letter.ts).unwrap_or(i64::MAX)),
        ));
        // Capped like the in-process queue: the oldest letters go first (`~`: Redis
        // trims whole nodes, so a few more may stay).
        let cap = XCap::try_from((
            "MAXLEN",
            "~",
            i64::try_from(self.dead_letter_cap).unwrap_or(i64::MAX),
        ))?;
        let _: Value = self
            .client
            .xadd(self.keys.dlq(), false, cap, "*", f)
            .await?;
        self.ack_now(receipt).await
    }

    fn parse_dead_letter(id: String, mut fields: HashMap<String, Bytes>) -> DeadLetter {
        let text = |b: Option<Bytes>| b.map(|b| String::from_utf8_lossy(&b).into_owned());
        let envelope = fields.remove("e").and_then(|b| decode(&b).ok());
        DeadLetter {
            id,
            envelope,
            raw: fields.remove("raw").map(|b| b.to_vec()),
            error: text(fields.remove("error")).unwrap_or_default(),
            attempts: text(fields.remove("attempts"))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            ts: text(fields.remove("ts"))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            group: text(fields.remove("group")).unwrap_or_else(|| super::DEFAULT_GROUP.to_owned()),
        }
    }

    pub(crate) async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, BusError> {
        let entries: Vec<(String, HashMap<String, Bytes>)> = self
            .client
            .xrevrange(self.keys.dlq(), "+", "-", Some(limit as u64))
            .await?;
        Ok(entries
            .into_iter()
            .map(|(id, f)| Self::parse_dead_letter(id, f))
            .collect())
    }

    pub(crate) async fn take_dead_letter(&self, id: &str) -> Result<Option<DeadLetter>, BusError> {
        // Only a complete stream id names one entry (`XRANGE k 5 5` would match every
        // `5-*`, and anything else is a Redis error): what is not one names nothing.
        let number = |s: &str| {
            !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u64>().is_ok()
        };
        if !id
            .split_once('-')
            .is_some_and(|(ms, seq)| number(ms) && number(seq))
        {
            return Ok(None);
        }
        let entries: Vec<(String, HashMap<String, Bytes>)> =
            self.client.xrange(self.keys.dlq(), id, id, Some(1)).await?;
        let Some((id, f)) = entries.into_iter().next() else {
            return Ok(None);
        };
        let removed: u64 = self.client.xdel(self.keys.dlq(), id.as_str()).await?;
        // Another node replaying the same letter at the same moment wins; this one
        // backs off rather than publishing a duplicate.
        Ok((removed == 1).then(|| Self::parse_dead_letter(id, f)))
    }

    pub(crate) async fn mark_done(
        &self,
        t: &TenantId,
        id: EnvelopeId,
        handler: &str,
    ) -> Result<(), BusError> {
        let key = self.keys.done(t, &id.to_string(), handler);
        let _: Value = self
            .client
            .set(
                key,
                1,
                Some(Expiration::PX(self.cfg.done_ttl.as_millis() as i64)),
                None,
                false,
            )
            .await?;
        Ok(())
    }

    pub(crate) async fn is_done(
        &self,
        t: &TenantId,
        id: EnvelopeId,
        handler: &str,
    ) -> Result<bool, BusError> {
        let n: u64 = self
            .client
            .exists(self.keys.done(t, &id.to_string(), handler))
            .await?;
        Ok(n > 0)
    }

    /// Appends an inbox entry for consumer group `consumer` only (field `g`): the
    /// other worker groups acknowledge it unread.
    pub(crate) async fn publish_to(&self, env: Envelope, consumer: &str) -> Result<(), BusError> {
        let t = env.tenant_id();
        self.ensure_tenant(&t).await?;
        let key = self.keys.inbox(&t, env.priority());
        let mut f = fields(encode(&env)?);
        f.push(("g", Value::from(consumer)));
        let p = self.client.pipeline();
        let _: Value = p.xadd(key.as_str(), false, None::<()>, "*", f).await?;
        self.ring_on(&p, [key.as_str()]).await?;
        let _: Vec<Value> = p.all().await?;
        Ok(())
    }

    /// Appends a command to the tenant's request stream. When this node serves the
    /// tenant's requests (its `RestActor` runs here, the usual case for a tenant's
    /// own gateway and workers) nobody else reads the stream, so the doorbell is rung
    /// here in memory rather than on the shared ring, or — with room in the actor's
    /// queue — the write takes the command for it at once (`take.rs`): a command
    /// costs one round trip. If the service stopped meanwhile (checked after the
    /// write) the ring goes out as usual; a stop after that rings the stream itself
    /// (`stop_requests`), so the next holder never misses an entry written without a
    /// ring.
    pub(crate) async fn publish_request(&self, bus: &Bus, env: Envelope) -> Result<(), BusError> {
        let t = env.tenant_id();
        self.ensure_tenant(&t).await?;
        let stream = self.keys.rest(&t);
        let Some(queue) = self.request_subs.get(&t).map(|q| Arc::clone(q.value())) else {
            return self.xadd_and_ring(&stream, encode(&env)?).await;
        };
        let take = self.request_take(&stream, &queue.0);
        // Caused by a delivery in a worker's hands here: served on its strength,
        // without a write (`holds.rs`).
        let env = match env.causation {
            Some(cause) if take > 0 => match self.serve_held(cause, env, &queue.0) {
                None => return Ok(()),
                Some(env) => env,
            },
            _ => env,
        };
        let bytes = encode(&env)?;
        if take > 0 {
            // Served here with room: the command reaches the `RestActor` in the
            // write's own round trip (`take.rs`).
            Box::pin(self.publish_request_taken(bus, &t, &stream, bytes, take, &queue.0)).await?;
        } else {
            let _: Value = self
                .client
                .xadd(stream.as_str(), false, None::<()>, "*", fields(bytes))
                .await?;
            self.rings.rest.mark(stream.clone(), ring::Stream::Rest(t.clone()));
        }
        if self.request_subs.contains_key(&t) {
            return Ok(());
        }
        self.ring(&stream).await
    }

    /// The hold of an inbox delivery of envelope `id` a worker takes (`holds.rs`):
    /// `None` while this node serves no tenant's requests, when no command can be
    /// held by it (a worker-only node pays nothing).
    pub(crate) fn open_hold(&self, id: EnvelopeId) -> Option<HoldGuard> {
        (self.served.load(Ordering::Acquire) > 0).then(|| self.holds.open(id))
    }

    /// Hands command `env`, caused by envelope `cause`, to this node's `RestActor`
    /// (its queue `tx`) on the strength of a delivery of `cause` in a worker's hands,
    /// whose acknowledgement then waits for the answer (`holds.rs`). `None` when
    /// served; the command back when no such delivery is in hand or the queue has
    /// no room: it must be written.
    fn serve_held(
        &self,
        cause: EnvelopeId,
        env: Envelope,
        tx: &mpsc::Sender<Delivery>,
    ) -> Option<Envelope> {
        let Some(hold) = self.holds.attach(cause) else {
            return Some(env);
        };
        let mut d = Delivery::new(env, Receipt::Memory);
        d.hold = Some(hold);
        match tx.try_send(d) {
            Ok(()) => None,
            Err(mpsc::error::TrySendError::Full(mut d) | mpsc::error::TrySendError::Closed(mut d)) => {
                // Never queued: nothing to wait for.
                if let Some(hold) = d.hold.take() {
                    hold.release();
                }
                Some(d.envelope)
            }
        }
    }

    /// Rings the shared doorbell for `stream` alone.
    async fn ring(&self, stream: &str) -> Result<(), BusError> {
        let p = self.client.pipeline();
        self.ring_on(&p, [stream]).await?;
        let _: Vec<Value> = p.all().await?;
        Ok(())
    }

    fn request_queue(&self, t: &TenantId) -> Arc<RequestQueue> {
        let (queue, created) = match self.request_subs.entry(t.clone()) {
            dashmap::Entry::Occupied(e) => (Arc::clone(e.get()), false),
            dashmap::Entry::Vacant(e) => {
                let (tx, rx) = mpsc::channel(self.request_bound);
                let queue = Arc::new((tx, tokio::sync::Mutex::new(rx)));
                e.insert(Arc::clone(&queue));
                (queue, true)
            }
        };
        if created {
            self.served.fetch_add(1, Ordering::Release);
            // Once the subscription is visible: recover its pending entries, and read
            // what is already there at once.
            self.request_subs_changed.fetch_add(1, Ordering::Release);
            self.rings
                .rest
                .mark(self.keys.rest(t), ring::Stream::Rest(t.clone()));
        }
        queue
    }

    /// This node stops serving `t`'s requests (its REST actor stopped because another
    /// node holds the tenant now): forget the subscription, put every request
    /// fetched but not served back on the stream (a new entry, then the old one
    /// acknowledged, so nothing is lost and nothing waits for the claim time), and
    /// stop keeping alive what a read in flight may still hand in, so the holder
    /// claims it.
    pub(crate) async fn stop_requests(&self, t: &TenantId) {
        let Some((_, queue)) = self.request_subs.remove(t) else {
            return;
        };
        self.served.fetch_sub(1, Ordering::Release);
        self.request_subs_changed.fetch_add(1, Ordering::Release);
        let stream = self.keys.rest(t);
        let mut rx = queue.1.lock().await;
        rx.close();
        let mut moved = 0_u64;
        while let Ok(d) = rx.try_recv() {
            if self.requeue(d).await {
                moved += 1;
            }
        }
        self.in_hand.retain(|(s, ..), _| *s != stream);
        // Requests published here while this node served the tenant rang only here
        // (`publish_request`): ring the stream for the tenant's next holder.
        if let Err(e) = self.ring(&stream).await {
            tracing::warn!(tenant = %t, error = %crate::Report(&e), "cannot ring the request stream for its next holder (it reads it at its next sweep)");
        }
        if moved > 0 {
            tracing::info!(tenant = %t, moved, "requests handed back to the tenant's holder");
        }
    }

    /// Puts a request this node fetched but will not serve back on its stream: a new
    /// entry, then the old one acknowledged (nothing lost, nothing waits for the
    /// claim time). On failure the entry stays pending and is let go of, so it is
    /// claimed after the claim time. Returns whether it was put back.
    pub(crate) async fn requeue(&self, mut d: Delivery) -> bool {
        let t = d.envelope.tenant_id();
        // A command served on the strength of its cause's delivery lets go of that
        // delivery's acknowledgement only once written (`holds.rs`); dropped on a
        // failure, it keeps that delivery pending.
        let hold = d.hold.take();
        let stream = self.keys.rest(&t);
        let requeued = match encode(&d.envelope) {
            Ok(bytes) => self.xadd_and_ring(&stream, bytes).await,
            Err(e) => Err(e.into()),
        };
        match requeued {
            Ok(()) => {
                if let Some(hold) = hold {
                    hold.release();
                }
                if let Err(e) = self.ack_now(&d.receipt).await {
                    tracing::warn!(tenant = %t, error = %crate::Report(&e), "a handed-back request stays pending until claimed");
                }
                true
            }
            Err(e) => {
                self.release(&d.receipt);
                tracing::warn!(tenant = %t, error = %crate::Report(&e), "could not hand a request back");
                false
            }
        }
    }

    /// Gives inbox deliveries this node fetched but will not handle (it is closing)
    /// back to their streams: each as a new entry for its own consumer group only
    /// (field `g`), then the old entry acknowledged — nothing lost, and nothing waits
    /// for the claim time. One that cannot be given back stays pending and is
    /// claimed after the claim time.
    pub(crate) async fn hand_back(&self, deliveries: Vec<Delivery>) {
        let mut moved = 0_u64;
        for d in deliveries {
            let Receipt::Redis { group, .. } = &d.receipt else {
                continue;
            };
            let tenant = d.envelope.tenant_id();
            let given = match self.publish_to(d.envelope.clone(), group).await {
                Ok(()) => self.ack_now(&d.receipt).await,
                Err(e) => Err(e),
            };
            match given {
                Ok(()) => moved += 1,
                Err(e) => {
                    self.release(&d.receipt);
                    tracing::warn!(tenant = %tenant, error = %crate::Report(&e), "a fetched delivery stays pending until claimed");
                }
            }
        }
        if moved > 0 {
            tracing::info!(
                moved,
                "deliveries fetched but not handled handed back to their streams"
            );
        }
    }

    pub(crate) async fn next_request(&self, bus: &Bus, t: &TenantId) -> Option<Delivery> {
        if let Err(e) = self.ensure_tenant(t).await {
            tracing::warn!(tenant = %t, error = %crate::Report(&e), "cannot prepare the request stream");
        }
        let q = self.request_queue(t);
        let mut rx = q.1.lock().await;
        tokio::select! {
            d = rx.recv() => d,
            () = bus.inner.cancel.cancelled() => None,
        }
    }

    pub(crate) async fn respond(
        &self,
        reply_to: &str,
        reply: Envelope,
        receipt: &Receipt,
    ) -> Result<(), BusError> {
        let bytes = encode(&reply)?;
        let cap = XCap::try_from(("MAXLEN", "~", 10_000))?;
        let _: Value = self
            .client
            .xadd(self.keys.replies(reply_to), false, cap, "*", fields(bytes))
            .await?;
        self.ack(receipt);
        Ok(())
    }

    pub(crate) async fn close(&self) {
        // Nobody reads this node's replies any more (a restarted node gets a new id
        // unless `--node-id` names it): remove the stream rather than leave it behind.
        let _: Result<Value, _> = self.client.del(self.keys.replies(&self.node)).await;
        for c in [
            &self.inbox_reader,
            &self.request_reader,
            &self.reply_reader,
            &self.ring_reader,
            &self.client,
        ] {
            let _ = c.quit().await;
        }
    }
}
