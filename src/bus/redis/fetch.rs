//! The Redis backend's background loops: inbox fetcher, request fetcher, reply
//! reader and retry mover (the ack batcher is in `acks.rs`). Each runs until the bus is closed; a Redis
//! error is logged and retried after a pause that grows while Redis keeps failing,
//! never fatal. A `NOGROUP` answer re-creates the tenant's groups (`recover.rs`).
//!
//! The fetchers read only streams the work doorbell marked dirty (`ring.rs`), with
//! non-blocking reads; with nothing dirty they wait for a ring, not for Redis.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use fred::bytes::Bytes;
use fred::prelude::*;
use fred::types::streams::XReadResponse;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::recover::{ErrorBackoff, is_nogroup};
use super::ring::{self, Stream};
use super::scripts::{CLAIM_MANY, MOVE_DUE};
use super::{REST, RedisBackend};
use crate::bus::delivery::{Delivery, Receipt};
use crate::bus::{Bus, GroupId};
use crate::model::{Priority, TenantId, decode, now_ms};

/// Converts an `XREAD`/`XREADGROUP` reply. A nil reply means the `BLOCK` timed out
/// (or no stream had anything) with nothing to read: an empty result, not an error.
pub(super) fn stream_reply(
    v: Value,
) -> Result<XReadResponse<String, String, String, Bytes>, fred::error::Error> {
    if v.is_null() {
        Ok(HashMap::new())
    } else {
        v.into_xread_response()
    }
}

/// How long a fetcher waits for a ring when nothing is dirty (it also bounds how
/// soon it notices new tenants and claim sweeps).
const QUIET_WAIT: Duration = Duration::from_secs(1);

/// How long a fetcher waits when dirty streams wait only for local room.
const ROOM_WAIT: Duration = Duration::from_millis(10);

/// Most streams one read names.
const READ_KEYS: usize = 250;

/// Most inbox reads one fetcher has in flight at once.
const READS_IN_FLIGHT: usize = 4;

/// Waits for a ring on `dirty` — `ROOM_WAIT` if some dirty stream waits for room
/// here, else `QUIET_WAIT` — or for the bus to close.
async fn wait_for_work(
    dirty: &ring::Dirty,
    waiting_for_room: bool,
    cancel: &tokio_util::sync::CancellationToken,
) {
    let max = if waiting_for_room {
        ROOM_WAIT
    } else {
        QUIET_WAIT
    };
    tokio::select! {
        () = dirty.wait(max) => {}
        () = cancel.cancelled() => {}
    }
}

/// One non-blocking `XREADGROUP ... >` of at most `count` new entries per stream for
/// this node's consumer over `keys` (only streams that rang are named, so nothing
/// waits in Redis).
async fn read_new(
    r: &RedisBackend,
    reader: &Client,
    group: &str,
    keys: Vec<String>,
    count: u64,
) -> Result<XReadResponse<String, String, String, Bytes>, fred::error::Error> {
    let ids: Vec<&str> = vec![">"; keys.len()];
    reader
        .xreadgroup::<Value, _, _, _, _>(
            group,
            r.node.as_str(),
            Some(count),
            None,
            false,
            keys,
            ids,
        )
        .await
        .and_then(stream_reply)
}

pub(super) type Fields = HashMap<String, Bytes>;

/// What to do with one stream entry read from Redis.
pub(super) enum Admitted {
    Delivery(Box<Delivery>),
    Settled,
}

/// A consumer group reading entries, and the worker group it belongs to (the
/// default for the request streams' `rest`).
#[derive(Clone)]
pub(super) struct Reader {
    pub(super) consumer: Cow<'static, str>,
    pub(super) group: GroupId,
}

impl Reader {
    pub(super) fn rest() -> Self {
        Self {
            consumer: Cow::Borrowed(REST),
            group: GroupId::default(),
        }
    }
}

