//! [`RestConfig`]: how a REST actor sends.

use std::time::Duration;

/// How a tenant's REST actor behaves. `Default` follows Discord's documented limits.
#[derive(Debug, Clone)]
pub struct RestConfig {
    /// Commands handled at once (backpressure on the tenant's request queue).
    pub max_in_flight: usize,
    /// `FetchHistory` pages fetched at once (backfill cap).
    pub backfill_concurrency: usize,
    /// `FetchHistory` commands taken off the bus and waiting for the backfill cap.
    pub backfill_queue: usize,
    /// Global requests per token per `global_window` (Discord: 50 per second).
    pub global_limit: u32,
    /// The global window.
    pub global_window: Duration,
    /// Widens the global window to absorb latency jitter (see `global.rs`).
    pub global_margin: Duration,
    /// One attempt's timeout (twilight's own timeout and the outer one).
    pub attempt_timeout: Duration,
    /// A whole command's deadline: gates, retries and backoff included.
    pub command_timeout: Duration,
    /// Retries of 5xx, timeouts and transport errors.
    pub max_retries: u32,
    /// First retry delay; doubles per retry, with jitter.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// 429s twilight may retry (invisibly) before the command fails `RateLimited`.
    pub max_rate_limit_retries: u32,
    /// Consecutive failures that open the circuit breaker.
    pub breaker_threshold: u32,
    /// How long the circuit stays open before a trial request.
    pub breaker_cooldown: Duration,
    /// On a normal stop, how long in-flight commands may finish.
    pub drain_timeout: Duration,
    /// TTL of the token lease (the vault's default if `None`).
    pub lease_ttl: Option<Duration>,
}

impl Default for RestConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 128,
            backfill_concurrency: 2,
            backfill_queue: 64,
            global_limit: 50,
            global_window: Duration::from_secs(1),
            global_margin: Duration::from_millis(50),
            attempt_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(30),
            max_retries: 3,
            retry_base: Duration::from_millis(200),
            retry_max: Duration::from_secs(5),
            max_rate_limit_retries: 3,
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(5),
            lease_ttl: None,
        }
    }
}
