//! Requests waiting for their responses, by correlation id, and [`PendingReply`],
//! the handle of one such request.
//!
//! A request whose handle is dropped before its response arrives is *detached*: the
//! response, when it comes, is settled quietly (it is not an orphan — nobody asked
//! for it). Detached entries whose response never comes are purged after
//! [`DETACHED_TTL`].

use std::time::{Duration, Instant};

use dashmap::DashMap;
use tokio::sync::oneshot;

use super::{Bus, BusError};
use crate::model::{Envelope, EnvelopeId};

/// How long a detached request waits for its response before it is forgotten.
const DETACHED_TTL: Duration = Duration::from_secs(10 * 60);

enum Waiter {
    Waiting(oneshot::Sender<Envelope>),
    Detached(Instant),
}

/// The table of in-flight requests of this node.
#[derive(Default)]
pub(crate) struct Pending {
    waiting: DashMap<EnvelopeId, Waiter>,
    registered: std::sync::atomic::AtomicU64,
}

impl Pending {
    /// Registers a request; the receiver resolves when its response arrives.
    pub(crate) fn register(&self, corr: EnvelopeId) -> oneshot::Receiver<Envelope> {
        let n = self
            .registered
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n % 1024 == 1023 {
            let now = Instant::now();
            self.waiting.retain(|_, w| match w {
                Waiter::Detached(at) => now.duration_since(*at) < DETACHED_TTL,
                Waiter::Waiting(_) => true,
            });
        }
        let (tx, rx) = oneshot::channel();
        self.waiting.insert(corr, Waiter::Waiting(tx));
        rx
    }

    /// Forgets a request (timed out).
    pub(crate) fn forget(&self, corr: &EnvelopeId) {
        self.waiting.remove(corr);
    }

    /// Nobody will wait for this request's response any more; settle it quietly.
    pub(crate) fn detach(&self, corr: EnvelopeId) {
        if let Some(mut w) = self.waiting.get_mut(&corr) {
            *w = Waiter::Detached(Instant::now());
        }
    }

    /// Hands a response to its waiter. Returns false when nobody asked for it (late
    /// or duplicate response).
    pub(crate) fn resolve(&self, response: Envelope) -> bool {
        let Some(corr) = response.corr else {
            return false;
        };
        match self.waiting.remove(&corr) {
            Some((_, Waiter::Waiting(tx))) => tx.send(response).is_ok(),
            Some((_, Waiter::Detached(_))) => true,
            None => false,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }
}

/// The response to a request the bus accepted ([`Bus::submit`]): [`PendingReply::wait`]
/// for it; dropping the handle detaches the request (its response is settled
/// quietly when it comes).
pub struct PendingReply {
    corr: EnvelopeId,
    rx: Option<oneshot::Receiver<Envelope>>,
    bus: Bus,
    timeout: Duration,
}

impl std::fmt::Debug for PendingReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingReply")
            .field("corr", &self.corr)
            .finish_non_exhaustive()
    }
}

impl PendingReply {
    pub(crate) fn new(
        corr: EnvelopeId,
        rx: oneshot::Receiver<Envelope>,
        bus: Bus,
        timeout: Duration,
    ) -> Self {
        Self {
            corr,
            rx: Some(rx),
            bus,
            timeout,
        }
    }

    /// Waits for the response, at most the timeout given when it was submitted.
    ///
    /// # Errors
    /// [`BusError::Timeout`]; [`BusError::Closed`] if the bus closed first.
    pub async fn wait(mut self) -> Result<Envelope, BusError> {
        let Some(rx) = self.rx.take() else {
            return Err(BusError::Closed);
        };
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(_)) => Err(BusError::Closed),
            Err(_) => {
                self.bus.inner.pending.forget(&self.corr);
                Err(BusError::Timeout {
                    corr: self.corr.to_string(),
                    timeout_ms: self.timeout.as_millis() as u64,
                })
            }
        }
    }
}

impl Drop for PendingReply {
    fn drop(&mut self) {
        if self.rx.is_some() {
            self.bus.inner.pending.detach(self.corr);
        }
    }
}