/// Decodes one entry; undecodable bytes (or an envelope of another tenant than the
/// stream's) are dead-lettered at once with the reason. An entry addressed to
/// another worker group (field `g`: a retry or replay of that group) is
/// acknowledged unread.
pub(super) async fn admit(
    bus: &Bus,
    r: &RedisBackend,
    tenant: &TenantId,
    stream: &str,
    reader: &Reader,
    id: String,
    mut fields: Fields,
) -> Admitted {
    let group = reader.consumer.clone();
    let key = (stream.to_owned(), id.clone(), group.clone());
    if r.in_hand.contains_key(&key) {
        // Already held here (a claim can return this node's own entries).
        return Admitted::Settled;
    }
    let receipt = Receipt::Redis {
        stream: stream.to_owned(),
        group,
        id,
    };
    if let Some(target) = fields.remove("g")
        && *target != *reader.consumer.as_bytes()
    {
        if let Err(e) = r.ack_now(&receipt).await {
            tracing::warn!(error = %crate::Report(&e), "cannot settle another group's entry");
        }
        return Admitted::Settled;
    }
    let Some(bytes) = fields.remove("e") else {
        // A deleted entry still listed as pending reads back with no fields.
        if let Err(e) = r.ack_now(&receipt).await {
            tracing::warn!(error = %crate::Report(&e), "cannot settle an empty entry");
        }
        return Admitted::Settled;
    };
    let error = match decode(&bytes) {
        Ok(env) if &env.tenant_id() == tenant => {
            r.in_hand.insert(key, Instant::now());
            return Admitted::Delivery(Box::new(
                Delivery::new(env, receipt).in_group(reader.group),
            ));
        }
        Ok(env) => format!(
            "envelope of tenant {} found in stream {stream} of {tenant}",
            env.tenant_id()
        ),
        Err(e) => format!("undecodable entry in {stream}: {}", crate::Report(&e)),
    };
    bus.inner
        .counters
        .decode_errors
        .fetch_add(1, Ordering::Relaxed);
    metrics::counter!("switchboard_bus_decode_errors_total").increment(1);
    tracing::error!(provider = %tenant.provider, tenant = %tenant.tenant, stream, error, "dead-lettering a bad entry");
    if let Err(e) = bus
        .dead_letter(
            None,
            Some(bytes.to_vec()),
            &error,
            1,
            &receipt,
            reader.group,
        )
        .await
    {
        tracing::warn!(error = %crate::Report(&e), "cannot dead-letter a bad entry");
    }
    Admitted::Settled
}

/// The tenants to read: the shared set, plus those this node created. A tenant this
/// node knows but the set lacks means Redis lost its data (the set is only ever added
/// to): its groups are re-created at once rather than when a read fails. `None`
/// when nothing changed since `current` was listed: the set has as many members as
/// then (it only grows) and this node created none since — one `SCARD`, not a
/// thousand names to parse and sort every few seconds.
async fn refresh_tenants(
    r: &RedisBackend,
    current: Option<&[TenantId]>,
) -> Result<Option<Vec<TenantId>>, fred::error::Error> {
    if let Some(current) = current {
        let listed: usize = r.client.scard(r.keys.tenants()).await?;
        if listed == current.len() && r.known.len() <= current.len() {
            return Ok(None);
        }
    }
    let mut out = r.listed_tenants().await?;
    let listed: HashSet<TenantId> = out.iter().cloned().collect();
    // Only tenants whose creation finished: one being created may not be in the
    // set yet.
    let lost: Vec<TenantId> = r
        .known
        .iter()
        .filter(|e| e.value().initialized() && !listed.contains(e.key()))
        .map(|e| e.key().clone())
        .collect();
    for t in lost {
        r.recreate_groups(&t, "SMEMBERS").await;
        out.push(t);
    }
    out.sort();
    for t in &out {
        if let Err(e) = r.ensure_tenant(t).await {
            tracing::warn!(tenant = %t, error = %crate::Report(&e), "cannot prepare tenant streams");
        }
    }
    Ok(Some(out))
}

/// Re-reads this node's own pending entries of `streams` (delivered before a
/// restart, never acknowledged) and hands each to `sink`. Many streams per read, so
/// a node that starts with a thousand tenants pays a few round trips, not five
/// thousand.
async fn own_pending(
    bus: &Bus,
    r: &RedisBackend,
    streams: Vec<(String, TenantId)>,
    reader: &Reader,
    sink: &mut (impl FnMut(Delivery) + Send),
) {
    // Each open stream with the id after which to read next.
    let mut open: Vec<(String, TenantId, String)> = streams
        .into_iter()
        .map(|(s, t)| (s, t, "0".to_owned()))
        .collect();
    while !open.is_empty() {
        let mut next = Vec::new();
        for chunk in open.chunks(READ_KEYS) {
            let keys: Vec<&str> = chunk.iter().map(|(s, ..)| s.as_str()).collect();
            let ids: Vec<&str> = chunk.iter().map(|(.., after)| after.as_str()).collect();
            let res: Result<XReadResponse<String, String, String, Bytes>, _> = r
                .inbox_reader
                .xreadgroup::<Value, _, _, _, _>(
                    &*reader.consumer,
                    r.node.as_str(),
                    Some(OWN_PENDING_BATCH),
                    None,
                    false,
                    keys,
                    ids,
                )
                .await
                .and_then(stream_reply);
            let mut resp = match res {
                Ok(m) => m,
                Err(e) if is_nogroup(&e) => {
                    // A group is gone, and with it anything pending here.
                    r.recreate_groups_of(chunk.iter().map(|(s, ..)| s.as_str()), "XREADGROUP")
                        .await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %crate::Report(&e), "cannot read own pending entries");
                    continue;
                }
            };
            for (stream, t, _) in chunk {
                let entries = resp.remove(stream).unwrap_or_default();
                let Some((last, _)) = entries.last() else {
                    continue;
                };
                let (full, last) = (entries.len() as u64 >= OWN_PENDING_BATCH, last.clone());
                for (id, fields) in entries {
                    if let Admitted::Delivery(d) =
                        admit(bus, r, t, stream, reader, id, fields).await
                    {
                        sink(*d);
                    }
                }
                if full {
                    next.push((stream.clone(), t.clone(), last));
                }
            }
        }
        open = next;
    }
}

