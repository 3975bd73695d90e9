//! Commands served on the strength of the delivery that caused them.
//!
//! A handler's command for a tenant whose `RestActor` runs on this node, sent while
//! the delivery that caused it is in a worker's hands, goes straight into that
//! actor's queue: no write to the request stream, no round trip. What makes it
//! durable is the delivery: its inbox entry stays pending — held here (`in_hand`,
//! kept alive by the toucher) — until every command it caused here has been
//! answered. The worker's acknowledgement waits in the envelope's [`Hold`]
//! meanwhile; the worker and the tenant's in-flight slot are free at once, as for
//! any acknowledgement. A crash before the answer leaves the entry pending: it is
//! claimed and handled again, and the command sent again under the same nonce —
//! the at-least-once the command's own stream entry gave, one round trip cheaper.
//!
//! A command that leaves the queue unanswered is written to the request stream
//! first (`stop_requests` hands it back as a new entry) and then lets go of the
//! acknowledgement, so the acknowledgement never outruns the command. A command
//! dropped unanswered (its task died) breaks the hold: the acknowledgements are not
//! written and the entry stays pending, as a fetched request's own entry would.
//!
//! Holds are keyed by envelope id: a replay of the same envelope in hand at the same
//! time shares the hold, which only makes the acknowledgements wait for both.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::acks::{AckItem, AckQueue};
use crate::model::EnvelopeId;

/// What is out for one envelope on this node.
#[derive(Default)]
struct Hold {
    /// Deliveries of the envelope in workers' hands.
    open: u32,
    /// Commands they caused that this node's `RestActor` has not answered yet.
    commands: u32,
    /// Acknowledgements waiting for those commands.
    acks: Vec<AckItem>,
    /// A command was dropped unanswered: its acknowledgements are never written.
    broken: bool,
}

/// The node's holds (module docs).
pub(crate) struct Holds {
    map: Mutex<HashMap<EnvelopeId, Hold>>,
    acks: Arc<AckQueue>,
    linger: Duration,
}

/// Which side of a hold a guard is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// An inbox delivery in a worker's hands.
    Delivery,
    /// A command it caused, in the `RestActor`'s queue or in flight.
    Command,
}

