//! Health of a REST actor, readable through its handle without an actor round trip.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::breaker::CircuitState;
use super::buckets::BucketInfo;
use super::budget::BudgetSnapshot;

pub use crate::actors::access::TenantState;

/// Responses by status class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    /// 2xx.
    pub success: u64,
    /// 4xx other than 429.
    pub client_error: u64,
    /// 5xx.
    pub server_error: u64,
    /// Timeouts and transport errors (no status).
    pub transport_error: u64,
}

/// A snapshot of a REST actor's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestHealth {
    /// Running, failed (with reason) or stopped.
    pub state: TenantState,
    /// Commands being handled now.
    pub in_flight: u64,
    /// Commands answered.
    pub commands: u64,
    /// Provider responses by class.
    pub requests: StatusCounts,
    /// 429s received, twilight's hidden retries included.
    pub ratelimited: u64,
    /// Retries of 5xx, timeouts and transport errors.
    pub retries: u64,
    /// Token rotations applied.
    pub rotations: u64,
    /// Most `FetchHistory` commands that ran at once (bounded by the backfill cap).
    pub backfill_peak: u64,
    /// Buckets the gate knows.
    pub buckets: Vec<BucketInfo>,
    /// The circuit breaker.
    pub circuit: CircuitState,
    /// Times the circuit opened.
    pub circuit_opens: u64,
    /// Sends in the current global window.
    pub global_used: u64,
    /// The process-wide invalid-request budget.
    pub budget: BudgetSnapshot,
}

/// Live counters.
#[derive(Debug)]
pub(crate) struct Counters {
    pub(crate) state: Mutex<TenantState>,
    /// Why the actor stopped on its own (set before it stops).
    pub(crate) exit: Mutex<Option<crate::actors::access::AccessExit>>,
    pub(crate) in_flight: AtomicU64,
    pub(crate) commands: AtomicU64,
    pub(crate) success: AtomicU64,
    pub(crate) client_error: AtomicU64,
    pub(crate) server_error: AtomicU64,
    pub(crate) transport_error: AtomicU64,
    pub(crate) ratelimited: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) rotations: AtomicU64,
    pub(crate) backfill_active: AtomicU64,
    pub(crate) backfill_peak: AtomicU64,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            state: Mutex::new(TenantState::Starting),
            exit: Mutex::new(None),
            in_flight: AtomicU64::new(0),
            commands: AtomicU64::new(0),
            success: AtomicU64::new(0),
            client_error: AtomicU64::new(0),
            server_error: AtomicU64::new(0),
            transport_error: AtomicU64::new(0),
            ratelimited: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            rotations: AtomicU64::new(0),
            backfill_active: AtomicU64::new(0),
            backfill_peak: AtomicU64::new(0),
        }
    }
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Counts one running backfill while alive.
pub(crate) struct BackfillGuard<'a>(&'a Counters);

impl<'a> BackfillGuard<'a> {
    pub(crate) fn new(c: &'a Counters) -> Self {
        let now = c.backfill_active.fetch_add(1, Ordering::AcqRel) + 1;
        c.backfill_peak.fetch_max(now, Ordering::AcqRel);
        Self(c)
    }
}

impl Drop for BackfillGuard<'_> {
    fn drop(&mut self) {
        self.0.backfill_active.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Counters {
    /// Counts a response status.
    pub(crate) fn status(&self, status: u16) {
        bump(match status {
            200..=299 => &self.success,
            429 => &self.ratelimited,
            400..=499 => &self.client_error,
            500..=599 => &self.server_error,
            _ => &self.transport_error,
        });
    }

    pub(crate) fn state(&self) -> TenantState {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Sets the state; a failure is final (it is never overwritten).
    pub(crate) fn set_state(&self, s: TenantState) -> bool {
        let mut g = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if matches!(*g, TenantState::Failed(_)) {
            return false;
        }
        *g = s;
        true
    }

    pub(crate) fn requests(&self) -> StatusCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatusCounts {
            success: get(&self.success),
            client_error: get(&self.client_error),
            server_error: get(&self.server_error),
            transport_error: get(&self.transport_error),
        }
    }
}
