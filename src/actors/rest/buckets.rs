//! The REST actor's own bucket gate, learned from the `X-RateLimit-*` headers of every
//! successful response whether or not Discord sends `X-RateLimit-Scope`.
//!
//! Routes map to bucket ids (`X-RateLimit-Bucket`); a bucket's state is kept per major
//! parameter. A send *reserves* one of the bucket's remaining requests before it goes
//! out and waits when none is left, until the window's end. Rules that keep it at zero
//! 429s:
//!
//! - **Unknown state probes.** A route (or a new major parameter) whose bucket is not
//!   known yet lets one request through at a time until a response names the bucket.
//! - **Deadlines are upper bounds.** A window ends at `receipt + Reset-After` at the
//!   latest (the server computed `Reset-After` before we received it); several
//!   responses of one window keep the earliest such bound.
//! - **Windows are told apart by `X-RateLimit-Reset`** (an absolute time, equal for
//!   every response of a window), not by when responses happen to arrive.
//! - **A new window starts with what is in flight already spent**: at a local rollover
//!   `remaining = limit - in_flight`, since requests sent before the rollover may land
//!   in the new window; responses from the old window are then ignored.
//! - Responses without headers (twilight hides the headers of error responses) still
//!   settle their reservation; a bucket left exhausted with no deadline waits one
//!   window length.
//! - **A hand-over keeps the windows.** The gate outlives its actor
//!   ([`BucketMemory`](super::memory::BucketMemory)): a clean stop hands its exact
//!   state to the next holder ([`BucketGate::hand_over`], [`BucketGate::seeded`]);
//!   after a holder died, the next one starts every bucket of the saved layout
//!   spent for one window, as the dead holder may have spent it.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::model::now_ms;
use crate::providers::discord::rest::RateLimitHeaders;

/// Two `X-RateLimit-Reset` values this close (seconds) name the same window.
const SAME_WINDOW: f64 = 0.010;

/// After an unclean hand-over a known bucket waits its window plus a tenth of it,
/// and at least this much (the window is learned from `Reset-After`, which is a
/// little shorter than the window by the time it arrives).
const CAUTION_MARGIN: Duration = Duration::from_millis(250);

/// One bucket as health reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BucketInfo {
    /// Discord's bucket id.
    pub id: String,
    /// The major parameter (channel, guild or interaction id).
    pub major: String,
    /// Requests per window.
    pub limit: u32,
    /// Requests left in the current window (as far as this gate knows).
    pub remaining: u32,
    /// Milliseconds until the window ends, when known.
    pub reset_after_ms: Option<u64>,
}

#[derive(Debug, Clone)]
enum RouteBucket {
    Known(String),
    Unlimited,
}

#[derive(Debug)]
struct Bucket {
    probing: bool,
    limit: u32,
    remaining: u32,
    in_flight: u32,
    /// `X-RateLimit-Reset` of the current window.
    window: Option<f64>,
    /// The window was rolled over locally: `window` names the previous one.
    stale: bool,
    /// Our upper bound on the current window's end.
    deadline: Option<Instant>,
    /// The longest `Reset-After` seen: a window's length at most.
    window_len: Duration,
}

impl Bucket {
    fn probe() -> Self {
        Self {
            probing: true,
            limit: 1,
            remaining: 0,
            in_flight: 0,
            window: None,
            stale: false,
            deadline: None,
            window_len: Duration::from_secs(1),
        }
    }

    /// A bucket whose window is spent until `until` (then `limit` per window).
    fn spent_until(limit: u32, until: Instant, window_len: Duration) -> Self {
        Self {
            probing: false,
            limit,
            remaining: 0,
            in_flight: 0,
            window: None,
            stale: true,
            deadline: Some(until),
            window_len,
        }
    }

    fn try_reserve(&mut self, now: Instant) -> Result<(), Option<Instant>> {
        if self.probing {
            return if self.in_flight == 0 {
                self.in_flight += 1;
                Ok(())
            } else {
                Err(None)
            };
        }
        if self.deadline.is_some_and(|d| now >= d) {
            self.remaining = self.limit.saturating_sub(self.in_flight);
            self.deadline = None;
            self.stale = true;
        }
        if self.remaining > 0 {
            self.remaining -= 1;
            self.in_flight += 1;
            Ok(())
        } else {
            Err(self.deadline)
        }
    }

