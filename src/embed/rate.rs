//! A token bucket per tenant: each tenant gets `rate` requests per second, with
//! bursts of up to `burst`, independently of every other tenant.
//!
//! A caller *reserves* a token and then waits out its debt: the bucket may go
//! negative, so concurrent callers of one tenant queue up at the rate instead of
//! polling. Time is tokio's clock (`tokio::time::Instant`), so paused-time tests
//! control it. One entry per tenant ever seen (bounded by the registry).

use std::sync::Mutex;
use std::time::Duration;

use dashmap::DashMap;
use tokio::time::Instant;

use crate::model::TenantId;

#[derive(Debug)]
struct Bucket {
    /// Tokens available now; negative when callers are waiting.
    tokens: f64,
    last: Instant,
}

/// Per-tenant token buckets.
///
/// ```
/// use std::time::Duration;
/// use switchboard::TenantId;
/// use switchboard::embed::TenantRateLimiter;
///
/// let limiter = TenantRateLimiter::new(2, 1);
/// let duck = TenantId::parse("discord", "duck").expect("valid");
/// let goose = TenantId::parse("discord", "goose").expect("valid");
/// assert_eq!(limiter.reserve(&duck), Duration::ZERO);
/// assert!(limiter.reserve(&duck) > Duration::ZERO, "duck waits");
/// assert_eq!(limiter.reserve(&goose), Duration::ZERO, "goose does not");
/// ```
#[derive(Debug)]
pub struct TenantRateLimiter {
    rate: f64,
    burst: f64,
    buckets: DashMap<TenantId, Mutex<Bucket>>,
}

impl TenantRateLimiter {
    /// `rate` tokens per second per tenant, at most `burst` saved (both at least 1:
    /// zero is taken as 1).
    #[must_use]
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(rate_per_sec.max(1)),
            burst: f64::from(burst.max(1)),
            buckets: DashMap::new(),
        }
    }

    /// Takes one of `tenant`'s tokens and returns how long the caller must wait
    /// before using it (zero when one was available).
    #[must_use]
    pub fn reserve(&self, tenant: &TenantId) -> Duration {
        let now = Instant::now();
        // A read lock on the shard for a tenant already seen (no key clone).
        if let Some(bucket) = self.buckets.get(tenant) {
            return self.take(&bucket, now);
        }
        let bucket = self.buckets.entry(tenant.clone()).or_insert_with(|| {
            Mutex::new(Bucket {
                tokens: self.burst,
                last: now,
            })
        });
        self.take(&bucket, now)
    }

    /// Refills `bucket` up to `now`, takes a token and returns the wait.
    fn take(&self, bucket: &Mutex<Bucket>, now: Instant) -> Duration {
        let mut b = bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let refill = now.saturating_duration_since(b.last).as_secs_f64() * self.rate;
        b.tokens = (b.tokens + refill).min(self.burst);
        b.last = now;
        b.tokens -= 1.0;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / self.rate)
        }
    }

    /// Waits for one of `tenant`'s tokens.
    pub async fn acquire(&self, tenant: &TenantId) {
        let wait = self.reserve(tenant);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}
