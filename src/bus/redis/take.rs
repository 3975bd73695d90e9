//! Taking at publish: a node that writes an entry it will handle itself reads it in
//! the same call.
//!
//! The fetchers (`fetch.rs`) learn of work from the doorbell (`ring.rs`): a write, a
//! ring read, then a read of the stream — three round trips before a delivery is in
//! hand. When the writing node will handle the entry itself (its gateway publishes
//! an event and its workers have room for the tenant; a handler sends a command whose
//! `RestActor` runs here), the write's script also takes the stream's unread entries
//! for this node (`XREADGROUP … >`) and returns them: one round trip. What is taken is
//! exactly what a fetcher's read would have returned — same consumer group, same
//! pending list — so acknowledgements, claims, retries, dead letters and
//! at-least-once are unchanged; and the doorbell rings only if the take was full
//! (more may wait) or could not be made, so other nodes hear of the work this node
//! did not take.
//!
//! No take is tried (the write rings as before) when the stream is dirty here — a
//! fetcher read of it is due or in flight, and a take beside it could hand entries
//! over out of stream order —, when the tenant's local queue has no room, when
//! several worker groups share the inboxes (each must read every entry), or when
//! this node's workers do not read inboxes at all.

use fred::prelude::*;
use tokio::sync::mpsc;

use super::fetch::{self, Admitted, Fields, Reader};
use super::ring::Stream;
use super::acks::Settle;
use super::scripts::{XADD_TAKE, XADD_TAKE_ACKS};
use super::{REST, RedisBackend};
use crate::bus::delivery::Delivery;
use crate::bus::error::BusError;
use crate::bus::{Bus, GroupId};
use crate::model::{Priority, TenantId};

impl RedisBackend {
    /// The script arguments (see [`Self::take_args`]) with which a publish from this
    /// node takes unread entries of inbox `key` (tenant `t`, class `class`) for its
    /// workers: as many as the tenant's local queue has room for, at most a fetch
    /// batch; `None` when no take may be made (module docs).
    pub(super) fn inbox_take(
        &self,
        bus: &Bus,
        t: &TenantId,
        class: Priority,
        key: &str,
    ) -> Option<[Value; 3]> {
        let ([group], Some(dirty)) = (self.inbox_groups.as_slice(), self.rings.inbox.first())
        else {
            return None;
        };
        if !group.consumed || dirty.is_marked(key) || bus.inner.cancel.is_cancelled() {
            return None;
        }
        let queued = bus.group_of(GroupId::default()).scheduler.queued(t, class);
        let room = fetch::prefetch(bus, self).saturating_sub(queued);
        let take = room.min(usize::try_from(self.cfg.fetch_count).unwrap_or(usize::MAX));
        (take > 0).then(|| self.take_args(take as u64, &group.consumer))
    }

    /// The arguments asking a publish script to take `take` entries for this node as
    /// consumer group `group`.
    fn take_args(&self, take: u64, group: &str) -> [Value; 3] {
        [
            Value::from(take.to_string()),
            Value::from(group),
            Value::from(self.node.as_str()),
        ]
    }

    /// Hands what a publish of inbox `stream` took (the script's reply, `entries`)
    /// to this node's workers, as a fetcher would have. Unreadable, the entries stay
    /// pending here and are claimed after the claim time: the write itself landed.
    pub(super) async fn hand_taken_events(
        &self,
        bus: &Bus,
        t: &TenantId,
        stream: &str,
        entries: Value,
    ) {
        // The entries taken: `[[id, [field, value, …]], …]`.
        let entries: Vec<(String, Fields)> = match entries.into_xread_value() {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(stream, error = %crate::Report(&e), "cannot read the entries a publish took; they are claimed after the claim time");
                return;
            }
        };
        let Some(group) = self.inbox_groups.first() else {
            return;
        };
        let reader = Reader {
            consumer: group.consumer.clone(),
            group: GroupId::default(),
        };
        let mut admitted = Vec::with_capacity(entries.len());
        fetch::admit_read(bus, self, &reader, t, stream, entries, &mut admitted).await;
        bus.group_of(GroupId::default())
            .scheduler
            .push_now_all(admitted);
    }

    /// How many unread requests of `stream` a command published here may take for
    /// this node's `RestActor` of `t` (its queue `tx`): the queue's free room, at
    /// most a request batch; 0 when the stream is dirty here (a read is due).
    pub(super) fn request_take(&self, stream: &str, tx: &mpsc::Sender<Delivery>) -> u64 {
        if self.rings.rest.is_marked(stream) {
            return 0;
        }
        (tx.capacity() as u64).min(fetch::request_batch(self))
    }

    /// Appends a command to request stream `stream` of `t`, served here (queue
    /// `tx`), taking up to `take` unread requests for this node in the same call
    /// ([`XADD_TAKE`]) and handing them to the `RestActor`. A request that no longer
    /// fits (or whose actor stopped) is handed back to the stream; if the take was
    /// full or could not be made, the stream is marked dirty here so the request
    /// fetcher reads the rest.
    pub(super) async fn publish_request_taken(
        &self,
        bus: &Bus,
        t: &TenantId,
        stream: &str,
        bytes: Vec<u8>,
        take: u64,
        tx: &mpsc::Sender<Delivery>,
    ) -> Result<(), BusError> {
        let mut keys = vec![stream.to_owned()];
        let mut args = vec![Value::Bytes(bytes.into())];
        args.extend(self.take_args(take, REST));
        // Queued acknowledgements ride along (`acks.rs`).
        let reply: Value = match Settle::riding(self) {
            None => {
                XADD_TAKE
                    .evalsha_with_reload(&self.client, keys, args)
                    .await?
            }
            Some(settle) => {
                settle.append(self, &mut keys, &mut args);
                let sent = XADD_TAKE_ACKS
                    .evalsha_with_reload::<Value, _, _>(&self.client, keys, args)
                    .await;
                settle.after(self, sent).await?
            }
        };
        let entries: Vec<(String, Fields)> = reply.into_xread_value().unwrap_or_else(|e| {
            tracing::warn!(stream, error = %crate::Report(&e), "cannot read the requests a command took; they are claimed after the claim time");
            Vec::new()
        });
        let got = entries.len() as u64;
        let reader = Reader::rest();
        for (id, fields) in entries {
            if let Admitted::Delivery(d) = fetch::admit(bus, self, t, stream, &reader, id, fields).await
                && let Err(e) = tx.try_send(*d)
            {
                let (mpsc::error::TrySendError::Full(d) | mpsc::error::TrySendError::Closed(d)) = e;
                self.requeue(d).await;
            }
        }
        if got == 0 || got >= take {
            self.rings
                .rest
                .mark(stream.to_owned(), Stream::Rest(t.clone()));
        }
        Ok(())
    }
}
