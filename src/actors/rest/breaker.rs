//! The per-tenant circuit breaker.
//!
//! After `threshold` consecutive failures (5xx, timeouts, transport errors) the
//! circuit opens: commands are answered `CircuitOpen` at once instead of queueing
//! behind a failing provider. After `cooldown` it half-opens and lets one trial
//! request through; its success closes the circuit, its failure opens it again.

use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// The breaker's state, as health reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    /// Requests flow.
    Closed,
    /// Requests are refused.
    Open,
    /// One trial request is allowed.
    HalfOpen,
}

#[derive(Debug)]
struct Inner {
    failures: u32,
    opened: Option<Instant>,
    trial: bool,
    opens: u64,
}

/// What the breaker says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Go.
    Yes,
    /// Refused; retry after this long.
    No(Duration),
}

/// The breaker.
#[derive(Debug)]
pub(crate) struct Breaker {
    threshold: u32,
    cooldown: Duration,
    inner: Mutex<Inner>,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            inner: Mutex::new(Inner {
                failures: 0,
                opened: None,
                trial: false,
                opens: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a request may go out now.
    pub(crate) fn admit(&self) -> Admit {
        let mut g = self.lock();
        let Some(opened) = g.opened else {
            return Admit::Yes;
        };
        let ready = opened + self.cooldown;
        let now = Instant::now();
        if now < ready {
            return Admit::No(ready - now);
        }
        if g.trial {
            // A trial is in flight: wait for its verdict.
            return Admit::No(self.cooldown.min(Duration::from_secs(1)));
        }
        g.trial = true;
        Admit::Yes
    }

    /// A request reached the provider and was not a provider failure.
    pub(crate) fn success(&self) {
        let mut g = self.lock();
        g.failures = 0;
        g.opened = None;
        g.trial = false;
    }

    /// A request failed (5xx, timeout, transport).
    pub(crate) fn failure(&self) {
        let mut g = self.lock();
        g.failures = g.failures.saturating_add(1);
        let reopen = g.trial;
        if reopen || (g.opened.is_none() && g.failures >= self.threshold) {
            if g.opened.is_none() || reopen {
                g.opens += 1;
            }
            g.opened = Some(Instant::now());
            g.trial = false;
        }
    }

    /// A request that was admitted ended without a verdict (cancelled).
    pub(crate) fn abandon(&self) {
        self.lock().trial = false;
    }

    /// The state now, and how often it opened.
    pub(crate) fn state(&self) -> (CircuitState, u64) {
        let g = self.lock();
        let s = match g.opened {
            None => CircuitState::Closed,
            Some(o) if Instant::now() < o + self.cooldown => CircuitState::Open,
            Some(_) => CircuitState::HalfOpen,
        };
        (s, g.opens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_half_opens_and_closes() {
        let b = Breaker::new(3, Duration::from_secs(10));
        for _ in 0..2 {
            assert_eq!(b.admit(), Admit::Yes);
            b.failure();
        }
        assert_eq!(b.state().0, CircuitState::Closed);
        b.failure();
        assert_eq!(b.state(), (CircuitState::Open, 1));
        assert!(matches!(b.admit(), Admit::No(_)));
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(b.state().0, CircuitState::HalfOpen);
        assert_eq!(b.admit(), Admit::Yes);
        assert!(matches!(b.admit(), Admit::No(_)), "one trial at a time");
        b.failure();
        assert_eq!(b.state(), (CircuitState::Open, 2));
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(b.admit(), Admit::Yes);
        b.success();
        assert_eq!(b.state().0, CircuitState::Closed);
        assert_eq!(b.admit(), Admit::Yes);
    }
}
