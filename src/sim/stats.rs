//! Counters the emulator keeps per tenant (identifies, resumes, dispatches, REST
//! requests, 429s, invalid requests, bans), served by `GET /__sim/stats`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Live counters of one tenant (or of the anonymous caller).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) identifies: AtomicU64,
    pub(crate) resumes: AtomicU64,
    pub(crate) connections: AtomicU64,
    pub(crate) dispatches: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) ratelimited_bucket: AtomicU64,
    pub(crate) ratelimited_global: AtomicU64,
    pub(crate) ratelimited_shared: AtomicU64,
    pub(crate) invalid_requests: AtomicU64,
    pub(crate) banned_requests: AtomicU64,
    /// Sessions with a connection attached now.
    pub(crate) live_sessions: AtomicU64,
    /// The most `live_sessions` ever was.
    pub(crate) max_live_sessions: AtomicU64,
    /// Accepted bulk overwrites of application commands.
    pub(crate) command_puts: AtomicU64,
}

impl Counters {
    /// A session got a connection (IDENTIFY, or RESUME of a detached session).
    pub(crate) fn session_attached(&self) {
        let now = self.live_sessions.fetch_add(1, Ordering::AcqRel) + 1;
        self.max_live_sessions.fetch_max(now, Ordering::AcqRel);
    }

    /// A session lost its connection.
    pub(crate) fn session_detached(&self) {
        let _ = self
            .live_sessions
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }
}

/// Increments a counter by one.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    /// A point-in-time copy.
    pub(crate) fn snapshot(&self) -> TenantStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TenantStats {
            identifies: get(&self.identifies),
            resumes: get(&self.resumes),
            connections: get(&self.connections),
            dispatches: get(&self.dispatches),
            requests: get(&self.requests),
            ratelimited_bucket: get(&self.ratelimited_bucket),
            ratelimited_global: get(&self.ratelimited_global),
            ratelimited_shared: get(&self.ratelimited_shared),
            invalid_requests: get(&self.invalid_requests),
            banned_requests: get(&self.banned_requests),
            live_sessions: get(&self.live_sessions),
            max_live_sessions: get(&self.max_live_sessions),
            command_puts: get(&self.command_puts),
        }
    }
}

/// Counters of one tenant at a point in time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantStats {
    /// Successful IDENTIFYs (sessions started).
    pub identifies: u64,
    /// Successful RESUMEs.
    pub resumes: u64,
    /// Gateway connections opened (counted once identified or resumed).
    pub connections: u64,
    /// Dispatches (op 0) queued to this tenant's sessions, replays excluded.
    pub dispatches: u64,
    /// REST requests received (rate-limited ones included).
    pub requests: u64,
    /// 429s from a per-route bucket (`X-RateLimit-Scope: user`).
    pub ratelimited_bucket: u64,
    /// 429s from the global limit.
    pub ratelimited_global: u64,
    /// 429s from a shared (per-resource) bucket.
    pub ratelimited_shared: u64,
    /// Responses counted as invalid requests (401, 403, 429 except `shared`).
    pub invalid_requests: u64,
    /// Requests refused because the caller's IP was banned.
    pub banned_requests: u64,
    /// Authenticated gateway sessions with a live connection now.
    #[serde(default)]
    pub live_sessions: u64,
    /// The most authenticated gateway sessions this token ever had live at once (a
    /// resume that takes a session over from another connection does not add one).
    /// Above the shard count means two clients ran the same shard.
    #[serde(default)]
    pub max_live_sessions: u64,
    /// Bulk overwrites of the application's commands accepted (`PUT
    /// …/commands`, global or guild; refused ones not counted).
    #[serde(default)]
    pub command_puts: u64,
}

impl TenantStats {
    /// All 429s (bucket, global and shared).
    #[must_use]
    pub fn ratelimited(&self) -> u64 {
        self.ratelimited_bucket + self.ratelimited_global + self.ratelimited_shared
    }
}

/// Every counter of the emulator at a point in time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStats {
    /// Per tenant, by tenant name (tokens are never shown).
    pub tenants: BTreeMap<String, TenantStats>,
    /// Requests that carried no valid bot token (bad tokens, interaction and webhook
    /// routes authorised by their path).
    pub anonymous: TenantStats,
    /// Bans imposed on client IPs so far.
    pub bans: u64,
}

impl SimStats {
    /// The counters of one tenant (zeros if unknown).
    #[must_use]
    pub fn tenant(&self, name: &str) -> TenantStats {
        self.tenants.get(name).cloned().unwrap_or_default()
    }
}
