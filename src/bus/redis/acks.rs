//! Acknowledgements on the Redis bus: queued as deliveries are settled, written in
//! batches — by the ack batcher, or riding on the next publish script this node
//! sends anyway.
//!
//! A settled delivery's acknowledgement (and the idempotency marks written before
//! it) waits in the node's [`AckQueue`]. Nothing waits on that write: the entry only
//! stays pending a little longer, and is still held here (`in_hand`) so a re-read of
//! this node's pending entries does not deliver it again. Two writers drain the
//! queue:
//!
//! - **A publish** (`publish_fenced`, a command taken at publish) takes what is
//!   queued and settles it in its own script, before its write ([`Settle`]): under
//!   traffic the acknowledgements cost no round trip of their own.
//! - **The ack batcher**, for what no publish carried: an acknowledgement is due
//!   `RedisBusConfig::ack_linger` (20 ms by default) after it was queued. Once the
//!   oldest is due, the batcher writes everything queued in one `ACK_MANY` (a
//!   message's command settles a millisecond or two after its event, so at low
//!   rates one call settles both); at once when [`ACK_LINGER_BELOW`] are queued,
//!   or when the bus closes.
//!
//! Either way the marks come before the acknowledgements in one atomic script, so a
//! crash never leaves an entry acknowledged without its marks. If a script carrying
//! acknowledgements fails, they go back to the queue: acknowledging again is
//! harmless (`XACK` and `XDEL` of a settled entry do nothing, marks are plain
//! `SET`s). With several worker groups on the inbox streams an acknowledgement may
//! delete only what no other group needs, so nothing rides and the batcher settles
//! each stream with `ACK_DEL`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;

use fred::prelude::*;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::RedisBackend;
use super::scripts::ACK_MANY;
use crate::bus::Bus;

/// A pending acknowledgement: stream, group, entry id, and the idempotency marks
/// (`done` keys) to write before it, in the same script.
pub(crate) struct AckItem {
    pub(crate) stream: String,
    pub(crate) group: Cow<'static, str>,
    pub(crate) id: String,
    pub(crate) marks: Vec<String>,
}

/// The most entries one ack batch settles.
const ACK_BATCH: usize = 1000;

/// The most entries one publish carries: a publish stays a small script.
const RIDE_MAX: usize = 64;

/// Batches at least this big are written at once: under load the queue fills them.
const ACK_LINGER_BELOW: usize = 64;

/// The node's queued acknowledgements (module docs), each with when it is due: the
/// batcher writes it then if no publish has carried it.
#[derive(Default)]
pub(crate) struct AckQueue {
    items: Mutex<Vec<(Instant, AckItem)>>,
    /// Rung when the queue stops being empty.
    queued: Notify,
    /// Rung when it holds a batch worth writing at once.
    full: Notify,
}

impl AckQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Instant, AckItem)>> {
        self.items
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `item`, due at `due`.
    pub(crate) fn push(&self, item: AckItem, due: Instant) {
        let len = {
            let mut items = self.lock();
            items.push((due, item));
            items.len()
        };
        if len == 1 {
            self.queued.notify_one();
        } else if len == ACK_LINGER_BELOW {
            self.full.notify_one();
        }
    }

    /// Puts back what a failed script carried, due now.
    fn put_back(&self, back: Vec<AckItem>) {
        if back.is_empty() {
            return;
        }
        let now = Instant::now();
        self.lock().extend(back.into_iter().map(|item| (now, item)));
        self.queued.notify_one();
        self.full.notify_one();
    }

    /// Takes up to `max` queued acknowledgements, oldest first.
    fn take(&self, max: usize) -> Vec<AckItem> {
        let mut items = self.lock();
        let n = items.len().min(max);
        items.drain(..n).map(|(_, item)| item).collect()
    }

    /// How many are queued.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// How many are queued, and when the first of them is due.
    fn state(&self) -> (usize, Option<Instant>) {
        let items = self.lock();
        (items.len(), items.iter().map(|(at, _)| *at).min())
    }
}