impl Holds {
    /// Holds whose acknowledgements go to `acks`, due `linger` after they are let go.
    pub(crate) fn new(acks: Arc<AckQueue>, linger: Duration) -> Arc<Self> {
        Arc::new(Self {
            map: Mutex::default(),
            acks,
            linger,
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<EnvelopeId, Hold>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An inbox delivery of envelope `id` goes to a worker.
    pub(crate) fn open(self: &Arc<Self>, id: EnvelopeId) -> HoldGuard {
        self.lock().entry(id).or_default().open += 1;
        HoldGuard {
            holds: Arc::clone(self),
            id,
            side: Side::Delivery,
            ended: false,
        }
    }

    /// A command caused by envelope `id` is to be served here: `None` unless a
    /// delivery of `id` is in a worker's hands (then the command must be written).
    pub(crate) fn attach(self: &Arc<Self>, id: EnvelopeId) -> Option<HoldGuard> {
        let mut map = self.lock();
        let hold = map.get_mut(&id).filter(|h| h.open > 0 && !h.broken)?;
        hold.commands += 1;
        Some(HoldGuard {
            holds: Arc::clone(self),
            id,
            side: Side::Command,
            ended: false,
        })
    }

    /// How many envelopes have a hold.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    /// One side of `id`'s hold ends, a delivery with its acknowledgement `ack`, a
    /// command answered or `broken`; the acknowledgements no command waits for
    /// any more are queued.
    fn end(&self, id: EnvelopeId, side: Side, ack: Option<AckItem>, broken: bool) {
        let mut ready = Vec::new();
        {
            let mut map = self.lock();
            let hold = map.entry(id).or_default();
            match side {
                Side::Delivery => hold.open = hold.open.saturating_sub(1),
                Side::Command => hold.commands = hold.commands.saturating_sub(1),
            }
            hold.broken |= broken;
            hold.acks.extend(ack);
            if hold.commands == 0 && !hold.broken {
                ready = std::mem::take(&mut hold.acks);
            }
            if hold.open == 0 && hold.commands == 0 {
                map.remove(&id);
            }
        }
        self.queue(ready);
    }

    fn queue(&self, ready: Vec<AckItem>) {
        if ready.is_empty() {
            return;
        }
        let due = Instant::now() + self.linger;
        for item in ready {
            self.acks.push(item, due);
        }
    }
}

/// One side of a hold: an inbox delivery's (on the `Delivery` a worker got) or a
/// command's (on the `Delivery` its `RestActor` gets). Dropped without being
/// ended, a delivery's side just closes (failed, rejected or given back: its entry
/// was settled another way), a command's breaks the hold (module docs).
pub(crate) struct HoldGuard {
    holds: Arc<Holds>,
    id: EnvelopeId,
    side: Side,
    ended: bool,
}

impl HoldGuard {
    /// The delivery was handled: `ack` is queued once no command it caused here is
    /// out.
    pub(crate) fn settle(mut self, ack: AckItem) {
        self.ended = true;
        self.holds.end(self.id, self.side, Some(ack), false);
    }

    /// The command was answered or written to its stream (or, for a delivery, its
    /// entry was settled another way): it holds nothing back any more.
    pub(crate) fn release(mut self) {
        self.ended = true;
        self.holds.end(self.id, self.side, None, false);
    }
}

impl Drop for HoldGuard {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let broken = self.side == Side::Command;
        if broken {
            metrics::counter!("switchboard_bus_broken_holds_total").increment(1);
            tracing::warn!(
                cause = %self.id,
                "a command was dropped unanswered: the delivery that caused it stays unacknowledged, to be handled again"
            );
        }
        self.holds.end(self.id, self.side, None, broken);
    }
}

impl std::fmt::Debug for HoldGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HoldGuard")
            .field("id", &self.id)
            .field("side", &self.side)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn item(id: &str) -> AckItem {
        AckItem {
            stream: "s".into(),
            group: Cow::Borrowed("workers"),
            id: id.into(),
            marks: Vec::new(),
        }
    }

    fn holds() -> (Arc<Holds>, Arc<AckQueue>) {
        let acks = Arc::new(AckQueue::default());
        (Holds::new(Arc::clone(&acks), Duration::ZERO), acks)
    }

    #[test]
    fn an_acknowledgement_waits_for_the_commands_its_delivery_caused() {
        let (holds, acks) = holds();
        let id = EnvelopeId::new();
        let delivery = holds.open(id);
        let first = holds.attach(id).expect("a delivery is in hand");
        let second = holds.attach(id).expect("a delivery is in hand");
        delivery.settle(item("1-0"));
        assert_eq!(acks.len(), 0, "two commands out");
        first.release();
        assert_eq!(acks.len(), 0, "one command out");
        second.release();
        assert_eq!(acks.len(), 1, "nothing out: the acknowledgement is queued");
        assert_eq!(holds.len(), 0);
    }

    #[test]
    fn with_nothing_out_an_acknowledgement_is_queued_at_once() {
        let (holds, acks) = holds();
        let id = EnvelopeId::new();
        let command = holds.attach(id);
        assert!(command.is_none(), "no delivery in hand: the command is written");
        let delivery = holds.open(id);
        let command = holds.attach(id).expect("in hand");
        command.release();
        delivery.settle(item("1-0"));
        assert_eq!(acks.len(), 1);
        assert_eq!(holds.len(), 0);
        assert!(
            holds.attach(id).is_none(),
            "acknowledged: a later command is written"
        );
    }

    #[test]
    fn a_command_dropped_unanswered_keeps_the_entry_pending() {
        let (holds, acks) = holds();
        let id = EnvelopeId::new();
        let delivery = holds.open(id);
        let command = holds.attach(id).expect("in hand");
        delivery.settle(item("1-0"));
        drop(command);
        assert_eq!(acks.len(), 0, "never acknowledged: redelivered instead");
        assert_eq!(holds.len(), 0);
    }

    #[test]
    fn a_failed_delivery_writes_nothing_and_its_commands_end_the_hold() {
        let (holds, acks) = holds();
        let id = EnvelopeId::new();
        let delivery = holds.open(id);
        let command = holds.attach(id).expect("in hand");
        drop(delivery);
        assert!(holds.attach(id).is_none(), "no delivery in hand any more");
        command.release();
        assert_eq!(acks.len(), 0);
        assert_eq!(holds.len(), 0);
    }

    #[test]
    fn a_replay_in_hand_beside_its_first_delivery_shares_the_hold() {
        let (holds, acks) = holds();
        let id = EnvelopeId::new();
        let first = holds.open(id);
        let replay = holds.open(id);
        let command = holds.attach(id).expect("in hand");
        first.settle(item("1-0"));
        replay.settle(item("2-0"));
        assert_eq!(acks.len(), 0);
        command.release();
        assert_eq!(acks.len(), 2);
        assert_eq!(holds.len(), 0);
    }
}