/// Entries one pending read takes per stream.
const OWN_PENDING_BATCH: u64 = 100;

/// Most entries one sweep claims from a stream.
const CLAIM_BATCH: usize = 100;

/// Most streams one claim command sweeps (a bound on its reply: at most this many
/// times [`CLAIM_BATCH`] entries).
const CLAIM_KEYS: usize = 50;

/// Most claim commands a sweep has in flight at once.
const CLAIMS_IN_FLIGHT: usize = 4;

/// What one claim command reported for each of its streams (by index in its chunk):
/// the entries claimed, or the error.
type Claimed = Vec<(usize, Result<Vec<(String, Fields)>, String>)>;

/// One [`CLAIM_MANY`] over `streams`: what each had idle on other consumers past the
/// claim time (at most [`CLAIM_BATCH`] per stream), now this node's.
async fn claim_chunk(
    r: &RedisBackend,
    streams: &[(TenantId, String)],
    reader: &Reader,
) -> Result<Claimed, fred::error::Error> {
    let keys: Vec<&str> = streams.iter().map(|(_, s)| s.as_str()).collect();
    let args = vec![
        Value::from(&*reader.consumer),
        Value::from(r.node.as_str()),
        Value::from(r.cfg.claim_idle.as_millis() as i64),
        Value::from(i64::try_from(CLAIM_BATCH).unwrap_or(i64::MAX)),
    ];
    let reply: Value = Box::pin(CLAIM_MANY.evalsha_with_reload(&r.client, keys, args)).await?;
    let mut out = Vec::new();
    for pair in reply.into_array() {
        let mut pair = pair.into_array().into_iter();
        let (Some(index), Some(payload)) = (pair.next(), pair.next()) else {
            continue;
        };
        let Some(i) = index
            .as_u64()
            .and_then(|i| usize::try_from(i).ok()?.checked_sub(1))
        else {
            continue;
        };
        let claimed = match payload {
            Value::String(e) => Err(e.to_string()),
            Value::Bytes(e) => Err(String::from_utf8_lossy(&e).into_owned()),
            entries => entries.into_xread_value().map_err(|e| e.to_string()),
        };
        out.push((i, claimed));
    }
    Ok(out)
}

/// Claims the entries idle past the claim time on each of `streams` (tenant, key),
/// [`CLAIM_KEYS`] streams per command and a few commands in flight, and hands what
/// it admits to `sink`; whether some may be left (a full batch was taken, or a call
/// failed).
async fn claim_all(
    bus: &Bus,
    r: &RedisBackend,
    reader: &Reader,
    streams: Vec<(TenantId, String)>,
    sink: &mut (impl FnMut(&TenantId, Delivery) + Send),
) -> bool {
    // (Collected first: a lazy map's closure in this task's type is not `Send` for
    // every lifetime. Each is small until polled: the command's future is boxed.)
    let calls: Vec<_> = streams
        .chunks(CLAIM_KEYS)
        .map(|chunk| async move { (chunk, claim_chunk(r, chunk, reader).await) })
        .collect();
    let mut replies = futures_util::stream::iter(calls).buffered(CLAIMS_IN_FLIGHT);
    let mut left = false;
    while let Some((chunk, res)) = replies.next().await {
        let claimed = match res {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = %crate::Report(&e), "a claim sweep failed");
                left = true;
                continue;
            }
        };
        for (i, got) in claimed {
            let Some((t, stream)) = chunk.get(i) else {
                continue;
            };
            let entries = match got {
                Ok(entries) => entries,
                Err(e) if e.contains("NOGROUP") => {
                    r.recreate_groups(t, "XAUTOCLAIM").await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(stream, error = e, "xautoclaim failed");
                    left = true;
                    continue;
                }
            };
            left |= entries.len() >= CLAIM_BATCH;
            tracing::info!(
                stream,
                group = %reader.consumer,
                count = entries.len(),
                "claimed entries left idle by another consumer"
            );
            metrics::counter!("switchboard_bus_claimed_total").increment(entries.len() as u64);
            for (id, fields) in entries {
                if let Admitted::Delivery(d) = admit(bus, r, t, stream, reader, id, fields).await {
                    sink(t, *d);
                }
            }
        }
    }
    left
}

