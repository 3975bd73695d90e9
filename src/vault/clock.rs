//! The vault's clock: wall-clock milliseconds that advance with tokio's clock.
//!
//! Lease expiries are stored as Unix milliseconds (they are shared through Redis),
//! but tests run with paused tokio time. The clock reads the wall clock once and then
//! adds tokio's monotonic elapsed time, so it never goes backwards within a process
//! and follows `tokio::time::advance` in tests.

use tokio::time::Instant;

/// Milliseconds since the Unix epoch, monotonic within the process.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    base: Instant,
    base_ms: u64,
}

impl Clock {
    pub(crate) fn new() -> Self {
        let base_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Self {
            base: Instant::now(),
            base_ms,
        }
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.base_ms + self.base.elapsed().as_millis() as u64
    }

    /// The tokio instant at which the clock reads `ms` (for sleeping until then).
    pub(crate) fn instant_at(&self, ms: u64) -> Instant {
        self.base + std::time::Duration::from_millis(ms.saturating_sub(self.base_ms))
    }
}