/// One batch of acknowledgements as script arguments: the marks, then per stream and
/// group the entry ids (the layout `ACK_MANY` and the publish scripts that carry
/// acknowledgements read, see `scripts.rs`).
pub(crate) struct Settle {
    marks: Vec<String>,
    by_stream: Vec<(StreamGroup, Vec<String>)>,
}

/// A stream and the consumer group an acknowledgement is for.
type StreamGroup = (String, Cow<'static, str>);

impl Settle {
    /// What a publish from this node carries: the queued acknowledgements, if any
    /// and if they may ride (one worker group on the inboxes).
    pub(crate) fn riding(r: &RedisBackend) -> Option<Self> {
        if r.inbox_groups.len() != 1 {
            return None;
        }
        let items = r.acks.take(RIDE_MAX);
        (!items.is_empty()).then(|| Self::new(items))
    }

    fn new(items: Vec<AckItem>) -> Self {
        let mut marks = Vec::new();
        let mut by_stream: Vec<(StreamGroup, Vec<String>)> = Vec::new();
        let mut at: HashMap<StreamGroup, usize> = HashMap::new();
        for item in items {
            marks.extend(item.marks);
            let key = (item.stream, item.group);
            if let Some(&i) = at.get(&key) {
                by_stream[i].1.push(item.id);
            } else {
                at.insert(key.clone(), by_stream.len());
                by_stream.push((key, vec![item.id]));
            }
        }
        Self { marks, by_stream }
    }

    /// Appends this batch's keys and arguments: keys the marks, then the streams;
    /// arguments the marks' time to live, how many marks, then per stream its group,
    /// how many ids, and the ids.
    pub(crate) fn append(&self, r: &RedisBackend, keys: &mut Vec<String>, args: &mut Vec<Value>) {
        keys.extend(self.marks.iter().cloned());
        keys.extend(self.by_stream.iter().map(|((s, _), _)| s.clone()));
        args.push(Value::from(i64::try_from(r.cfg.done_ttl.as_millis()).unwrap_or(i64::MAX)));
        args.push(Value::from(i64::try_from(self.marks.len()).unwrap_or(i64::MAX)));
        for ((_, group), ids) in &self.by_stream {
            args.push(Value::from(&**group));
            args.push(Value::from(i64::try_from(ids.len()).unwrap_or(i64::MAX)));
            args.extend(ids.iter().map(|id| Value::from(id.as_str())));
        }
    }

    /// Finishes the publish script that carried this batch (its result `sent`):
    /// settled, this returns the publish's own reply; failed, the batch goes back
    /// to the queue and the error is returned.
    pub(crate) async fn after(
        self,
        r: &RedisBackend,
        sent: Result<Value, fred::error::Error>,
    ) -> Result<Value, fred::error::Error> {
        match sent {
            Ok(reply) => {
                // `[publish reply, ACK_MANY reply]`.
                let mut both = reply.into_array().into_iter();
                let publish = both.next().unwrap_or(Value::Null);
                self.done(r, both.next().unwrap_or(Value::Null)).await;
                Ok(publish)
            }
            Err(e) => {
                self.put_back(r);
                Err(e)
            }
        }
    }

    /// The script ran: re-creates the groups of streams whose `XACK` found none
    /// (`failed`: pairs of the stream's index, from 1, and the error), and lets go
    /// of the entries here.
    async fn done(self, r: &RedisBackend, failed: Value) {
        for pair in failed.into_array().chunks(2) {
            let [index, error] = pair else { continue };
            let Some(((stream, _), _)) = index
                .as_u64()
                .and_then(|i| self.by_stream.get(usize::try_from(i).ok()?.checked_sub(1)?))
            else {
                continue;
            };
            let error = error.as_string().unwrap_or_default();
            if error.contains("NOGROUP") {
                r.recreate_groups_of([stream.as_str()], "XACK").await;
            } else {
                tracing::warn!(stream, error, "acknowledging a batch failed");
            }
        }
        self.release(r);
    }

    /// The script carrying this batch failed: back to the queue, still held here.
    fn put_back(self, r: &RedisBackend) {
        let mut marks = Some(self.marks);
        let back = self
            .by_stream
            .into_iter()
            .flat_map(|((stream, group), ids)| {
                ids.into_iter().map(move |id| (stream.clone(), group.clone(), id))
            })
            .map(|(stream, group, id)| AckItem {
                stream,
                group,
                id,
                // Every mark with the first entry: all of them still come first.
                marks: marks.take().unwrap_or_default(),
            })
            .collect();
        r.acks.put_back(back);
    }

    /// Lets go of the batch's entries here.
    fn release(self, r: &RedisBackend) {
        for ((stream, group), ids) in self.by_stream {
            for id in ids {
                r.in_hand.remove(&(stream.clone(), id, group.clone()));
            }
        }
    }
}

/// Writes what no publish carried (module docs), until the bus closes; then what is
/// left. An acknowledgement queued after that is lost and its entry redelivered.
pub(super) async fn ack_batcher(bus: Bus) {
    let Some(r) = bus.redis_backend() else { return };
    let cancel = bus.inner.cancel.clone();
    loop {
        let (len, first_due) = r.acks.state();
        if len == 0 {
            if cancel.is_cancelled() {
                return;
            }
            tokio::select! {
                () = r.acks.queued.notified() => {}
                () = cancel.cancelled() => {}
            }
            continue;
        }
        // Written once the first is due, with what is queued behind it; at once when
        // a batch's worth is queued or the bus closes.
        if let Some(first_due) = first_due
            && len < ACK_LINGER_BELOW
            && !cancel.is_cancelled()
            && Instant::now() < first_due
        {
            tokio::select! {
                () = tokio::time::sleep_until(first_due) => {}
                () = r.acks.full.notified() => {}
                () = cancel.cancelled() => {}
            }
            continue;
        }
        let batch = r.acks.take(ACK_BATCH);
        if !batch.is_empty() {
            settle_batch(r, Settle::new(batch)).await;
        }
    }
}

/// Writes one batch and lets go of its entries. A failed write is logged, and its
/// entries redelivered after the claim time: their handlers run again (at least
/// once).
async fn settle_batch(r: &RedisBackend, settle: Settle) {
    if r.inbox_groups.len() != 1 {
        settle_each_stream(r, &settle).await;
        settle.release(r);
        return;
    }
    let (mut keys, mut args) = (Vec::new(), Vec::new());
    settle.append(r, &mut keys, &mut args);
    match ACK_MANY
        .evalsha_with_reload::<Value, _, _>(&r.client, keys, args)
        .await
    {
        Ok(failed) => settle.done(r, failed).await,
        Err(e) => {
            // Nothing written, marks included (the script is atomic).
            tracing::warn!(error = %crate::Report(&e), "writing idempotency marks and acknowledgements failed");
            settle.release(r);
        }
    }
}

/// With several worker groups: the marks (`ACK_MANY` with no streams), then one
/// `ACK_DEL` per stream, which deletes only what no other group needs; the client
/// pipelines them.
async fn settle_each_stream(r: &RedisBackend, settle: &Settle) {
    if !settle.marks.is_empty() {
        let marks_only = Settle {
            marks: settle.marks.clone(),
            by_stream: Vec::new(),
        };
        let (mut keys, mut args) = (Vec::new(), Vec::new());
        marks_only.append(r, &mut keys, &mut args);
        if let Err(e) = ACK_MANY
            .evalsha_with_reload::<Value, _, _>(&r.client, keys, args)
            .await
        {
            tracing::warn!(error = %crate::Report(&e), "writing idempotency marks failed");
            // No acknowledgement before its marks.
            return;
        }
    }
    let settles = settle.by_stream.iter().map(|((stream, group), ids)| async move {
        if let Err(e) = r.settle_entries(stream, group, ids.clone()).await {
            tracing::warn!(stream, error = %crate::Report(&e), "acknowledging a batch failed");
        }
    });
    futures_util::future::join_all(settles).await;
}
