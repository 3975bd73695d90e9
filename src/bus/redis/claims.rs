//! When the fetchers look for entries another consumer left idle (`XAUTOCLAIM`, per
//! tenant stream). Periodically by default (every half `claim_idle`); in a cluster,
//! **on demand**: a sweep runs `claim_idle` after a node left the cluster view (its
//! entries are then idle long enough), plus a slow safety sweep — an idle tenant
//! costs no claim at all.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::model::now_ms;

/// The claim schedule shared by the inbox and request fetchers.
#[derive(Debug, Default)]
pub(crate) struct ClaimSchedule {
    on_demand: AtomicBool,
    /// On demand: the slow safety sweep's period, ms.
    safety_ms: AtomicU64,
    /// On demand: the next sweep asked for, Unix ms (0: none).
    trigger_ms: AtomicU64,
}

impl ClaimSchedule {
    /// Switches to on-demand sweeps, with a safety sweep every `safety`.
    pub(crate) fn on_demand(&self, safety: Duration) {
        self.safety_ms
            .store(safety.as_millis() as u64, Ordering::Relaxed);
        self.on_demand.store(true, Ordering::Relaxed);
    }

    /// Asks for a sweep once entries left now have been idle for `claim_idle`.
    pub(crate) fn sweep_after(&self, claim_idle: Duration) {
        // XAUTOCLAIM's minimum idle time filters what is too fresh anyway; sweeping
        // any earlier would only find nothing.
        let at = now_ms() + claim_idle.as_millis() as u64;
        // Keep the earliest request still ahead; one in the past has run (or runs
        // now: `due` compares it with each fetcher's last sweep).
        let _ = self
            .trigger_ms
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                (cur == 0 || cur < now_ms() || at < cur).then_some(at)
            });
    }

    /// Whether a fetcher whose last sweep was at `last_ms` (Unix ms) should sweep now.
    pub(crate) fn due(&self, last_ms: u64, claim_idle: Duration) -> bool {
        let now = now_ms();
        if !self.on_demand.load(Ordering::Relaxed) {
            return now.saturating_sub(last_ms) >= claim_idle.as_millis() as u64 / 2;
        }
        let trigger = self.trigger_ms.load(Ordering::Acquire);
        (trigger != 0 && trigger > last_ms && now >= trigger)
            || now.saturating_sub(last_ms) >= self.safety_ms.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periodic_by_default_on_demand_when_asked() {
        let s = ClaimSchedule::default();
        let idle = Duration::from_secs(1);
        let now = now_ms();
        assert!(s.due(now - 600, idle), "half the claim time passed");
        assert!(!s.due(now - 100, idle));
        s.on_demand(Duration::from_secs(300));
        assert!(!s.due(now - 600, idle), "no sweep without a reason");
        s.sweep_after(Duration::ZERO);
        assert!(s.due(now - 600, idle), "a node left: sweep");
        assert!(!s.due(now_ms(), idle), "already swept after the trigger");
        assert!(s.due(now - 301_000, idle), "the safety sweep");
    }
}
