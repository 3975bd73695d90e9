//! The work doorbell ("ring"): which streams have entries to read.
//!
//! Every write to an inbox or request stream also appends that stream's key to one
//! shared stream, `P:ring`, in the same pipeline or script and after the entry (a
//! batch writing many streams appends one ring naming them all: fields `k`, `k1`,
//! `k2`, …). One task per node reads the ring with a blocking `XREAD` (every node
//! sees every ring) and marks the streams it names **dirty**; the fetchers read only dirty streams,
//! without blocking, and a stream stops being dirty once a read returns less than a
//! full batch. An idle node therefore costs one blocking read per `block`, however
//! many tenants it serves, and a busy tenant costs reads only while it has entries.
//! A write whose own node takes what it wrote at once (`take.rs`) does not ring: the
//! doorbell announces only work left for a fetcher.
//!
//! Nothing waits on a lost ring: a stream marked dirty again while a read of it was
//! in flight stays dirty (each mark bumps a generation the fetcher compares), and the
//! ring task marks every stream that holds entries dirty when it starts (after
//! noting the ring's newest entry, so what was written before is swept and what
//! comes after rings) and every [`RING_SWEEP`] (rings trimmed away under a long
//! stall). Empty streams are left alone: their lengths are read in pipelines, and
//! a dirty stream takes nothing at publish until a fetcher has read it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use fred::bytes::Bytes;
use fred::prelude::*;
use fred::types::streams::XReadResponse;
use tokio::sync::Notify;

use super::RedisBackend;
use super::fetch::stream_reply;
use super::recover::ErrorBackoff;
use crate::bus::Bus;
use crate::model::{Priority, TenantId};

/// How often every stream is marked dirty whatever the ring says: a safety net.
pub(crate) const RING_SWEEP: Duration = Duration::from_secs(30);

/// The ring is trimmed to about this many entries (at 2,000 rings/s, 50 s of them).
pub(crate) const RING_MAX_LEN: i64 = 100_000;

/// Most stream lengths one sweep pipeline reads.
const SWEEP_BATCH: usize = 1_000;

/// Most rings one read takes.
const RING_BATCH: u64 = 1_000;

/// The fields of one ring naming `streams`: `k`, then `k1`, `k2`, … (a reader takes
/// every field's value as a stream key).
pub(crate) fn ring_fields<'a>(
    streams: impl IntoIterator<Item = &'a str>,
) -> Vec<(String, &'a str)> {
    streams
        .into_iter()
        .enumerate()
        .map(|(i, s)| (if i == 0 { "k".to_owned() } else { format!("k{i}") }, s))
        .collect()
}

/// A stream a ring can name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Stream {
    /// A tenant's inbox stream of one priority class (group `workers`).
    Inbox(TenantId, Priority),
    /// A tenant's request stream (group `rest`).
    Rest(TenantId),
}

/// Streams with entries to read, each with the generation of its latest mark.
#[derive(Debug, Default)]
pub(crate) struct Dirty {
    marks: Mutex<HashMap<String, (Stream, u64)>>,
    next: std::sync::atomic::AtomicU64,
    notify: Notify,
}

impl Dirty {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Stream, u64)>> {
        self.marks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Marks `key` dirty and wakes the fetcher.
    pub(crate) fn mark(&self, key: String, stream: Stream) {
        self.mark_all([(key, stream)]);
    }

    /// Marks every `(key, stream)` dirty and wakes the fetcher once.
    pub(crate) fn mark_all(&self, streams: impl IntoIterator<Item = (String, Stream)>) {
        let mut marked = false;
        {
            let mut m = self.lock();
            for (key, stream) in streams {
                let g = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                m.insert(key, (stream, g));
                marked = true;
            }
        }
        if marked {
            self.notify.notify_one();
        }
    }

    /// The dirty streams, each with its mark's generation.
    pub(crate) fn snapshot(&self) -> Vec<(String, Stream, u64)> {
        self.lock()
            .iter()
            .map(|(k, (s, g))| (k.clone(), s.clone(), *g))
            .collect()
    }

    /// Forgets `key` unless it was marked again after generation `seen`.
    pub(crate) fn settle(&self, key: &str, seen: u64) {
        let mut m = self.lock();
        if m.get(key).is_some_and(|(_, g)| *g == seen) {
            m.remove(key);
        }
    }

    /// Whether `key` is dirty: a read of it is due or in flight.
    pub(crate) fn is_marked(&self, key: &str) -> bool {
        self.lock().contains_key(key)
    }