fn push_into_scheduler(bus: &Bus, group: GroupId) -> impl FnMut(Delivery) + Send + '_ {
    move |d: Delivery| {
        let t = d.envelope.tenant_id();
        let class = d.envelope.priority();
        bus.group_of(group)
            .scheduler
            .push_now(&t, class, Box::new(d));
    }
}

/// Re-reads this node's pending entries of tenants seen for the first time, and now
/// and then claims entries other nodes left idle.
async fn recover_inboxes(
    bus: &Bus,
    r: &RedisBackend,
    reader: &Reader,
    tenants: &[TenantId],
    recovered: &mut HashSet<TenantId>,
    last_claim: &mut u64,
    prefetch: usize,
) {
    let scheduler = &bus.group_of(reader.group).scheduler;
    let unseen: Vec<&TenantId> = tenants.iter().filter(|t| !recovered.contains(*t)).collect();
    recovered.extend(unseen.iter().map(|t| (*t).clone()));
    // Groups this node created have nothing of its own pending from before.
    let fresh: Vec<(String, TenantId)> = unseen
        .into_iter()
        .filter(|t| !r.created_here(t))
        .flat_map(|t| Priority::ALL.map(|c| (r.keys.inbox(t, c), t.clone())))
        .collect();
    if !fresh.is_empty() {
        own_pending(
            bus,
            r,
            fresh,
            reader,
            &mut push_into_scheduler(bus, reader.group),
        )
        .await;
    }
    if r.claims.due(*last_claim, r.cfg.claim_idle) {
        *last_claim = now_ms();
        // A stream skipped for want of room, or claimed a full batch of, is swept
        // again a claim time later: an on-demand sweep is otherwise the last until
        // the safety sweep, minutes away.
        let mut left = false;
        let mut streams = Vec::new();
        for t in tenants {
            for class in Priority::ALL {
                if scheduler.queued(t, class) < prefetch {
                    streams.push((t.clone(), r.keys.inbox(t, class)));
                } else {
                    left = true;
                }
            }
        }
        let mut push = push_into_scheduler(bus, reader.group);
        left |= claim_all(bus, r, reader, streams, &mut |_, d| push(d)).await;
        if left {
            r.claims.sweep_after(r.cfg.claim_idle);
        }
    }
}

/// How many deliveries of one tenant and class a node fetches ahead of its workers:
/// only a few, since entries waiting here are invisible to other nodes.
pub(super) fn prefetch(bus: &Bus, r: &RedisBackend) -> usize {
    (bus.config().scheduler.queue_bound_per_tenant / 2).clamp(1, 4 * r.cfg.fetch_count as usize)
}

/// How often the fetcher re-lists the tenants (for recovery and claim sweeps; reads
/// follow the rings).
const TENANTS_REFRESH: Duration = Duration::from_secs(5);

