//! The global per-token gate: at most `limit` sends in any `window` (a sliding log).
//!
//! Discord counts its global limit in windows we cannot see, and a request's arrival
//! lags its send by a varying latency. A sliding window a little longer than Discord's
//! (`window + margin`) keeps every one of Discord's windows under the limit, wherever
//! it starts.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The gate.
#[derive(Debug)]
pub(crate) struct GlobalGate {
    limit: usize,
    window: Duration,
    log: Mutex<VecDeque<Instant>>,
}

impl GlobalGate {
    /// `limit` sends per `window`.
    pub(crate) fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: (limit as usize).max(1),
            window,
            log: Mutex::default(),
        }
    }

    /// Waits until a send is allowed, and counts it.
    pub(crate) async fn acquire(&self) {
        loop {
            let wake = {
                let mut log = self
                    .log
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let now = Instant::now();
                while log
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    log.pop_front();
                }
                if log.len() < self.limit {
                    log.push_back(now);
                    return;
                }
                log.front().map_or(now, |t| *t + self.window)
            };
            tokio::time::sleep_until(wake).await;
        }
    }

    /// Sends counted in the current window.
    pub(crate) fn used(&self) -> usize {
        let log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        log.iter()
            .filter(|t| now.duration_since(**t) < self.window)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn at_most_limit_per_window() {
        let g = GlobalGate::new(3, Duration::from_secs(1));
        let t0 = Instant::now();
        for _ in 0..3 {
            g.acquire().await;
        }
        assert_eq!(Instant::now(), t0);
        g.acquire().await;
        assert_eq!(Instant::now(), t0 + Duration::from_secs(1));
        assert_eq!(g.used(), 1);
    }
}
