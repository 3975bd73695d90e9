//! Requests waiting for their responses, by correlation id.

use dashmap::DashMap;
use tokio::sync::oneshot;

use crate::model::{Envelope, EnvelopeId};

/// The table of in-flight requests of this node.
#[derive(Default)]
pub(crate) struct Pending {
    waiting: DashMap<EnvelopeId, oneshot::Sender<Envelope>>,
}

impl Pending {
    /// Registers a request; the receiver resolves when its response arrives.
    pub(crate) fn register(&self, corr: EnvelopeId) -> oneshot::Receiver<Envelope> {
        let (tx, rx) = oneshot::channel();
        self.waiting.insert(corr, tx);
        rx
    }

    /// Forgets a request (timed out or abandoned).
    pub(crate) fn forget(&self, corr: &EnvelopeId) {
        self.waiting.remove(corr);
    }

    /// Hands a response to its waiter. Returns false when nobody waits for it (late or
    /// duplicate response).
    pub(crate) fn resolve(&self, response: Envelope) -> bool {
        let Some(corr) = response.corr else {
            return false;
        };
        match self.waiting.remove(&corr) {
            Some((_, tx)) => tx.send(response).is_ok(),
            None => false,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }
}
