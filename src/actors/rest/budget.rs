//! The process-wide invalid-request budget.
//!
//! Discord bans a client IP for a while once it has made 10,000 invalid requests
//! (401, 403, 429) in 10 minutes, counted across every bot behind that IP. One
//! [`InvalidRequestBudget`] is shared (`Arc`) by every `RestActor` of the process: each
//! send reserves a slot first and settles it with its outcome, so requests in flight
//! count as possibly invalid, and sends are refused once `used + in flight` reaches
//! `limit - margin` — before the ban, whatever the concurrency.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// How much invalid traffic is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetConfig {
    /// Invalid requests per `window` that trigger a ban (Discord: 10,000).
    pub limit: u32,
    /// The sliding window (Discord: 10 minutes).
    pub window: Duration,
    /// Sends are refused once `used + in flight` reaches `limit - margin`.
    pub margin: u32,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            limit: 10_000,
            window: Duration::from_secs(600),
            margin: 500,
        }
    }
}

/// A point-in-time view of the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BudgetSnapshot {
    /// Invalid requests seen in the window.
    pub used: u32,
    /// Requests in flight (each may still turn out invalid).
    pub in_flight: u32,
    /// The ban threshold.
    pub limit: u32,
    /// Where sending stops (`limit - margin`).
    pub threshold: u32,
    /// Sends refused so far.
    pub refused: u64,
}

#[derive(Debug, Default)]
struct Inner {
    events: VecDeque<Instant>,
    in_flight: u32,
}

/// The budget shared by every REST actor of a process.
#[derive(Debug)]
pub struct InvalidRequestBudget {
    config: BudgetConfig,
    inner: Mutex<Inner>,
    refused: AtomicU64,
}

/// Sending was refused: the budget is nearly spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid-request budget nearly spent ({used} of {limit} in the window)")]
pub struct BudgetExhausted {
    /// Invalid requests in the window.
    pub used: u32,
    /// The ban threshold.
    pub limit: u32,
}

impl Default for InvalidRequestBudget {
    fn default() -> Self {
        Self::new(BudgetConfig::default())
    }
}

impl InvalidRequestBudget {
    /// A budget with these limits.
    #[must_use]
    pub fn new(config: BudgetConfig) -> Self {
        Self {
            config,
            inner: Mutex::default(),
            refused: AtomicU64::new(0),
        }
    }

    fn threshold(&self) -> u32 {
        self.config.limit.saturating_sub(self.config.margin)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        let mut g = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let horizon = Instant::now().checked_sub(self.config.window);
        while let (Some(front), Some(h)) = (g.events.front(), horizon) {
            if *front > h {
                break;
            }
            g.events.pop_front();
        }
        g
    }

    fn used_of(g: &Inner) -> u32 {
        u32::try_from(g.events.len()).unwrap_or(u32::MAX)
    }

    /// Reserves a slot for one send.
    ///
    /// # Errors
    /// [`BudgetExhausted`] when `used + in flight` has reached the threshold.
    pub fn reserve(self: &Arc<Self>) -> Result<BudgetTicket, BudgetExhausted> {
        let mut g = self.lock();
        let used = Self::used_of(&g);
        if used.saturating_add(g.in_flight) >= self.threshold() {
            drop(g);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(BudgetExhausted {
                used,
                limit: self.config.limit,
            });
        }
        g.in_flight += 1;
        Ok(BudgetTicket {
            budget: Arc::clone(self),
            settled: AtomicBool::new(false),
        })
    }

    /// The current numbers.
    #[must_use]
    pub fn snapshot(&self) -> BudgetSnapshot {
        let g = self.lock();
        BudgetSnapshot {
            used: Self::used_of(&g),
            in_flight: g.in_flight,
            limit: self.config.limit,
            threshold: self.threshold(),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

/// One reserved send. Settle it with the outcome; dropping it unsettled releases the
/// slot as a valid request (no response was seen).
#[derive(Debug)]
pub struct BudgetTicket {
    budget: Arc<InvalidRequestBudget>,
    settled: AtomicBool,
}

impl BudgetTicket {
    /// Settles the send: `invalid` for a 401, 403 or 429.
    pub fn settle(&self, invalid: bool) {
        if self.settled.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut g = self.budget.lock();
        g.in_flight = g.in_flight.saturating_sub(1);
        if invalid {
            g.events.push_back(Instant::now());
        }
    }

    /// A hidden 429 happened and the client wants to retry: records the 429 and says
    /// whether the retry may go out (the slot stays reserved for it).
    #[must_use]
    pub fn retry_after_429(&self) -> bool {
        let mut g = self.budget.lock();
        g.events.push_back(Instant::now());
        let ok = InvalidRequestBudget::used_of(&g).saturating_add(g.in_flight)
            <= self.budget.threshold();
        drop(g);
        if !ok {
            self.budget.refused.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }
}

impl Drop for BudgetTicket {
    fn drop(&mut self) {
        self.settle(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn refuses_before_the_limit_counting_in_flight_and_slides() {
        let b = Arc::new(InvalidRequestBudget::new(BudgetConfig {
            limit: 10,
            window: Duration::from_secs(60),
            margin: 2,
        }));
        for _ in 0..5 {
            b.reserve().expect("room").settle(true);
        }
        // 5 used; 3 in flight reach the threshold of 8.
        let held: Vec<_> = (0..3).map(|_| b.reserve().expect("room")).collect();
        assert!(b.reserve().is_err());
        drop(held);
        assert_eq!(b.snapshot().in_flight, 0);
        let t = b.reserve().expect("room");
        assert!(t.retry_after_429());
        assert!(t.retry_after_429());
        assert!(!t.retry_after_429(), "7 used + 1 in flight = 8");
        t.settle(true);
        assert_eq!(b.snapshot().used, 9);
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(b.snapshot().used, 0);
        assert!(b.reserve().is_ok());
        assert!(b.snapshot().refused >= 2);
    }
}