    fn learn(&mut self, h: &RateLimitHeaders, limit: u32, remaining: u32, now: Instant) {
        let after = Duration::from_secs_f64(h.reset_after.unwrap_or(0.0).max(0.0));
        let deadline = now + after;
        self.window_len = self.window_len.max(after);
        if self.probing {
            self.probing = false;
            self.limit = limit;
            self.remaining = remaining.saturating_sub(self.in_flight);
            self.window = h.reset;
            self.stale = false;
            self.deadline = Some(deadline);
            return;
        }
        let newer = match (self.window, h.reset) {
            (Some(w), Some(r)) => r > w + SAME_WINDOW,
            // Without `X-RateLimit-Reset`, fall back to comparing deadlines.
            _ => self
                .deadline
                .is_none_or(|d| deadline > d + Duration::from_millis(20)),
        };
        let same = !newer
            && !self.stale
            && match (self.window, h.reset) {
                (Some(w), Some(r)) => (r - w).abs() <= SAME_WINDOW,
                _ => true,
            };
        self.limit = limit;
        if newer {
            self.remaining = remaining.saturating_sub(self.in_flight);
            self.window = h.reset;
            self.stale = false;
            self.deadline = Some(deadline);
        } else if same {
            self.remaining = self.remaining.min(remaining);
            self.deadline = Some(self.deadline.map_or(deadline, |d| d.min(deadline)));
        }
        // Else: a late response from a window already over; nothing to learn.
    }
}

#[derive(Debug, Default)]
struct Gates {
    routes: HashMap<String, RouteBucket>,
    buckets: HashMap<(String, String), Bucket>,
    /// Bucket id → its limit and longest window seen: what a layout records.
    limits: HashMap<String, (u32, Duration)>,
    /// After an unclean hand-over: bucket id → (limit, until when every major of
    /// it starts spent), since the previous holder's last requests are unknown.
    caution: HashMap<String, (u32, Instant)>,
    /// Something [`BucketGate::layout`] returns changed since it was last taken.
    layout_changed: bool,
}

/// The gate of one tenant.
#[derive(Debug, Default)]
pub(crate) struct BucketGate {
    gates: Mutex<Gates>,
    changed: Notify,
    /// Rung when the layout (routes, bucket limits, window lengths) changed.
    learned: Notify,
}

/// A reserved request. Complete it with the response's headers; dropping it
/// unsettled releases it as a response without headers.
#[derive(Debug)]
pub(crate) struct BucketPermit<'a> {
    gate: &'a BucketGate,
    route: &'static str,
    key: Option<(String, String)>,
    done: bool,
}

