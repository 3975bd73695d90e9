//! The in-process state backend: one `DashMap`, one lock per key (which makes every
//! compound operation atomic), expiry checked on access and swept now and then.
//! Times come from `tokio::time`, so tests can pause the clock.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use tokio::time::Instant;

use super::cooldown::{CooldownDecision, gcra};
use super::coordination::{ACTIVITY_KEPT, Activity, Claim, Turn};
use super::error::StateError;
use super::session::Session;

/// Sweep expired keys every this many writes.
const SWEEP_EVERY: u64 = 1024;

#[derive(Debug, Clone)]
enum Value {
    Bytes(Vec<u8>),
    Set(BTreeSet<Vec<u8>>),
    Map(BTreeMap<String, Vec<u8>>),
    Tat(u64),
    Session(Session),
}

#[derive(Debug, Clone)]
struct Slot {
    value: Value,
    expires: Option<Instant>,
}

impl Slot {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|e| e > now)
    }
}

/// The in-process store.
#[derive(Debug)]
pub(crate) struct MemoryState {
    slots: DashMap<String, Slot>,
    /// Unix ms of `base` (tokio's clock has no epoch).
    epoch_ms: u64,
    base: Instant,
    writes: AtomicU64,
}

fn deadline(now: Instant, ttl: Option<Duration>) -> Option<Instant> {
    ttl.map(|t| now + t)
}

impl Default for MemoryState {
    fn default() -> Self {
        Self {
            slots: DashMap::new(),
            epoch_ms: crate::model::now_ms(),
            base: Instant::now(),
            writes: AtomicU64::new(0),
        }
    }
}

impl MemoryState {
    /// Unix ms by the (pausable) tokio clock.
    fn now_ms(&self, now: Instant) -> u64 {
        self.epoch_ms + u64::try_from(now.duration_since(self.base).as_millis()).unwrap_or(0)
    }

