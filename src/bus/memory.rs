//! The in-process backend's own state: request queues, dead letters and the
//! idempotency marks. Inbox deliveries live in the shared scheduler.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use tokio::sync::mpsc;

use super::BusConfig;
use super::delivery::{DeadLetter, Delivery, Receipt};
use super::error::BusError;
use crate::model::{Envelope, EnvelopeId, TenantId};

/// How long an idempotency mark is kept: longer than any retry schedule.
const DONE_TTL: Duration = Duration::from_secs(3600);

type RequestQueue = (
    mpsc::Sender<Envelope>,
    tokio::sync::Mutex<mpsc::Receiver<Envelope>>,
);

pub(crate) struct MemoryBackend {
    request_bound: usize,
    requests: DashMap<TenantId, std::sync::Arc<RequestQueue>>,
    dead: Mutex<VecDeque<DeadLetter>>,
    dead_capacity: usize,
    dead_seq: AtomicU64,
    done: DashMap<(EnvelopeId, Box<str>), Instant>,
    done_sweep: Mutex<Instant>,
    /// Claims and last fired slots of scheduled jobs (`bus/jobs.rs`).
    pub(crate) jobs: Box<super::jobs::MemoryJobs>,
}

impl MemoryBackend {
    pub(crate) fn new(config: &BusConfig) -> Self {
        Self {
            request_bound: config.request_queue_bound.max(1),
            requests: DashMap::new(),
            dead: Mutex::new(VecDeque::new()),
            dead_capacity: config.dead_letter_capacity.max(1),
            dead_seq: AtomicU64::new(0),
            done: DashMap::new(),
            done_sweep: Mutex::new(Instant::now()),
            jobs: Box::default(),
        }
    }

    fn queue(&self, tenant: &TenantId) -> std::sync::Arc<RequestQueue> {
        self.requests
            .entry(tenant.clone())
            .or_insert_with(|| {
                let (tx, rx) = mpsc::channel(self.request_bound);
                std::sync::Arc::new((tx, tokio::sync::Mutex::new(rx)))
            })
            .clone()
    }

    pub(crate) async fn push_request(&self, envelope: Envelope) -> Result<(), BusError> {
        let q = self.queue(&envelope.tenant_id());
        q.0.send(envelope).await.map_err(|_| BusError::Closed)
    }

    pub(crate) async fn next_request(&self, tenant: &TenantId) -> Option<Delivery> {
        let q = self.queue(tenant);
        let mut rx = q.1.lock().await;
        rx.recv()
            .await
            .map(|envelope| Delivery::new(envelope, Receipt::Memory))
    }

    pub(crate) fn dead_letter(&self, mut letter: DeadLetter) {
        letter.id = self.dead_seq.fetch_add(1, Ordering::Relaxed).to_string();
        let mut dead = self
            .dead
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if dead.len() >= self.dead_capacity
            && let Some(old) = dead.pop_front()
        {
            metrics::counter!("switchboard_bus_dead_letters_evicted_total").increment(1);
            tracing::error!(id = %old.id, error = %old.error, "in-memory dead-letter queue full; evicting the oldest");
        }
        dead.push_back(letter);
    }

    pub(crate) fn dead_letters(&self, limit: usize) -> Vec<DeadLetter> {
        let dead = self
            .dead
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        dead.iter().rev().take(limit).cloned().collect()
    }

    /// How many dead letters are kept.
    pub(crate) fn dead_len(&self) -> usize {
        self.dead
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    pub(crate) fn take_dead_letter(&self, id: &str) -> Option<DeadLetter> {
        let mut dead = self
            .dead
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let pos = dead.iter().position(|d| d.id == id)?;
        dead.remove(pos)
    }

    pub(crate) fn mark_done(&self, id: EnvelopeId, handler: &str) {
        let now = Instant::now();
        self.done.insert((id, handler.into()), now);
        // Sweep expired marks now and then, so the table stays bounded by traffic.
        let mut last = self
            .done_sweep
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if now.duration_since(*last) > Duration::from_secs(60) {
            *last = now;
            self.done.retain(|_, t| now.duration_since(*t) < DONE_TTL);
        }
    }

    pub(crate) fn is_done(&self, id: EnvelopeId, handler: &str) -> bool {
        self.done.contains_key(&(id, handler.into()))
    }
}