/// The inbox fetcher of worker group `group`: its own consumer group, rings,
/// scheduler and claims, so a slow group's backlog never holds another's reads.
pub(super) async fn inbox_fetcher(bus: Bus, group: GroupId) {
    let Some(r) = bus.redis_backend() else { return };
    let Some(dirty) = r.rings.inbox.get(group.0) else {
        return;
    };
    let reader = Reader {
        consumer: bus.group_of(group).consumer.clone(),
        group,
    };
    let scheduler = &bus.group_of(group).scheduler;
    let cancel = bus.inner.cancel.clone();
    let prefetch = prefetch(&bus, r);
    let mut tenants: Vec<TenantId> = Vec::new();
    let mut refreshed: Option<Instant> = None;
    let mut last_claim = now_ms();
    let mut recovered: HashSet<TenantId> = HashSet::new();
    let mut backoff = ErrorBackoff::default();
    while !cancel.is_cancelled() {
        // Tenants this node published to are listed at once; tenants other nodes
        // created are found by the periodic refresh.
        if refreshed.is_none_or(|t| t.elapsed() >= TENANTS_REFRESH) || r.known.len() > tenants.len()
        {
            let current = refreshed.is_some().then_some(tenants.as_slice());
            match refresh_tenants(r, current).await {
                Ok(Some(t)) => tenants = t,
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %crate::Report(&e), "cannot list tenants"),
            }
            refreshed = Some(Instant::now());
        }
        recover_inboxes(
            &bus,
            r,
            &reader,
            &tenants,
            &mut recovered,
            &mut last_claim,
            prefetch,
        )
        .await;
        // The streams that rang and have room here.
        let mut ready: Vec<(String, TenantId, u64)> = Vec::new();
        let mut waiting_for_room = false;
        for (key, stream, seen) in dirty.snapshot() {
            let Stream::Inbox(t, class) = stream else {
                dirty.forget(&key);
                continue;
            };
            if scheduler.queued(&t, class) < prefetch {
                ready.push((key, t, seen));
            } else {
                waiting_for_room = true;
            }
        }
        if ready.is_empty() {
            wait_for_work(dirty, waiting_for_room, &cancel).await;
            continue;
        }
        // Several reads in flight: Redis runs the next while this task admits what
        // the last one returned.
        // (Collected first: a lazy map's closure in this task's type is not `Send`
        // for every lifetime.)
        let chunks: Vec<&[(String, TenantId, u64)]> = ready.chunks(READ_KEYS).collect();
        let queued: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                let keys: Vec<String> = chunk.iter().map(|(k, _, _)| k.clone()).collect();
                read_new(r, &r.inbox_reader, &reader.consumer, keys, r.cfg.fetch_count)
            })
            .collect();
        let mut in_flight = futures_util::stream::iter(queued).buffered(READS_IN_FLIGHT);
        let mut next = chunks.iter().copied();
        while let (Some(read), Some(chunk)) = (in_flight.next().await, next.next()) {
            match read {
                Ok(resp) => {
                    backoff.reset();
                    let admitted = admit_new(&bus, r, &reader, dirty, chunk, resp).await;
                    // One lock for the whole read.
                    scheduler.push_now_all(admitted);
                }
                Err(e) if is_nogroup(&e) => {
                    // One of the streams lost its group; which one Redis does not say.
                    r.recreate_groups_of(chunk.iter().map(|(k, _, _)| k.as_str()), "XREADGROUP")
                        .await;
                    backoff.wait(&cancel).await;
                }
                Err(e) => {
                    tracing::warn!(error = %crate::Report(&e), "inbox read failed");
                    backoff.wait(&cancel).await;
                }
            }
        }
    }
}

/// Admits what one inbox read of `chunk` (key, tenant, ring generation) returned, and
/// settles each drained stream on `dirty` (unless it rang again meanwhile).
async fn admit_new(
    bus: &Bus,
    r: &RedisBackend,
    reader: &Reader,
    dirty: &ring::Dirty,
    chunk: &[(String, TenantId, u64)],
    mut resp: XReadResponse<String, String, String, Bytes>,
) -> Vec<(TenantId, Priority, Box<Delivery>)> {
    let mut admitted = Vec::new();
    for (stream, t, seen) in chunk {
        let entries = resp.remove(stream).unwrap_or_default();
        if (entries.len() as u64) < r.cfg.fetch_count {
            dirty.settle(stream, *seen);
        }
        admit_read(bus, r, reader, t, stream, entries, &mut admitted).await;
    }
    admitted
}

/// Admits the entries one `XREADGROUP … >` of inbox `stream` returned (a fetcher's
/// read, or a take at publish) into `out`.
pub(super) async fn admit_read(
    bus: &Bus,
    r: &RedisBackend,
    reader: &Reader,
    t: &TenantId,
    stream: &str,
    entries: Vec<(String, Fields)>,
    out: &mut Vec<(TenantId, Priority, Box<Delivery>)>,
) {
    for (id, fields) in entries {
        // A first delivery (`>`) of a first publish (field `n`).
        let fresh = fields.contains_key("n");
        if let Admitted::Delivery(mut d) = admit(bus, r, t, stream, reader, id, fields).await {
            d.fresh = fresh;
            out.push((d.envelope.tenant_id(), d.envelope.priority(), d));
        }
    }
}

/// Most requests one read takes per stream: a batch, or the REST actor's whole queue
/// if that is smaller (a queue smaller than a batch must still be read).
pub(super) fn request_batch(r: &RedisBackend) -> u64 {
    r.cfg.fetch_count.min(r.request_bound as u64).max(1)
}

/// A request stream that rang, of a tenant served here with room: its key, the
/// tenant, the REST actor's queue and the mark's generation.
type RungRequest = (String, TenantId, mpsc::Sender<Delivery>, u64);

/// The request streams that rang, of tenants served here with room; and whether
/// some wait for room.
fn rung_requests(r: &RedisBackend) -> (Vec<RungRequest>, bool) {
    let mut ready: Vec<RungRequest> = Vec::new();
    let mut waiting_for_room = false;
    for (key, stream, seen) in r.rings.rest.snapshot() {
        let Stream::Rest(t) = stream else {
            r.rings.rest.forget(&key);
            continue;
        };
        let Some(tx) = r.request_subs.get(&t).map(|q| q.0.clone()) else {
            // Not served here (any more): its holder reads it.
            r.rings.rest.forget(&key);
            continue;
        };
        if tx.capacity() as u64 >= request_batch(r) {
            ready.push((key, t, tx, seen));
        } else {
            waiting_for_room = true;
        }
    }
    (ready, waiting_for_room)
}

