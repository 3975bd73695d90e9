//! REST rate limiting as Discord documents it: per-route buckets keyed by the major
//! parameter (channel, guild, webhook/interaction), a global per-token limit, and the
//! invalid-request counter that bans a client IP.
//!
//! Windows are fixed and start with their first request, like Discord's buckets: a
//! bucket of `limit` per `window` answers `X-RateLimit-Remaining` counting down and
//! `X-RateLimit-Reset-After` until the window's end, then starts afresh.
//!
//! **Bans.** Once a client IP has made `invalid_threshold` invalid requests (401, 403,
//! and 429 other than `X-RateLimit-Scope: shared`) within `invalid_window`, every
//! further request from it — any route, any token — is refused for `ban_duration`
//! with a Cloudflare-style `429` that carries `Retry-After` and a JSON body
//! (`{"message", "retry_after", "global": true, "code": 0}`) but **no `X-RateLimit-*`
//! headers**, which is how Discord's docs tell a ban apart from an API rate limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::config::{RateLimitConfig, RouteLimit};

/// Who a 429 applies to (`X-RateLimit-Scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// A per-route, per-token bucket.
    User,
    /// The global per-token limit.
    Global,
    /// A per-resource bucket shared by every token.
    Shared,
}

impl Scope {
    /// The header value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Global => "global",
            Self::Shared => "shared",
        }
    }
}

/// A bucket's state after a request, for the `X-RateLimit-*` headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BucketState {
    pub(crate) limit: u32,
    pub(crate) remaining: u32,
    pub(crate) reset_after: Duration,
    /// When the window ends, in Unix milliseconds: the same for every response of
    /// one window (`X-RateLimit-Reset`), as Discord sends it.
    pub(crate) reset_at_ms: u64,
    pub(crate) bucket: String,
    pub(crate) shared: bool,
}

/// The decision on one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Go ahead; the bucket (if the route has one) after counting this request.
    Allowed(Option<BucketState>),
    /// 429.
    Limited {
        scope: Scope,
        retry_after: Duration,
        bucket: Option<BucketState>,
    },
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    /// `start` on the wall clock (Unix milliseconds).
    start_ms: u64,
    count: u32,
}

impl Window {
    /// The window in force at `now` (a fresh one if the old has ended).
    fn current(slot: &mut Option<Self>, now: Instant, len: Duration) -> &mut Self {
        let fresh = slot.is_none_or(|w| now.duration_since(w.start) >= len);
        if fresh {
            *slot = None;
        }
        slot.get_or_insert_with(|| Self {
            start: now,
            start_ms: crate::model::now_ms(),
            count: 0,
        })
    }

    /// When the window ends, in Unix milliseconds.
    fn reset_at_ms(&self, len: Duration) -> u64 {
        self.start_ms
            .saturating_add(u64::try_from(len.as_millis()).unwrap_or(u64::MAX))
    }

    fn reset_after(&self, now: Instant, len: Duration) -> Duration {
        (self.start + len).saturating_duration_since(now)
    }
}

#[derive(Debug, Default)]
struct InvalidState {
    window: Option<Window>,
    banned_until: Option<Instant>,
}

/// Key of one bucket: identity (tenant, or `None` when shared/path-authorised),
/// route bucket hash and major parameter.
type BucketKey = (Option<usize>, String, String);

/// The rate limiter of one emulator.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    cfg: RateLimitConfig,
    buckets: Mutex<HashMap<BucketKey, Option<Window>>>,
    global: Mutex<HashMap<usize, Option<Window>>>,
    invalid: Mutex<HashMap<IpAddr, InvalidState>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A stable 16-hex-digit bucket id for a route (FNV-1a), like Discord's opaque hashes.