    fn wrote(&self) {
        if self.writes.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            let now = Instant::now();
            self.slots.retain(|_, s| s.live(now));
        }
    }

    /// Runs `f` on the live slot of `key` (`None` if absent or expired) and stores what
    /// it returns (`None`: delete), atomically for that key.
    fn update<R>(
        &self,
        key: &str,
        f: impl FnOnce(Option<&Slot>, Instant) -> (Option<Slot>, R),
    ) -> R {
        let now = Instant::now();
        let out = match self.slots.entry(key.to_owned()) {
            Entry::Occupied(mut e) => {
                let live = e.get().live(now).then(|| e.get().clone());
                let (next, r) = f(live.as_ref(), now);
                match next {
                    Some(s) => {
                        e.insert(s);
                    }
                    None => {
                        e.remove();
                    }
                }
                r
            }
            Entry::Vacant(v) => {
                let (next, r) = f(None, now);
                if let Some(s) = next {
                    v.insert(s);
                }
                r
            }
        };
        self.wrote();
        out
    }

    fn read<R>(&self, key: &str, f: impl FnOnce(&Slot) -> R) -> Option<R> {
        let now = Instant::now();
        self.slots.get(key).filter(|s| s.live(now)).map(|s| f(&s))
    }

    pub(crate) fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.read(key, |s| match &s.value {
            Value::Bytes(b) => Some(b.clone()),
            _ => None,
        })
        .flatten()
    }

    pub(crate) fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) {
        self.update(key, |_, now| {
            (
                Some(Slot {
                    value: Value::Bytes(value.to_vec()),
                    expires: deadline(now, ttl),
                }),
                (),
            )
        });
    }

    pub(crate) fn set_nx(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> bool {
        self.update(key, |cur, now| match cur {
            Some(s) => (Some(s.clone()), false),
            None => (
                Some(Slot {
                    value: Value::Bytes(value.to_vec()),
                    expires: deadline(now, ttl),
                }),
                true,
            ),
        })
    }

    pub(crate) fn cas(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> bool {
        self.update(key, |cur, now| {
            let current = cur.and_then(|s| match &s.value {
                Value::Bytes(b) => Some(b.as_slice()),
                _ => None,
            });
            if current == expected {
                (
                    Some(Slot {
                        value: Value::Bytes(new.to_vec()),
                        expires: deadline(now, ttl),
                    }),
                    true,
                )
            } else {
                (cur.cloned(), false)
            }
        })
    }

    pub(crate) fn del(&self, key: &str) -> bool {
        self.update(key, |cur, _| (None, cur.is_some()))
    }

    pub(crate) fn incr(
        &self,
        key: &str,
        by: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, StateError> {
        self.update(key, |cur, now| {
            let (old, expires) = match cur {
                None => (0, deadline(now, ttl)),
                Some(s) => match &s.value {
                    Value::Bytes(b) => match std::str::from_utf8(b)
                        .ok()
                        .and_then(|t| t.parse::<i64>().ok())
                    {
                        Some(n) => (n, s.expires),
                        None => return (cur.cloned(), Err(not_int(key))),
                    },
                    _ => return (cur.cloned(), Err(not_int(key))),
                },
            };
            let Some(n) = old.checked_add(by) else {
                return (cur.cloned(), Err(not_int(key)));
            };
            (
                Some(Slot {
                    value: Value::Bytes(n.to_string().into_bytes()),
                    expires,
                }),
                Ok(n),
            )
        })
    }

    pub(crate) fn ttl(&self, key: &str) -> Option<Duration> {
        let now = Instant::now();
        self.read(key, |s| s.expires.map(|e| e.saturating_duration_since(now)))
            .flatten()
    }

    pub(crate) fn sadd(&self, key: &str, member: &[u8], ttl: Option<Duration>) -> bool {
        self.update(key, |cur, now| {
            let mut set = match cur.map(|s| &s.value) {
                Some(Value::Set(s)) => s.clone(),
                _ => BTreeSet::new(),
            };
            let added = set.insert(member.to_vec());
            let expires = ttl.map_or_else(|| cur.and_then(|s| s.expires), |t| Some(now + t));
            (
                Some(Slot {
                    value: Value::Set(set),
                    expires,
                }),
                added,
            )
        })
    }

    pub(crate) fn srem(&self, key: &str, member: &[u8]) -> bool {
        self.update(key, |cur, _| match cur.map(|s| (&s.value, s.expires)) {
            Some((Value::Set(s), expires)) => {
                let mut set = s.clone();
                let removed = set.remove(member);
                let next = (!set.is_empty()).then_some(Slot {
                    value: Value::Set(set),
                    expires,
                });
                (next, removed)
            }
            _ => (cur.cloned(), false),
        })
    }

    pub(crate) fn smembers(&self, key: &str) -> Vec<Vec<u8>> {
        self.read(key, |s| match &s.value {
            Value::Set(set) => set.iter().cloned().collect(),
            _ => Vec::new(),
        })
        .unwrap_or_default()
    }

    pub(crate) fn hset(&self, key: &str, field: &str, value: &[u8], ttl: Option<Duration>) {
        self.update(key, |cur, now| {
            let mut map = match cur.map(|s| &s.value) {
                Some(Value::Map(m)) => m.clone(),
                _ => BTreeMap::new(),
            };
            map.insert(field.to_owned(), value.to_vec());
            let expires = ttl.map_or_else(|| cur.and_then(|s| s.expires), |t| Some(now + t));
            (
                Some(Slot {
                    value: Value::Map(map),
                    expires,
                }),
                (),
            )
        });
    }

    pub(crate) fn hget(&self, key: &str, field: &str) -> Option<Vec<u8>> {
        self.read(key, |s| match &s.value {
            Value::Map(m) => m.get(field).cloned(),
            _ => None,
        })
        .flatten()
    }

    pub(crate) fn hdel(&self, key: &str, field: &str) -> bool {
        self.update(key, |cur, _| match cur.map(|s| (&s.value, s.expires)) {
            Some((Value::Map(m), expires)) => {
                let mut map = m.clone();
                let removed = map.remove(field).is_some();
                let next = (!map.is_empty()).then_some(Slot {
                    value: Value::Map(map),
                    expires,
                });
                (next, removed)
            }
            _ => (cur.cloned(), false),
        })
    }

    pub(crate) fn hgetall(&self, key: &str) -> Vec<(String, Vec<u8>)> {
        self.read(key, |s| match &s.value {
            Value::Map(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            _ => Vec::new(),
        })
        .unwrap_or_default()
    }

    pub(crate) fn cooldown(&self, key: &str, window: u64, interval: u64) -> CooldownDecision {
        self.update(key, |cur, now| {
            let now_ms = self.now_ms(now);
            let tat = cur.and_then(|s| match s.value {
                Value::Tat(t) => Some(t),
                _ => None,
            });
            let (decision, next) = gcra(tat, now_ms, window, interval);
            let slot = match next {
                Some(t) => Some(Slot {
                    value: Value::Tat(t),
                    expires: Some(now + Duration::from_millis(t - now_ms)),
                }),
                None => cur.cloned(),
            };
            (slot, decision)
        })
    }

    pub(crate) fn session_start(
        &self,
        key: &str,
        scope: &str,
        owner: &str,
        ttl: Duration,
        data: &[u8],
        force: bool,
    ) -> Result<Session, StateError> {
        self.update(key, |cur, now| {
            let now_ms = self.now_ms(now);
            let held = cur.and_then(|s| match &s.value {
                Value::Session(x) => Some(x.clone()),
                _ => None,
            });
            if let Some(h) = &held
                && h.owner != owner
                && !force
            {
                let left = Duration::from_millis(h.expires_ms.saturating_sub(now_ms));
                return (cur.cloned(), Err(held_by(h, left)));
            }
            let started_ms = held
                .filter(|h| h.owner == owner)
                .map_or(now_ms, |h| h.started_ms);
            let session = Session {
                scope: scope.to_owned(),
                owner: owner.to_owned(),
                started_ms,
                expires_ms: now_ms + ms(ttl),
                data: data.to_vec(),
            };
            (
                Some(Slot {
                    value: Value::Session(session.clone()),
                    expires: Some(now + ttl),
                }),
                Ok(session),
            )
        })
    }

    pub(crate) fn session_renew(&self, key: &str, owner: &str, ttl: Duration) -> Option<Session> {
        self.update(key, |cur, now| match cur.map(|s| &s.value) {
            Some(Value::Session(s)) if s.owner == owner => {
                let mut s = s.clone();
                s.expires_ms = self.now_ms(now) + ms(ttl);
                (
                    Some(Slot {
                        value: Value::Session(s.clone()),
                        expires: Some(now + ttl),
                    }),
                    Some(s),
                )
            }
            _ => (cur.cloned(), None),
        })
    }

    pub(crate) fn session_stop(&self, key: &str, owner: Option<&str>) -> bool {
        self.update(key, |cur, _| match cur.map(|s| &s.value) {
            Some(Value::Session(s)) if owner.is_none_or(|o| o == s.owner) => (None, true),
            _ => (cur.cloned(), false),
        })
    }

    pub(crate) fn session_get(&self, key: &str) -> Option<Session> {
        self.read(key, |s| match &s.value {
            Value::Session(x) => Some(x.clone()),
            _ => None,
        })
        .flatten()
    }

    /// Live sessions whose key starts with `prefix`.
    pub(crate) fn session_list(&self, prefix: &str) -> Vec<Session> {
        let now = Instant::now();
        let mut out: Vec<Session> = self
            .slots
            .iter()
            .filter(|e| e.key().starts_with(prefix) && e.live(now))
            .filter_map(|e| match &e.value {
                Value::Session(s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        out.sort_by(|a, b| a.scope.cmp(&b.scope));
        out
    }
}

impl MemoryState {
    /// A turn claim (see `coordination.rs`).
    pub(crate) fn claim_turn(&self, c: &Claim<'_>) -> Turn {
        let me = c.claimant.as_bytes();
        let mine = self
            .read(
                &c.turn,
                |s| matches!(&s.value, Value::Set(m) if m.contains(me)),
            )
            .unwrap_or(false);
        if mine {
            return Turn::Mine;
        }
        if c.cooldown.is_some() && self.get(&c.pile).is_some() {
            return Turn::Cooldown;
        }
        let outcome = self.update(&c.turn, |cur, now| {
            let mut set = match cur.map(|s| &s.value) {
                Some(Value::Set(m)) => m.clone(),
                _ => BTreeSet::new(),
            };
            if set.contains(me) {
                return (cur.cloned(), Turn::Mine);
            }
            if set.len() >= c.max as usize {
                let by = set
                    .iter()
                    .map(|m| String::from_utf8_lossy(m).into_owned())
                    .collect();
                return (cur.cloned(), Turn::Taken { by });
            }
            set.insert(me.to_vec());
            (
                Some(Slot {
                    value: Value::Set(set),
                    expires: Some(now + c.ttl),
                }),
                Turn::Mine,
            )
        });
        if outcome.is_mine() {
            if let Some(cd) = c.cooldown {
                self.set(&c.pile, b"1", Some(cd));
            }
            let now = Instant::now();
            let at = self.now_ms(now).to_string().into_bytes();
            self.hset(&c.activity, c.claimant, &at, Some(ACTIVITY_KEPT));
        }
        outcome
    }

    /// The bots that took turns in a channel within the last hour, newest first.
    pub(crate) fn activity(&self, activity: &str) -> Vec<Activity> {
        let horizon = self
            .now_ms(Instant::now())
            .saturating_sub(ms(ACTIVITY_KEPT));
        let mut out: Vec<Activity> = self
            .hgetall(activity)
            .into_iter()
            .filter_map(|(bot, at)| {
                let at_ms = std::str::from_utf8(&at).ok()?.parse().ok()?;
                (at_ms >= horizon).then_some(Activity { bot, at_ms })
            })
            .collect();
        out.sort_by(|a, b| b.at_ms.cmp(&a.at_ms).then(a.bot.cmp(&b.bot)));
        out
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn not_int(key: &str) -> StateError {
    StateError::NotAnInteger {
        key: key.to_owned(),
    }
}

pub(crate) fn held_by(s: &Session, left: Duration) -> StateError {
    StateError::SessionHeld {
        scope: s.scope.clone(),
        owner: s.owner.clone(),
        left,
    }
}
