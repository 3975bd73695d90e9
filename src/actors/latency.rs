//! Handler latency for status output: an HDR histogram (three significant digits, 1 µs
//! to one hour), so the p99 `switchboardctl status` prints is the real figure to
//! within 0.1 %, not the edge of a power-of-two bucket. Prometheus gets its own
//! bucketed histogram (`switchboard_handler_seconds`), which aggregates across nodes.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;

/// The longest duration kept exactly; longer ones count as this.
const MAX_US: u64 = 3_600_000_000;

/// Records durations; reads quantiles.
#[derive(Debug)]
pub struct LatencyHistogram {
    // One short critical section per handler run; workers rarely contend on it.
    inner: Mutex<Histogram<u64>>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        let histogram = Histogram::new_with_bounds(1, MAX_US, 3)
            .or_else(|_| Histogram::new(3))
            .unwrap_or_else(|_| unreachable!("3 significant figures is a valid precision"));
        Self {
            inner: Mutex::new(histogram),
        }
    }
}

impl LatencyHistogram {
    /// Records one duration.
    pub fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros())
            .unwrap_or(MAX_US)
            .clamp(1, MAX_US);
        // `saturating_record` cannot fail: the value is within the bounds.
        self.lock().saturating_record(us);
    }

    /// How many durations were recorded.
    #[cfg(test)]
    #[must_use]
    pub fn count(&self) -> u64 {
        self.lock().len()
    }

    /// The duration at quantile `q` (0.0–1.0), or `None` if nothing was recorded.
    #[must_use]
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let h = self.lock();
        (!h.is_empty()).then(|| Duration::from_micros(h.value_at_quantile(q.clamp(0.0, 1.0))))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Histogram<u64>> {
        // A panic while holding the lock leaves a histogram that is still valid.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_the_recorded_values() {
        let h = LatencyHistogram::default();
        assert_eq!(h.quantile(0.99), None);
        for _ in 0..98 {
            h.record(Duration::from_micros(100));
        }
        h.record(Duration::from_micros(1_234));
        h.record(Duration::from_millis(50));
        assert_eq!(h.count(), 100);
        assert_eq!(h.quantile(0.5), Some(Duration::from_micros(100)));
        // The 99th of 100 values is 1,234 µs, to three significant digits.
        let p99 = h.quantile(0.99).unwrap().as_micros();
        assert!((1_233..=1_235).contains(&p99), "{p99}");
        let max = h.quantile(1.0).unwrap().as_micros();
        assert!((49_950..=50_050).contains(&max), "{max}");
    }
}