pub(crate) fn bucket_hash(route: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in route.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl RateLimiter {
    /// A limiter with these settings.
    pub(crate) fn new(cfg: RateLimitConfig) -> Self {
        Self {
            cfg,
            buckets: Mutex::default(),
            global: Mutex::default(),
            invalid: Mutex::default(),
        }
    }

    /// The settings.
    pub(crate) fn config(&self) -> &RateLimitConfig {
        &self.cfg
    }

    fn route_limit(&self, route: &str) -> RouteLimit {
        self.cfg
            .overrides
            .get(route)
            .copied()
            .unwrap_or(self.cfg.route)
    }

    /// Counts a request to `route` (`"METHOD /template"`) with major parameter
    /// `major` by `tenant` (`None`: authorised by the path). `global`: subject to the
    /// global per-token limit.
    pub(crate) fn check(
        &self,
        route: &str,
        major: &str,
        tenant: Option<usize>,
        global: bool,
        now: Instant,
    ) -> Verdict {
        let rl = self.route_limit(route);
        let hash = bucket_hash(route);
        let identity = if rl.shared { None } else { tenant };
        let mut buckets = lock(&self.buckets);
        let slot = buckets
            .entry((identity, hash.clone(), major.to_owned()))
            .or_default();
        let w = Window::current(slot, now, rl.window);
        let reset_after = w.reset_after(now, rl.window);
        let reset_at_ms = w.reset_at_ms(rl.window);
        let state = |count: u32| BucketState {
            limit: rl.limit,
            remaining: rl.limit.saturating_sub(count),
            reset_after,
            reset_at_ms,
            bucket: hash.clone(),
            shared: rl.shared,
        };
        if w.count >= rl.limit {
            return Verdict::Limited {
                scope: if rl.shared {
                    Scope::Shared
                } else {
                    Scope::User
                },
                retry_after: reset_after,
                bucket: Some(state(w.count)),
            };
        }
        if let (true, Some(t)) = (global, tenant) {
            let mut globals = lock(&self.global);
            let g = Window::current(globals.entry(t).or_default(), now, self.cfg.global_window);
            if g.count >= self.cfg.global_limit {
                return Verdict::Limited {
                    scope: Scope::Global,
                    retry_after: g.reset_after(now, self.cfg.global_window),
                    bucket: None,
                };
            }
            g.count += 1;
        }
        w.count += 1;
        let count = w.count;
        Verdict::Allowed(Some(state(count)))
    }

    /// How long `ip` stays banned, if it is.
    pub(crate) fn banned(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let mut invalid = lock(&self.invalid);
        let st = invalid.get_mut(&ip)?;
        match st.banned_until {
            Some(until) if until > now => Some(until - now),
            Some(_) => {
                st.banned_until = None;
                None
            }
            None => None,
        }
    }

    /// Counts an invalid request from `ip`; `true` if it starts a ban.
    pub(crate) fn record_invalid(&self, ip: IpAddr, now: Instant) -> bool {
        let mut invalid = lock(&self.invalid);
        let st = invalid.entry(ip).or_default();
        let w = Window::current(&mut st.window, now, self.cfg.invalid_window);
        w.count += 1;
        if w.count >= self.cfg.invalid_threshold {
            st.window = None;
            st.banned_until = Some(now + self.cfg.ban_duration);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> RateLimiter {
        RateLimiter::new(RateLimitConfig {
            route: RouteLimit {
                limit: 2,
                window: Duration::from_secs(1),
                shared: false,
            },
            global_limit: 3,
            invalid_threshold: 3,
            ..RateLimitConfig::default()
        })
    }

    #[test]
    fn bucket_counts_down_then_limits_then_resets() {
        let l = limiter();
        let t0 = Instant::now();
        let r = "POST /channels/{channel_id}/messages";
        let Verdict::Allowed(Some(b)) = l.check(r, "1", Some(0), true, t0) else {
            panic!("first request limited");
        };
        assert_eq!((b.limit, b.remaining), (2, 1));
        assert!(matches!(
            l.check(r, "1", Some(0), true, t0),
            Verdict::Allowed(_)
        ));
        let half = t0 + Duration::from_millis(400);
        match l.check(r, "1", Some(0), true, half) {
            Verdict::Limited {
                scope: Scope::User,
                retry_after,
                ..
            } => assert_eq!(retry_after, Duration::from_millis(600)),
            v => panic!("expected a user 429, got {v:?}"),
        }
        // Another channel is another bucket; another tenant too.
        assert!(matches!(
            l.check(r, "2", Some(0), true, half),
            Verdict::Allowed(_)
        ));
        assert!(matches!(
            l.check(r, "1", Some(1), true, half),
            Verdict::Allowed(_)
        ));
        // The global limit (3 per second) is now exhausted for tenant 0.
        assert!(matches!(
            l.check(r, "3", Some(0), true, half),
            Verdict::Limited {
                scope: Scope::Global,
                ..
            }
        ));
        let later = t0 + Duration::from_secs(1);
        assert!(matches!(
            l.check(r, "1", Some(0), true, later),
            Verdict::Allowed(_)
        ));
    }

    #[test]
    fn ban_at_threshold_then_lifts() {
        let l = limiter();
        let ip: IpAddr = [127, 0, 0, 1].into();
        let t0 = Instant::now();
        assert!(!l.record_invalid(ip, t0));
        assert!(!l.record_invalid(ip, t0));
        assert!(l.banned(ip, t0).is_none());
        assert!(l.record_invalid(ip, t0));
        assert!(l.banned(ip, t0).is_some());
        assert!(l.banned(ip, t0 + Duration::from_secs(3601)).is_none());
    }

    #[test]
    fn bucket_hash_is_stable_and_distinct() {
        assert_eq!(bucket_hash("a"), bucket_hash("a"));
        assert_ne!(bucket_hash("a"), bucket_hash("b"));
        assert_eq!(bucket_hash("a").len(), 16);
    }
}