impl BucketGate {
    fn lock(&self) -> MutexGuard<'_, Gates> {
        self.gates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until `route` with major parameter `major` may send, and reserves it.
    pub(crate) async fn acquire(&self, route: &'static str, major: &str) -> BucketPermit<'_> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let wait = {
                let mut g = self.lock();
                let g = &mut *g;
                let key = match g.routes.get(route) {
                    Some(RouteBucket::Unlimited) => {
                        return BucketPermit {
                            gate: self,
                            route,
                            key: None,
                            done: false,
                        };
                    }
                    Some(RouteBucket::Known(b)) => (b.clone(), major.to_owned()),
                    None => (format!("?{route}"), major.to_owned()),
                };
                let now = Instant::now();
                let caution = g.caution.get(&key.0).filter(|(_, until)| *until > now);
                let window = g.limits.get(&key.0).map_or(Duration::from_secs(1), |l| l.1);
                let bucket = g.buckets.entry(key.clone()).or_insert_with(|| {
                    caution.map_or_else(Bucket::probe, |&(limit, until)| {
                        Bucket::spent_until(limit, until, window)
                    })
                });
                match bucket.try_reserve(now) {
                    Ok(()) => {
                        return BucketPermit {
                            gate: self,
                            route,
                            key: Some(key),
                            done: false,
                        };
                    }
                    Err(wait) => wait,
                }
            };
            match wait {
                Some(at) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = &mut changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }

    fn complete(
        &self,
        route: &'static str,
        key: Option<&(String, String)>,
        h: Option<&RateLimitHeaders>,
        ok: bool,
    ) {
        let now = Instant::now();
        let mut g = self.lock();
        if let Some(key) = key
            && let Some(b) = g.buckets.get_mut(key)
        {
            b.in_flight = b.in_flight.saturating_sub(1);
        }
        match h.filter(|h| h.is_complete()) {
            Some(h) => {
                let (Some(id), Some(limit), Some(remaining)) =
                    (h.bucket.clone(), h.limit, h.remaining)
                else {
                    return;
                };
                let major = key.map(|k| k.1.clone()).unwrap_or_default();
                if !matches!(g.routes.get(route), Some(RouteBucket::Known(b)) if *b == id) {
                    g.routes
                        .insert(route.to_owned(), RouteBucket::Known(id.clone()));
                    g.layout_changed = true;
                }
                // A probe's placeholder is replaced by the real bucket.
                let mut in_flight = 0;
                if let Some(k) = key.filter(|k| k.0.starts_with('?'))
                    && let Some(p) = g.buckets.remove(k)
                {
                    in_flight = p.in_flight;
                }
                let b = g
                    .buckets
                    .entry((id.clone(), major))
                    .or_insert_with(Bucket::probe);
                b.in_flight += in_flight;
                b.learn(h, limit, remaining, now);
                let seen = (b.limit, b.window_len);
                let known = g.limits.entry(id).or_insert((0, Duration::ZERO));
                if known.0 != seen.0 || seen.1 > known.1 {
                    *known = (seen.0, known.1.max(seen.1));
                    g.layout_changed = true;
                }
            }
            None => {
                if let Some(key) = key
                    && let Some(b) = g.buckets.get_mut(key)
                {
                    if ok && b.probing && key.0.starts_with('?') {
                        // A successful response without any rate-limit header: the
                        // route has no bucket.
                        g.routes.insert(route.to_owned(), RouteBucket::Unlimited);
                        g.buckets.remove(key);
                        g.layout_changed = true;
                    } else if !b.probing
                        && b.remaining == 0
                        && b.in_flight == 0
                        && b.deadline.is_none()
                    {
                        b.deadline = Some(now + b.window_len);
                    }
                }
            }
        }
        let learned = g.layout_changed;
        drop(g);
        self.changed.notify_waiters();
        if learned {
            self.learned.notify_one();
        }
    }

    /// Every known bucket.
    pub(crate) fn snapshot(&self) -> Vec<BucketInfo> {
        let now = Instant::now();
        let g = self.lock();
        let mut out: Vec<BucketInfo> = g
            .buckets
            .iter()
            .filter(|((id, _), b)| !id.starts_with('?') && !b.probing)
            .map(|((id, major), b)| {
                let over = b.deadline.is_none_or(|d| now >= d);
                BucketInfo {
                    id: id.clone(),
                    major: major.clone(),
                    limit: b.limit,
                    remaining: if over && b.deadline.is_some() {
                        b.limit.saturating_sub(b.in_flight)
                    } else {
                        b.remaining
                    },
                    reset_after_ms: b
                        .deadline
                        .filter(|d| *d > now)
                        .map(|d| (d - now).as_millis() as u64),
                }
            })
            .collect();
        out.sort_by(|a, b| (&a.id, &a.major).cmp(&(&b.id, &b.major)));
        out
    }

    /// Waits until the layout changed (a route's bucket, a bucket's limit or a
    /// longer window was learned): when to save it.
    pub(crate) async fn layout_learned(&self) {
        self.learned.notified().await;
    }

    /// The layout if it changed since the last call (clears the mark).
    pub(crate) fn take_layout(&self) -> Option<GateLayout> {
        let mut g = self.lock();
        if !g.layout_changed {
            return None;
        }
        g.layout_changed = false;
        Some(layout_of(&g))
    }

    /// The layout and the exact state of every bucket, for the next holder of the
    /// tenant. Exact only when nothing is in flight (after a drain).
    pub(crate) fn hand_over(&self) -> (GateLayout, GateState) {
        let (now, wall) = (Instant::now(), now_ms());
        let at_wall = |t: Instant| wall + t.saturating_duration_since(now).as_millis() as u64;
        let g = self.lock();
        let buckets = g
            .buckets
            .iter()
            .filter(|((id, _), b)| !id.starts_with('?') && !b.probing)
            .map(|((id, major), b)| SavedBucket {
                id: id.clone(),
                major: major.clone(),
                limit: b.limit,
                remaining: b.remaining,
                reset: b.window,
                until_ms: b.deadline.filter(|d| *d > now).map(at_wall),
            })
            .collect();
        let caution = g
            .caution
            .iter()
            .filter(|(_, (_, until))| *until > now)
            .map(|(id, (limit, until))| (id.clone(), *limit, at_wall(*until)))
            .collect();
        (layout_of(&g), GateState { buckets, caution })
    }

    /// A gate that starts from what a previous holder of the tenant left: with its
    /// exact `state` (a clean hand-over), buckets go on where they were; without it
    /// (the holder died), every bucket the layout names starts spent for one window
    /// plus a margin, since the dead holder's last requests may have spent it.
    pub(crate) fn seeded(layout: &GateLayout, state: Option<&GateState>) -> Self {
        let (now, wall) = (Instant::now(), now_ms());
        let at = |ms: u64| (ms > wall).then(|| now + Duration::from_millis(ms - wall));
        let mut g = Gates::default();
        for (route, bucket) in &layout.routes {
            let b = bucket
                .clone()
                .map_or(RouteBucket::Unlimited, RouteBucket::Known);
            g.routes.insert(route.clone(), b);
        }
        for (id, limit, window_ms) in &layout.limits {
            g.limits
                .insert(id.clone(), (*limit, Duration::from_millis(*window_ms)));
        }
        match state {
            Some(state) => {
                for s in &state.buckets {
                    let window_len = g.limits.get(&s.id).map_or(Duration::from_secs(1), |l| l.1);
                    let deadline = s.until_ms.and_then(at);
                    let bucket = Bucket {
                        probing: false,
                        limit: s.limit,
                        remaining: if deadline.is_some() {
                            s.remaining
                        } else {
                            s.limit
                        },
                        in_flight: 0,
                        window: s.reset,
                        stale: deadline.is_none(),
                        deadline,
                        window_len,
                    };
                    g.buckets.insert((s.id.clone(), s.major.clone()), bucket);
                }
                for (id, limit, until_ms) in &state.caution {
                    if let Some(until) = at(*until_ms) {
                        g.caution.insert(id.clone(), (*limit, until));
                    }
                }
            }
            None => {
                for (id, (limit, window)) in &g.limits {
                    let margin = (*window / 10).max(CAUTION_MARGIN);
                    g.caution
                        .insert(id.clone(), (*limit, now + *window + margin));
                }
            }
        }
        Self {
            gates: Mutex::new(g),
            ..Self::default()
        }
    }
}

fn layout_of(g: &Gates) -> GateLayout {
    let mut routes: Vec<(String, Option<String>)> = g
        .routes
        .iter()
        .map(|(route, b)| {
            let id = match b {
                RouteBucket::Known(id) => Some(id.clone()),
                RouteBucket::Unlimited => None,
            };
            (route.clone(), id)
        })
        .collect();
    routes.sort();
    let mut limits: Vec<(String, u32, u64)> = g
        .limits
        .iter()
        .map(|(id, (limit, window))| (id.clone(), *limit, window.as_millis() as u64))
        .collect();
    limits.sort();
    GateLayout { routes, limits }
}

/// Which bucket each route uses, and each bucket's limit and longest window: what
/// the next holder of a tenant needs to be careful after its previous holder died.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GateLayout {
    /// Route → its bucket id (`None`: the route has no bucket).
    pub(crate) routes: Vec<(String, Option<String>)>,
    /// Bucket id, its limit, the longest window seen (ms).
    pub(crate) limits: Vec<(String, u32, u64)>,
}