/// Re-reads this node's pending requests of tenants newly served here (delivered
/// before a restart, never acknowledged) and, when `claim_now`, claims requests
/// other nodes left idle; forgets tenants no longer served here.
async fn recover_requests(
    bus: &Bus,
    r: &RedisBackend,
    reader: &Reader,
    recovered: &mut HashSet<TenantId>,
    claim_now: bool,
) {
    let subs: HashMap<TenantId, mpsc::Sender<Delivery>> = r
        .request_subs
        .iter()
        .map(|e| (e.key().clone(), e.value().0.clone()))
        .collect();
    let send = |t: &TenantId, d: Delivery| {
        let Some(tx) = subs.get(t) else {
            r.release(&d.receipt);
            return;
        };
        if let Err(e) = tx.try_send(d) {
            // Full, or the REST actor stopped: the entry stays pending in Redis but
            // this node lets go of it, so it is claimed (by this node's next claim,
            // or the tenant's holder) — never kept alive unserved.
            let (mpsc::error::TrySendError::Full(d) | mpsc::error::TrySendError::Closed(d)) = e;
            r.release(&d.receipt);
            tracing::warn!(tenant = %t, "request queue full or closed; leaving an entry to be claimed");
        }
    };
    for t in subs.keys() {
        if recovered.insert(t.clone()) && !r.created_here(t) {
            let stream = r.keys.rest(t);
            own_pending(bus, r, vec![(stream, t.clone())], reader, &mut |d| send(t, d)).await;
        }
    }
    if claim_now {
        let streams = subs.keys().map(|t| (t.clone(), r.keys.rest(t))).collect();
        if claim_all(bus, r, reader, streams, &mut |t, d| send(t, d)).await {
            r.claims.sweep_after(r.cfg.claim_idle);
        }
    }
    recovered.retain(|t| r.request_subs.contains_key(t));
}

pub(super) async fn request_fetcher(bus: Bus) {
    let Some(r) = bus.redis_backend() else { return };
    let reader = Reader::rest();
    let cancel = bus.inner.cancel.clone();
    let mut recovered: HashSet<TenantId> = HashSet::new();
    let mut last_claim = now_ms();
    let mut backoff = ErrorBackoff::default();
    // The subscriptions' generation last looked at: the served tenants are walked
    // only when it moved (a REST actor started or stopped here) or a claim sweep is
    // due, never per round — a round per ring must not cost every tenant served.
    let mut looked_at = None;
    while !cancel.is_cancelled() {
        let claim_now = r.claims.due(last_claim, r.cfg.claim_idle);
        if claim_now {
            last_claim = now_ms();
        }
        let generation = r.request_subs_changed.load(Ordering::Acquire);
        if claim_now || looked_at != Some(generation) {
            looked_at = Some(generation);
            recover_requests(&bus, r, &reader, &mut recovered, claim_now).await;
        }
        let (ready, waiting_for_room) = rung_requests(r);
        if ready.is_empty() {
            wait_for_work(&r.rings.rest, waiting_for_room, &cancel).await;
            continue;
        }
        for chunk in ready.chunks(READ_KEYS) {
            let keys: Vec<String> = chunk.iter().map(|(k, ..)| k.clone()).collect();
            let batch = request_batch(r);
            match read_new(r, &r.request_reader, REST, keys, batch).await {
                Ok(mut resp) => {
                    backoff.reset();
                    for (stream, t, tx, seen) in chunk {
                        let entries = resp.remove(stream).unwrap_or_default();
                        if (entries.len() as u64) < batch {
                            r.rings.rest.settle(stream, *seen);
                        }
                        for (id, fields) in entries {
                            if let Admitted::Delivery(d) =
                                admit(&bus, r, t, stream, &reader, id, fields).await
                            {
                                // Capacity was checked before the read (a take at
                                // publish may have used some since: the REST actor
                                // drains it), so this does not wait long.
                                if let Err(mpsc::error::SendError(d)) = tx.send(*d).await {
                                    // The REST actor stopped (another node holds the
                                    // tenant now): hand the request back at once.
                                    r.requeue(d).await;
                                }
                            }
                        }
                    }
                }
                Err(e) if is_nogroup(&e) => {
                    r.recreate_groups_of(chunk.iter().map(|(k, ..)| k.as_str()), "XREADGROUP")
                        .await;
                    backoff.wait(&cancel).await;
                }
                Err(e) => {
                    tracing::warn!(error = %crate::Report(&e), "request read failed");
                    backoff.wait(&cancel).await;
                }
            }
        }
    }
}

