//! OTP-style restart budgets: at most `max_restarts` in `period`, with exponential
//! backoff between restarts; past the budget the supervisor gives up on the child.

use std::collections::VecDeque;
use std::time::Duration;

use ractor::{ActorCell, SupervisionEvent};
use tokio::time::Instant;

/// A child's exit as its supervisor sees it: the child, and why (`stopped` when it
/// gave no reason). `None` for supervision events that are not exits.
pub(crate) fn child_exit(event: SupervisionEvent) -> Option<(ActorCell, String)> {
    match event {
        SupervisionEvent::ActorFailed(cell, err) => Some((cell, err.to_string())),
        SupervisionEvent::ActorTerminated(cell, _, reason) => {
            Some((cell, reason.unwrap_or_else(|| "stopped".to_owned())))
        }
        _ => None,
    }
}

/// How a supervisor restarts a failed child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Restarts allowed within `period`.
    pub max_restarts: u32,
    /// The sliding window restarts are counted in.
    pub period: Duration,
    /// Delay before the first restart in a window; doubles with each further one.
    pub backoff_base: Duration,
    /// Longest delay.
    pub backoff_max: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            max_restarts: 5,
            period: Duration::from_secs(60),
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
        }
    }
}

/// Restarts made recently, against a [`RestartPolicy`].
#[derive(Debug, Clone)]
pub struct RestartBudget {
    policy: RestartPolicy,
    recent: VecDeque<Instant>,
    total: u64,
}

impl RestartBudget {
    /// A fresh budget.
    #[must_use]
    pub fn new(policy: RestartPolicy) -> Self {
        Self {
            policy,
            recent: VecDeque::new(),
            total: 0,
        }
    }

    /// Records a failure: `Some(delay)` to restart after, or `None` when the budget is
    /// spent and the child should be given up on.
    pub fn on_failure(&mut self) -> Option<Duration> {
        let now = Instant::now();
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.policy.period)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= self.policy.max_restarts as usize {
            return None;
        }
        let n = self.recent.len() as u32;
        self.recent.push_back(now);
        self.total += 1;
        let delay = self
            .policy
            .backoff_base
            .saturating_mul(1u32 << n.min(16))
            .min(self.policy.backoff_max);
        Some(delay)
    }

    /// Restarts made since this budget was created.
    #[cfg(test)]
    #[must_use]
    pub fn total(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn budget_backs_off_then_gives_up_then_recovers() {
        let mut b = RestartBudget::new(RestartPolicy {
            max_restarts: 3,
            period: Duration::from_secs(10),
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(250),
        });
        assert_eq!(b.on_failure(), Some(Duration::from_millis(100)));
        assert_eq!(b.on_failure(), Some(Duration::from_millis(200)));
        assert_eq!(b.on_failure(), Some(Duration::from_millis(250)));
        assert_eq!(b.on_failure(), None, "fourth failure within the period");
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(
            b.on_failure(),
            Some(Duration::from_millis(100)),
            "window slid"
        );
        assert_eq!(b.total(), 4);
    }
}