    /// Forgets `key` whatever its generation (nobody here reads it).
    pub(crate) fn forget(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Waits for a mark, at most `max`.
    pub(crate) async fn wait(&self, max: Duration) {
        let _ = tokio::time::timeout(max, self.notify.notified()).await;
    }

    /// How many streams are dirty.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// The dirty streams of one node: inboxes, one set per worker group (each read by
/// that group's fetcher: a ring wakes every group), and request streams (read by
/// the `RestActor`s' fetcher).
#[derive(Debug, Default)]
pub(crate) struct Rings {
    pub(crate) inbox: Vec<Dirty>,
    pub(crate) rest: Dirty,
}

impl Rings {
    /// Rings for `groups` worker groups.
    pub(crate) fn new(groups: usize) -> Self {
        Self {
            inbox: (0..groups.max(1)).map(|_| Dirty::default()).collect(),
            rest: Dirty::default(),
        }
    }
}

impl RedisBackend {
    /// What `key` names, if it is an inbox or request stream of this bus.
    pub(crate) fn stream_of(&self, key: &str) -> Option<Stream> {
        // Parsed, not compared with every key `t` has: a ring naming a thousand
        // streams costs no key formatting.
        let (t, rest) = self.keys.split(key)?;
        if rest == "rest" {
            return Some(Stream::Rest(t));
        }
        let class = rest.strip_prefix("inbox:")?;
        Priority::ALL
            .into_iter()
            .find(|c| c.as_str() == class)
            .map(|c| Stream::Inbox(t, c))
    }

    /// Whether this node reads `stream`: inboxes if its workers consume them,
    /// request streams of the tenants whose `RestActor` runs here.
    fn reads(&self, stream: &Stream) -> bool {
        match stream {
            Stream::Inbox(..) => self.reads_inbox,
            Stream::Rest(t) => self.request_subs.contains_key(t),
        }
    }

    /// Marks the streams this node reads dirty (each set woken once).
    pub(crate) fn mark_dirty(&self, streams: impl IntoIterator<Item = (String, Stream)>) {
        let (inbox, rest): (Vec<_>, Vec<_>) = streams
            .into_iter()
            .filter(|(_, s)| self.reads(s))
            .partition(|(_, s)| matches!(s, Stream::Inbox(..)));
        if !inbox.is_empty() {
            for (dirty, g) in self.rings.inbox.iter().zip(&self.inbox_groups) {
                if g.consumed {
                    dirty.mark_all(inbox.iter().cloned());
                }
            }
        }
        self.rings.rest.mark_all(rest);
    }

    /// Every stream of `t`.
    fn streams_of(&self, t: &TenantId) -> impl Iterator<Item = (String, Stream)> {
        Priority::ALL
            .into_iter()
            .map(|c| (self.keys.inbox(t, c), Stream::Inbox(t.clone(), c)))
            .chain(std::iter::once((
                self.keys.rest(t),
                Stream::Rest(t.clone()),
            )))
    }

    /// Marks every stream of `t` this node reads dirty.
    pub(crate) fn mark_tenant_dirty(&self, t: &TenantId) {
        self.mark_dirty(self.streams_of(t));
    }

    /// The tenants in the shared set `P:tenants`.
    pub(crate) async fn listed_tenants(&self) -> Result<Vec<TenantId>, fred::error::Error> {
        let names: Vec<String> = self.client.smembers(self.keys.tenants()).await?;
        Ok(names
            .iter()
            .filter_map(|n| {
                n.split_once('/')
                    .and_then(|(p, t)| TenantId::parse(p, t).ok())
            })
            .collect())
    }

    /// Marks dirty every stream this node reads, of every tenant on record, that
    /// holds entries (the sweep). An empty stream has nothing to read, and marking
    /// it would only stop the takes at publish (`take.rs`) until a fetcher had read
    /// it: a thousand tenants' worth held every tenant's events for a read round.
    async fn sweep(&self) -> Result<usize, fred::error::Error> {
        let mut tenants = self.listed_tenants().await?;
        tenants.extend(self.known.iter().map(|e| e.key().clone()));
        tenants.sort();
        tenants.dedup();
        let streams: Vec<(String, Stream)> = tenants
            .iter()
            .flat_map(|t| self.streams_of(t))
            .filter(|(_, s)| self.reads(s))
            .collect();
        let mut holding = Vec::new();
        for chunk in streams.chunks(SWEEP_BATCH) {
            let p = self.client.pipeline();
            for (key, _) in chunk {
                let _: Value = p.xlen(key.as_str()).await?;
            }
            let lengths: Vec<u64> = p.all().await?;
            holding.extend(
                chunk
                    .iter()
                    .zip(lengths)
                    .filter(|(_, n)| *n > 0)
                    .map(|(s, _)| s.clone()),
            );
        }
        self.mark_dirty(holding);
        Ok(tenants.len())
    }

    /// The ring's newest entry id (`0-0` when it is empty or missing).
    async fn ring_tail(&self) -> Result<String, fred::error::Error> {
        let last: Vec<(String, HashMap<String, Bytes>)> = self
            .client
            .xrevrange(self.keys.ring(), "+", "-", Some(1))
            .await?;
        Ok(last
            .into_iter()
            .next()
            .map_or_else(|| "0-0".to_owned(), |(id, _)| id))
    }
}

/// Reads the ring and marks the streams it names dirty; sweeps at start and every
/// [`RING_SWEEP`].
pub(super) async fn ring_reader(bus: Bus) {
    let Some(r) = bus.redis_backend() else { return };
    let cancel = bus.inner.cancel.clone();
    let key = r.keys.ring();
    let mut backoff = ErrorBackoff::default();
    // Note the ring's tail before sweeping: entries written before it are swept,
    // those after ring.
    let mut last = loop {
        match r.ring_tail().await {
            Ok(id) => break id,
            Err(e) => {
                tracing::warn!(error = %crate::Report(&e), "cannot read the ring's tail");
                backoff.wait(&cancel).await;
                if cancel.is_cancelled() {
                    return;
                }
            }
        }
    };
    let mut swept: Option<tokio::time::Instant> = None;
    while !cancel.is_cancelled() {
        if swept.is_none_or(|s| s.elapsed() >= RING_SWEEP) {
            match r.sweep().await {
                Ok(_) => swept = Some(tokio::time::Instant::now()),
                Err(e) => {
                    tracing::warn!(error = %crate::Report(&e), "cannot sweep the tenants' streams");
                }
            }
        }
        let res: Result<XReadResponse<String, String, String, Bytes>, _> = r
            .ring_reader
            .xread::<Value, _, _>(
                Some(RING_BATCH),
                Some(r.cfg.block.as_millis() as u64),
                key.as_str(),
                last.as_str(),
            )
            .await
            .and_then(stream_reply);
        match res {
            Ok(mut resp) => {
                backoff.reset();
                let mut rung = Vec::new();
                for (id, fields) in resp.remove(&key).unwrap_or_default() {
                    last = id;
                    // Every field names a stream (`ring_fields`).
                    for named in fields.into_values() {
                        if let Ok(named) = String::from_utf8(named.to_vec())
                            && let Some(s) = r.stream_of(&named)
                        {
                            rung.push((named, s));
                        }
                    }
                }
                r.mark_dirty(rung);
            }
            Err(e) => {
                tracing::warn!(error = %crate::Report(&e), "ring read failed");
                backoff.wait(&cancel).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbox(name: &str) -> (String, Stream) {
        let t = TenantId::parse("discord", name).unwrap();
        (format!("k:{name}"), Stream::Inbox(t, Priority::Message))
    }

    #[test]
    fn a_mark_during_a_read_keeps_the_stream_dirty() {
        let d = Dirty::default();
        let (k, s) = inbox("duck");
        d.mark(k.clone(), s.clone());
        let snap = d.snapshot();
        assert_eq!(snap.len(), 1);
        // A ring arrives while the read is in flight.
        d.mark(k.clone(), s);
        d.settle(&k, snap[0].2);
        assert_eq!(d.len(), 1, "marked again after the read: still dirty");
        let snap = d.snapshot();
        d.settle(&k, snap[0].2);
        assert_eq!(d.len(), 0, "drained and not marked since");
    }

    #[test]
    fn one_ring_names_every_stream_of_a_batch_under_distinct_fields() {
        let f = ring_fields(["a", "b", "c"]);
        let names: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["k", "k1", "k2"]);
        let values: Vec<&str> = f.iter().map(|(_, v)| *v).collect();
        assert_eq!(values, ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn a_mark_wakes_a_waiter_even_if_it_came_first() {
        let d = Dirty::default();
        let (k, s) = inbox("goose");
        d.mark(k, s);
        // The permit is stored: the wait returns at once, well before its bound.
        tokio::time::timeout(Duration::from_secs(5), d.wait(Duration::from_secs(60)))
            .await
            .expect("woken by the earlier mark");
    }
}
