//! Retry timing: exponential backoff with jitter.

use std::time::Duration;

/// The delay before retry number `attempt` (1 for the first retry): `base · 2^(attempt-1)`
/// capped at `max`, then scaled by a random factor in `[0.5, 1.0]` so that envelopes
/// failing together do not retry together.
#[must_use]
pub fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let capped = exp.min(max);
    let jitter: f64 = rand::random_range(0.5..=1.0);
    capped.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps_with_jitter() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        for _ in 0..100 {
            let d1 = backoff(1, base, max);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d3 = backoff(3, base, max);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            let d30 = backoff(30, base, max);
            assert!(d30 >= Duration::from_secs(1) && d30 <= max);
        }
    }
}