/// How long a node's reply stream outlives the node: far longer than any request
/// waits for its reply (`request_timeout`, 30 s by default).
const REPLIES_TTL: Duration = Duration::from_secs(600);

pub(super) async fn reply_reader(bus: Bus) {
    let Some(r) = bus.redis_backend() else { return };
    let cancel = bus.inner.cancel.clone();
    let key = r.keys.replies(&r.node);
    // Only replies to requests made from now on concern this node.
    let mut last = format!("{}-0", now_ms());
    let mut backoff = ErrorBackoff::default();
    // The stream outlives a killed node only by REPLIES_TTL: the reader keeps pushing
    // the expiry out while the node lives (a clean stop deletes it).
    let mut refreshed: Option<tokio::time::Instant> = None;
    while !cancel.is_cancelled() {
        if refreshed.is_none_or(|at| at.elapsed() >= REPLIES_TTL / 4) {
            let ms = REPLIES_TTL.as_millis() as i64;
            match r.client.pexpire::<Value, _>(key.as_str(), ms, None).await {
                Ok(_) => refreshed = Some(tokio::time::Instant::now()),
                Err(e) => {
                    tracing::debug!(error = %crate::Report(&e), "refreshing the reply stream's expiry failed");
                }
            }
        }
        let res: Result<XReadResponse<String, String, String, Bytes>, _> = r
            .reply_reader
            .xread::<Value, _, _>(
                Some(256),
                Some(r.cfg.block.as_millis() as u64),
                key.as_str(),
                last.as_str(),
            )
            .await
            .and_then(stream_reply);
        match res {
            Ok(mut resp) => {
                backoff.reset();
                for (id, mut fields) in resp.remove(&key).unwrap_or_default() {
                    last = id;
                    match fields.remove("e").map(|b| decode(&b)) {
                        Some(Ok(env)) => bus.deliver_response(env),
                        Some(Err(e)) => {
                            bus.inner
                                .counters
                                .decode_errors
                                .fetch_add(1, Ordering::Relaxed);
                            tracing::error!(error = %crate::Report(&e), "undecodable response dropped");
                        }
                        None => {}
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %crate::Report(&e), "reply read failed");
                backoff.wait(&cancel).await;
            }
        }
    }
}

/// How often the mover also sweeps every known tenant, whatever the doorbell says: a
/// safety net only (a ring is removed only after its tenant's due retries all
/// moved, and a retry rings with its own member, so no ring is lost to a race).
const RETRY_SWEEP: Duration = Duration::from_secs(600);

/// Most retries one move takes from one tenant.
const MOVE_BATCH: i64 = 500;

/// The longest the mover sleeps: retries another node scheduled (and that node's
/// own mover did not move, because it died) wait at most this long past due.
const RETRY_IDLE: Duration = Duration::from_secs(1);

/// Moves due retries back into the inboxes. It reads the head of the doorbell
/// (`retry:due`, one member per retry, by due time) — one command, however many
/// tenants there are — moves the due tenants' retries, removes the rings it read, and
/// sleeps until the next retry is due (at most [`RETRY_IDLE`]; a retry scheduled here
/// wakes it). Every [`RETRY_SWEEP`] it sweeps all tenants.
pub(super) async fn retry_mover(bus: Bus) {
    let Some(r) = bus.redis_backend() else { return };
    let cancel = bus.inner.cancel.clone();
    let mut backoff = ErrorBackoff::default();
    let mut swept = Instant::now();
    let mut pause = Duration::ZERO;
    loop {
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = r.retry_wake.notified() => {}
            () = cancel.cancelled() => return,
        }
        let result = if swept.elapsed() >= RETRY_SWEEP {
            swept = Instant::now();
            let all: Vec<TenantId> = r.known.iter().map(|e| e.key().clone()).collect();
            move_due(r, &all).await.map(|_| None)
        } else {
            ring(r).await
        };
        match result {
            Ok(next) => {
                backoff.reset();
                pause = next.map_or(RETRY_IDLE, |due| {
                    Duration::from_millis(due.saturating_sub(now_ms())).min(RETRY_IDLE)
                });
            }
            Err(e) => {
                tracing::warn!(error = %crate::Report(&e), "moving due retries failed");
                pause = backoff.next_pause();
            }
        }
    }
}

/// How many doorbell members the mover reads at once.
const RING_HEAD: usize = 1000;
/// The rank of the head's last member (`RING_HEAD - 1`).
const RING_HEAD_LAST: i64 = 999;

