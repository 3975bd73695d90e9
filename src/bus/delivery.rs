//! What the bus hands a consumer, and what it keeps of failures.

use std::borrow::Cow;

use super::group::GroupId;
use super::redis::HoldGuard;
use super::scheduler::Ticket;
use crate::model::Envelope;

/// Where a delivery came from, so it can be acknowledged there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Receipt {
    /// In-process: nothing to acknowledge outside this process.
    Memory,
    /// A Redis stream entry, pending in a consumer group until acknowledged.
    Redis {
        /// The stream key.
        stream: String,
        /// The consumer group holding it.
        group: Cow<'static, str>,
        /// The entry id.
        id: String,
    },
}

/// One envelope taken from the bus for handling. Hand it back with
/// [`Bus::ack`](super::Bus::ack) when done or [`Bus::fail`](super::Bus::fail) when
/// handling failed; a delivery that is neither is redelivered (Redis: after the idle
/// bound, to any node).
#[derive(Debug)]
pub struct Delivery {
    /// The envelope.
    pub envelope: Envelope,
    pub(crate) receipt: Receipt,
    /// The tenant's in-flight slot while a worker holds this delivery (inbox
    /// deliveries only); released when the delivery is acked, failed or dropped.
    pub(crate) ticket: Option<Ticket>,
    /// The worker group this delivery belongs to: its ack, retry or dead letter
    /// concerns that group alone.
    pub(crate) group: GroupId,
    /// No handler can have finished this envelope: the first delivery of an entry
    /// its publisher marked as a first publish ([`Bus::publish_live`]). Workers skip
    /// the idempotency lookup for it. Redeliveries, retries, replays and claimed
    /// entries are never fresh.
    ///
    /// [`Bus::publish_live`]: super::Bus::publish_live
    pub(crate) fresh: bool,
    /// Redis only: an inbox delivery's side of its envelope's hold (its
    /// acknowledgement waits for the commands it caused here), or a command's side
    /// (the command is served on the strength of that delivery). See
    /// `redis/holds.rs`.
    pub(crate) hold: Option<HoldGuard>,
}

impl Delivery {
    pub(crate) fn new(envelope: Envelope, receipt: Receipt) -> Self {
        Self {
            envelope,
            receipt,
            ticket: None,
            group: GroupId::default(),
            fresh: false,
            hold: None,
        }
    }

    /// The same delivery, for worker group `group`.
    pub(crate) fn in_group(mut self, group: GroupId) -> Self {
        self.group = group;
        self
    }
}

/// An envelope (or undecodable bytes) that could not be handled.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The dead-letter entry's id (Redis stream id, or a sequence number in memory).
    pub id: String,
    /// The envelope, when it could be decoded.
    pub envelope: Option<Envelope>,
    /// The raw bytes, when they could not be decoded.
    pub raw: Option<Vec<u8>>,
    /// The last error.
    pub error: String,
    /// Deliveries attempted.
    pub attempts: u32,
    /// When it was dead-lettered, Unix milliseconds.
    pub ts: u64,
    /// The worker group that gave up on it ([`DEFAULT_GROUP`](super::DEFAULT_GROUP)
    /// for the default group, and for letters written before groups existed); a
    /// replay goes back to this group only.
    pub group: String,
}
