//! The scheduler's wall clock: slots are wall-clock times (a cron pattern names
//! them), but waiting is done with tokio's timers, so tests can run schedules on
//! paused time.

use std::time::Duration;

/// Longest single wait: the system clock is read again at least this often, so a
/// clock step (NTP, a suspended VM) delays a slot by at most this much.
const MAX_NAP: Duration = Duration::from_secs(30);

/// Where "now" comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WallClock {
    /// The system clock (production).
    System,
    /// Wall time that advances with tokio's clock from `base_ms` at `base`: under
    /// `tokio::time::pause` schedules run in virtual time.
    #[cfg_attr(not(test), allow(dead_code))]
    Tokio {
        base_ms: i64,
        base: tokio::time::Instant,
    },
}

impl WallClock {
    /// Now, Unix milliseconds.
    pub(crate) fn now_ms(&self) -> i64 {
        match self {
            Self::System => crate::model::now_ms().cast_signed(),
            Self::Tokio { base_ms, base } => base_ms + base.elapsed().as_millis() as i64,
        }
    }

    /// Waits until the clock reads at least `ms`.
    pub(crate) async fn sleep_until(&self, ms: i64) {
        loop {
            let left = ms - self.now_ms();
            if left <= 0 {
                return;
            }
            let nap = Duration::from_millis(left as u64).min(MAX_NAP);
            tokio::time::sleep(nap).await;
        }
    }
}