/// The head of the retry doorbell: `(member, due ms)` in due order.
async fn ring_head(r: &RedisBackend) -> Result<Vec<(String, u64)>, fred::error::Error> {
    let v: Value = r
        .client
        .zrange(
            r.keys.retry_due(),
            0,
            RING_HEAD_LAST,
            None,
            false,
            None,
            true,
        )
        .await?;
    // RESP2 answers a flat [member, score, ...]; RESP3 pairs.
    let mut flat = Vec::new();
    for item in v.into_array() {
        match item {
            Value::Array(pair) => flat.extend(pair),
            other => flat.push(other),
        }
    }
    let mut out = Vec::with_capacity(flat.len() / 2);
    for pair in flat.chunks(2) {
        if let [m, s] = pair
            && let Some(m) = m.as_string()
            && let Some(score) = s.as_f64()
        {
            out.push((m, score as u64));
        }
    }
    Ok(out)
}

/// Reads the due rings, moves their tenants' due retries, then removes the rings.
/// Returns when the next retry is due, if one is waiting.
async fn ring(r: &RedisBackend) -> Result<Option<u64>, fred::error::Error> {
    let now = now_ms();
    let head = ring_head(r).await?;
    let next = head.iter().find(|(_, due)| *due > now).map(|(_, due)| *due);
    let rings: Vec<String> = head
        .into_iter()
        .filter(|(_, due)| *due <= now)
        .map(|(m, _)| m)
        .collect();
    if rings.is_empty() {
        return Ok(next);
    }
    let mut tenants: Vec<TenantId> = rings
        .iter()
        .filter_map(|m| {
            let (p, t) = m.split_once('|')?.0.split_once('/')?;
            TenantId::parse(p, t).ok()
        })
        .collect();
    tenants.sort();
    tenants.dedup();
    let full = move_due(r, &tenants).await?;
    let head_full = rings.len() >= RING_HEAD;
    // A tenant with more due retries than one move takes keeps its rings.
    let done: Vec<String> = rings
        .into_iter()
        .filter(|m| !full.iter().any(|t| m.starts_with(&format!("{t}|"))))
        .collect();
    // More due now (a full move, or a head of only due rings): go again at once.
    let more = !full.is_empty() || head_full;
    if !done.is_empty() {
        let _: i64 = r.client.zrem(r.keys.retry_due(), done).await?;
    }
    Ok(if more { Some(now) } else { next })
}

/// Moves the due retries of `tenants`; returns those that had more than one move
/// takes. Stops at the first failure (while Redis is down every tenant would fail
/// alike).
async fn move_due(
    r: &RedisBackend,
    tenants: &[TenantId],
) -> Result<Vec<TenantId>, fred::error::Error> {
    let now = i64::try_from(now_ms()).unwrap_or(i64::MAX);
    let mut full = Vec::new();
    for t in tenants {
        let mut keys = vec![r.keys.retry(t), r.keys.retry_data(t)];
        keys.extend(Priority::ALL.iter().map(|c| r.keys.inbox(t, *c)));
        keys.push(r.keys.ring());
        let args: Vec<Value> = vec![
            Value::from(now),
            Value::from(MOVE_BATCH),
            Value::from(ring::RING_MAX_LEN),
        ];
        let moved: i64 = MOVE_DUE.evalsha_with_reload(&r.client, keys, args).await?;
        if moved >= MOVE_BATCH {
            full.push(t.clone());
        }
    }
    Ok(full)
}

/// Re-claims (resets the idle time of) entries this node has held for a while, so
/// another node's `XAUTOCLAIM` never takes work this live node is about to do.
pub(super) async fn toucher(bus: Bus) {
    let Some(r) = bus.redis_backend() else { return };
    let cancel = bus.inner.cancel.clone();
    let every = (r.cfg.claim_idle / 3).max(Duration::from_millis(10));
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = cancel.cancelled() => return,
        }
        let now = Instant::now();
        let mut old: HashMap<(String, Cow<'static, str>), Vec<String>> = HashMap::new();
        for e in &r.in_hand {
            let at = *e.value();
            let (stream, id, group) = e.key();
            if now.duration_since(at) >= every {
                old.entry((stream.clone(), group.clone()))
                    .or_default()
                    .push(id.clone());
            }
        }
        for ((stream, group), ids) in old {
            let res: Result<Value, _> = r
                .client
                .xclaim(
                    stream.as_str(),
                    &*group,
                    r.node.as_str(),
                    0,
                    ids.clone(),
                    None,
                    None,
                    None,
                    false,
                    true,
                )
                .await;
            match res {
                Ok(_) => {
                    for id in ids {
                        if let Some(mut e) = r.in_hand.get_mut(&(stream.clone(), id, group.clone()))
                        {
                            *e = now;
                        }
                    }
                }
                Err(e) if is_nogroup(&e) => r.recreate_groups_of([stream.as_str()], "XCLAIM").await,
                Err(e) => {
                    tracing::warn!(stream, error = %crate::Report(&e), "re-claiming held entries failed");
                }
            }
        }
    }
}