/// Every bucket's state when a holder stopped cleanly (nothing in flight).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct GateState {
    pub(crate) buckets: Vec<SavedBucket>,
    /// Bucket ids still spent after an earlier unclean hand-over: id, limit, until
    /// (Unix ms).
    pub(crate) caution: Vec<(String, u32, u64)>,
}

/// One bucket of a [`GateState`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SavedBucket {
    pub(crate) id: String,
    pub(crate) major: String,
    pub(crate) limit: u32,
    pub(crate) remaining: u32,
    /// `X-RateLimit-Reset` of its window.
    pub(crate) reset: Option<f64>,
    /// When its window ends, Unix ms (`None`: it has ended).
    pub(crate) until_ms: Option<u64>,
}

impl BucketPermit<'_> {
    /// Settles the reservation with the response's headers (`ok`: a 2xx response).
    pub(crate) fn complete(mut self, headers: Option<&RateLimitHeaders>, ok: bool) {
        self.done = true;
        self.gate
            .complete(self.route, self.key.as_ref(), headers, ok);
    }

    /// The bucket id, when known.
    pub(crate) fn bucket(&self) -> Option<&str> {
        self.key
            .as_ref()
            .map(|k| k.0.as_str())
            .filter(|id| !id.starts_with('?'))
    }
}

impl Drop for BucketPermit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.gate
                .complete(self.route, self.key.as_ref(), None, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "POST /channels/{channel_id}/messages";

    fn headers(remaining: u32, reset: f64, after: f64) -> RateLimitHeaders {
        RateLimitHeaders {
            bucket: Some("b1".into()),
            limit: Some(2),
            remaining: Some(remaining),
            reset: Some(reset),
            reset_after: Some(after),
            scope: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn probes_then_spends_then_waits_for_the_window() {
        let gate = BucketGate::default();
        let p = gate.acquire(R, "1").await;
        // A second request on the unknown route waits for the probe.
        let second = tokio::time::timeout(Duration::from_millis(5), gate.acquire(R, "1")).await;
        assert!(second.is_err());
        p.complete(Some(&headers(1, 100.0, 1.0)), true);
        let p = gate.acquire(R, "1").await;
        assert_eq!(p.bucket(), Some("b1"));
        let t0 = Instant::now();
        p.complete(Some(&headers(0, 100.0, 1.0)), true);
        assert_eq!(gate.snapshot()[0].remaining, 0);
        let p = gate.acquire(R, "1").await;
        assert_eq!(
            Instant::now(),
            t0 + Duration::from_secs(1),
            "waited for the reset"
        );
        // A late response from the old window teaches nothing.
        p.complete(Some(&headers(1, 101.0, 1.0)), true);
        let p = gate.acquire(R, "1").await;
        p.complete(Some(&headers(0, 101.0, 1.0)), true);
        // Another channel of the known bucket probes first.
        let other = gate.acquire(R, "2").await;
        assert_eq!(other.bucket(), Some("b1"));
        drop(other);
    }

    #[tokio::test(start_paused = true)]
    async fn in_flight_at_rollover_counts_against_the_new_window() {
        let gate = BucketGate::default();
        gate.acquire(R, "1")
            .await
            .complete(Some(&headers(1, 100.0, 1.0)), true);
        let in_flight = gate.acquire(R, "1").await;
        tokio::time::advance(Duration::from_secs(1)).await;
        let a = gate.acquire(R, "1").await;
        // limit 2, one still in flight: only one more fits in the new window.
        assert!(
            tokio::time::timeout(Duration::from_millis(5), gate.acquire(R, "1"))
                .await
                .is_err()
        );
        in_flight.complete(None, false);
        a.complete(Some(&headers(0, 101.0, 1.0)), true);
    }

    #[tokio::test(start_paused = true)]
    async fn routes_without_headers_are_unlimited() {
        let gate = BucketGate::default();
        gate.acquire("GET /x", "").await.complete(None, true);
        let a = gate.acquire("GET /x", "").await;
        let b = gate.acquire("GET /x", "").await;
        assert!(a.bucket().is_none() && b.bucket().is_none());
    }
    #[tokio::test(start_paused = true)]
    async fn a_clean_hand_over_goes_on_where_the_gate_stopped() {
        let gate = BucketGate::default();
        gate.acquire(R, "1")
            .await
            .complete(Some(&headers(1, 100.0, 2.0)), true);
        gate.acquire(R, "1")
            .await
            .complete(Some(&headers(0, 100.0, 2.0)), true);
        let (layout, state) = gate.hand_over();
        assert_eq!(layout.routes, vec![(R.to_owned(), Some("b1".to_owned()))]);
        assert_eq!(layout.limits, vec![("b1".to_owned(), 2, 2000)]);
        assert_eq!(state.buckets[0].remaining, 0);
        // The next holder waits for the window the last one spent, then has it all.
        let next = BucketGate::seeded(&layout, Some(&state));
        let t0 = Instant::now();
        let p = next.acquire(R, "1").await;
        let waited = Instant::now() - t0;
        assert!(
            waited >= Duration::from_millis(1900) && waited <= Duration::from_secs(2),
            "{waited:?}"
        );
        assert_eq!(p.bucket(), Some("b1"), "known, not probed");
        let q = next.acquire(R, "1").await;
        assert_eq!(Instant::now() - t0, waited, "two per window");
        drop((p, q));
        assert!(
            next.hand_over().1.caution.is_empty(),
            "nothing to be careful of"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn after_an_unclean_hand_over_every_known_bucket_waits_one_window() {
        let gate = BucketGate::default();
        gate.acquire(R, "1")
            .await
            .complete(Some(&headers(1, 100.0, 2.0)), true);
        let layout = gate.take_layout().expect("a new route is a new layout");
        assert!(gate.take_layout().is_none(), "taken");
        gate.acquire(R, "1")
            .await
            .complete(Some(&headers(0, 100.0, 2.0)), true);
        assert!(gate.take_layout().is_none(), "same bucket, same layout");
        let next = BucketGate::seeded(&layout, None);
        let t0 = Instant::now();
        // Any channel of the bucket: the dead holder may have spent it.
        let p = next.acquire(R, "9").await;
        assert_eq!(Instant::now() - t0, Duration::from_millis(2250));
        assert_eq!(p.bucket(), Some("b1"));
        // A clean stop of this holder passes the caution on.
        let (_, state) = next.hand_over();
        assert!(state.caution.is_empty(), "over by now");
        // A route it does not know probes at once.
        let t1 = Instant::now();
        drop(next.acquire("GET /other", "").await);
        assert_eq!(Instant::now(), t1);
    }
}
