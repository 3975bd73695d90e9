//! [`StateStore`] (memory or Redis) and [`TenantState`] (the store bound to one
//! tenant: what `ctx.state()` returns).

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::cooldown::{Cooldown, CooldownDecision, CooldownScope};
use super::coordination::{Activity, Claim, Coordination, Turn};
use super::error::StateError;
use super::memory::MemoryState;
use super::redis::RedisState;
use super::session::{Session, Takeover};
use crate::model::TenantId;

/// Longest key (or session scope, owner or map field) a handler may name, in bytes.
pub const MAX_KEY_LEN: usize = 512;

#[derive(Debug, Clone)]
enum Backend {
    Memory(Arc<MemoryState>),
    Redis(RedisState),
}

/// Where handlers' state lives: in this process, or in Redis (shared by every node).
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct StateStore {
    backend: Backend,
    /// `runtime.redis_prefix` (Redis only).
    prefix: Arc<str>,
}

impl StateStore {
    /// A store in this process.
    #[must_use]
    pub fn memory() -> Self {
        Self {
            backend: Backend::Memory(Arc::new(MemoryState::default())),
            prefix: Arc::from(""),
        }
    }

    /// A store in the Redis at `url`, keys under `prefix` (`runtime.redis_prefix`).
    ///
    /// # Errors
    /// [`StateError::Unavailable`] if Redis cannot be reached or the URL is bad.
    pub async fn redis(url: &str, prefix: &str) -> Result<Self, StateError> {
        Ok(Self {
            backend: Backend::Redis(RedisState::connect(url).await?),
            prefix: Arc::from(prefix),
        })
    }

    /// `memory` or `redis`.
    #[must_use]
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Memory(_) => "memory",
            Backend::Redis(_) => "redis",
        }
    }

    /// What the bots of `namespace` share: turn claims and channel activity.
    #[must_use]
    pub fn channels(&self, namespace: &str) -> SharedChannels {
        let base = match self.backend {
            Backend::Memory(_) => format!("ns/{namespace}"),
            Backend::Redis(_) => format!("{}:ns:{{{namespace}}}", self.prefix),
        };
        SharedChannels {
            backend: self.backend.clone(),
            base,
        }
    }

    /// The store bound to `tenant`: every key it names lives under that tenant.
    #[must_use]
    pub fn for_tenant(&self, tenant: &TenantId) -> TenantState {
        let base = match self.backend {
            Backend::Memory(_) => format!("{}/{}:state", tenant.provider, tenant.tenant),
            Backend::Redis(_) => format!(
                "{}:{{{}:{}}}:state",
                self.prefix, tenant.provider, tenant.tenant
            ),
        };
        TenantState {
            backend: self.backend.clone(),
            base,
        }
    }
}

/// The state of one tenant. Keys are any text of 1 to [`MAX_KEY_LEN`] bytes without
/// control characters; key-value pairs, sets, maps, cooldowns and sessions are
/// separate spaces (the same name in two of them names two things).
#[derive(Debug, Clone)]
pub struct TenantState {
    backend: Backend,
    base: String,
}

fn check(what: &'static str, key: &str) -> Result<(), StateError> {
    let reason = if key.is_empty() {
        Some("is empty")
    } else if key.len() > MAX_KEY_LEN {
        Some("is longer than 512 bytes")
    } else if key.chars().any(char::is_control) {
        Some("holds a control character")
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(StateError::InvalidKey {
            key: format!("{what} {}", key.chars().take(80).collect::<String>()),
            reason,
        }),
    }
}

macro_rules! dispatch {
    ($self:ident, $m:ident, $($arg:expr),*) => {
        match &$self.backend {
            Backend::Memory(m) => Ok(m.$m($($arg),*)),
            Backend::Redis(r) => r.$m($($arg),*).await,
        }
    };
}

impl TenantState {
    fn key(&self, space: &str, key: &str) -> Result<String, StateError> {
        check("key", key)?;
        Ok(format!("{}:{space}:{key}", self.base))
    }

    /// The value of `key`, if any.
    ///
    /// # Errors
    /// [`StateError::InvalidKey`], [`StateError::Unavailable`].
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        let k = self.key("kv", key)?;
        dispatch!(self, get, &k)
    }

    /// Sets `key` to `value`, expiring after `ttl` (`None`: never).
    ///
    /// # Errors
    /// As [`TenantState::get`].
    pub async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StateError> {
        let k = self.key("kv", key)?;
        dispatch!(self, set, &k, value, ttl)
    }

    /// Sets `key` only if it holds nothing; `true` if it was set.
    ///
    /// # Errors
    /// As [`TenantState::get`].
    pub async fn set_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StateError> {
        let k = self.key("kv", key)?;
        dispatch!(self, set_nx, &k, value, ttl)
    }

    /// Sets `key` to `new` only if it holds `expected` (`None`: nothing); `true` if it
    /// was set.
    ///
    /// # Errors
    /// As [`TenantState::get`].
    pub async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StateError> {
        let k = self.key("kv", key)?;
        dispatch!(self, cas, &k, expected, new, ttl)
    }

    /// Deletes `key`; `true` if it held something.
    ///
    /// # Errors
    /// As [`TenantState::get`].
    pub async fn delete(&self, key: &str) -> Result<bool, StateError> {
        let k = self.key("kv", key)?;
        dispatch!(self, del, &k)
    }

    /// Adds `by` to the integer at `key` (absent counts as 0) and returns the result;
    /// a counter created by this call expires after `ttl`.
    ///
    /// # Errors
    /// [`StateError::NotAnInteger`] if `key` holds something else (or would
    /// overflow), as [`TenantState::get`].
    pub async fn incr(&self, key: &str, by: i64, ttl: Option<Duration>) -> Result<i64, StateError> {
        let k = self.key("kv", key)?;
        match &self.backend {
            Backend::Memory(m) => m.incr(&k, by, ttl),
            Backend::Redis(r) => r.incr(&k, by, ttl).await,
        }
        .map_err(|e| match e {
            StateError::NotAnInteger { .. } => StateError::NotAnInteger {
                key: key.to_owned(),
            },
            e => e,
        })
    }

    /// How long `key` lives, if it exists and expires.
    ///
    /// # Errors
    /// As [`TenantState::get`].
    pub async fn ttl(&self, key: &str) -> Result<Option<Duration>, StateError> {
        let k = self.key("kv", key)?;
        dispatch!(self, ttl, &k)
    }

    /// The value of `key` decoded from MessagePack.
    ///
    /// # Errors
    /// [`StateError::Codec`] if it does not decode as `T`, as [`TenantState::get`].
    pub async fn get_as<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StateError> {
        self.get(key)
            .await?
            .map(|b| {
                rmp_serde::from_slice(&b).map_err(|e| StateError::Codec {
                    key: key.to_owned(),
                    reason: e.to_string(),
                })
            })
            .transpose()
    }

    /// Sets `key` to `value` encoded as MessagePack.
    ///
    /// # Errors
    /// [`StateError::Codec`] if it does not encode, as [`TenantState::set`].
    pub async fn set_as<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Option<Duration>,
    ) -> Result<(), StateError> {
        let bytes = rmp_serde::to_vec_named(value).map_err(|e| StateError::Codec {
            key: key.to_owned(),
            reason: e.to_string(),
        })?;
        self.set(key, &bytes, ttl).await
    }

    /// Adds `member` to the set `key` (the set then expires `ttl` after this write, if
    /// given); `true` if it was new.
    ///
    /// # Errors
    /// As [`TenantState::get`].
    pub async fn set_add(
        &self,
        key: &str,
        member: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StateError> {
        let k = self.key("set", key)?;
        dispatch!(self, sadd, &k, member, ttl)
    }

    /// Removes `member` from the set `key`; `true` if it was there.
    ///
    /// # Errors
    /// As [`TenantState::get`].
    pub async fn set_remove(&self, key: &str, member: &[u8]) -> Result<bool, StateError> {
        let k = self.key("set", key)?;
        dispatch!(self, srem, &k, member)
    }

    /// The members of the set `key`, sorted.
    ///
    /// # Errors
    /// As [`TenantState::get`].
    pub async fn set_members(&self, key: &str) -> Result<Vec<Vec<u8>>, StateError> {
        let k = self.key("set", key)?;
        dispatch!(self, smembers, &k)
    }

    /// Sets `field` of the map `key` (the map then expires `ttl` after this write, if
    /// given).
    ///
    /// # Errors
    /// As [`TenantState::get`].
    pub async fn map_set(
        &self,
        key: &str,
        field: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StateError> {
        let k = self.key("map", key)?;
        check("field", field)?;
        dispatch!(self, hset, &k, field, value, ttl)
    }

    /// `field` of the map `key`, if any.
    ///
    /// # Errors
    /// As [`TenantState::get`].
    pub async fn map_get(&self, key: &str, field: &str) -> Result<Option<Vec<u8>>, StateError> {
        let k = self.key("map", key)?;
        check("field", field)?;
        dispatch!(self, hget, &k, field)
    }

    /// Removes `field` from the map `key`; `true` if it was there.
    ///
    /// # Errors
    /// As [`TenantState::get`].
    pub async fn map_remove(&self, key: &str, field: &str) -> Result<bool, StateError> {
        let k = self.key("map", key)?;
        check("field", field)?;
        dispatch!(self, hdel, &k, field)
    }

    /// Every field of the map `key`, sorted by field.
    ///
    /// # Errors
    /// As [`TenantState::get`].
    pub async fn map_all(&self, key: &str) -> Result<Vec<(String, Vec<u8>)>, StateError> {
        let k = self.key("map", key)?;
        dispatch!(self, hgetall, &k)
    }

    /// One use of the cooldown `rate` for `key` (a user, channel or guild id; ignored
    /// for [`CooldownScope::Tenant`]): allowed, or when to try again. Counted on the
    /// store's clock (Redis's, across nodes).
    ///
    /// # Errors
    /// [`StateError::Invalid`] for a zero rate or window, as [`TenantState::get`].
    pub async fn cooldown(
        &self,
        scope: CooldownScope,
        key: &str,
        name: &str,
        rate: Cooldown,
    ) -> Result<CooldownDecision, StateError> {
        let (window, interval) = rate.params()?;
        let who = if scope == CooldownScope::Tenant {
            "-"
        } else {
            key
        };
        check("cooldown", name)?;
        let k = self.key("cd", &format!("{name}:{}:{who}", scope.as_str()))?;
        dispatch!(self, cooldown, &k, window, interval)
    }

    fn session_key(&self, kind: &str, scope: &str) -> Result<String, StateError> {
        check("session kind", kind)?;
        check("session scope", scope)?;
        Ok(format!("{}:sess:{kind}:{scope}", self.base))
    }

    fn session_index(&self, kind: &str) -> String {
        format!("{}:sessidx:{kind}", self.base)
    }

    /// Starts the session `kind` (e.g. `game`) for `scope` (e.g. a guild id), held by
    /// `owner` for `ttl` unless renewed. Started again by its owner, it is refreshed
    /// (same start time, new data).
    ///
    /// # Errors
    /// [`StateError::SessionHeld`] when someone else holds it and `takeover` is
    /// [`Takeover::Never`], as [`TenantState::get`].
    pub async fn session_start(
        &self,
        kind: &str,
        scope: &str,
        owner: &str,
        ttl: Duration,
        data: &[u8],
        takeover: Takeover,
    ) -> Result<Session, StateError> {
        let k = self.session_key(kind, scope)?;
        check("session owner", owner)?;
        let force = takeover == Takeover::Force;
        match &self.backend {
            Backend::Memory(m) => m.session_start(&k, scope, owner, ttl, data, force),
            Backend::Redis(r) => {
                r.session_start(
                    &k,
                    &self.session_index(kind),
                    scope,
                    owner,
                    ttl,
                    data,
                    force,
                )
                .await
            }
        }
    }

    /// Renews the session for another `ttl` if `owner` holds it (`None` otherwise).
    ///
    /// # Errors
    /// As [`TenantState::get`].
    pub async fn session_renew(
        &self,
        kind: &str,
        scope: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Session>, StateError> {
        let k = self.session_key(kind, scope)?;
        match &self.backend {
            Backend::Memory(m) => Ok(m.session_renew(&k, owner, ttl)),
            Backend::Redis(r) => {
                r.session_renew(&k, &self.session_index(kind), scope, owner, ttl)
                    .await
            }
        }
    }

    /// Stops the session if `owner` holds it (`None`: whoever holds it); `true` if it
    /// was stopped.
    ///
    /// # Errors
    /// As [`TenantState::get`].
    pub async fn session_stop(
        &self,
        kind: &str,
        scope: &str,
        owner: Option<&str>,
    ) -> Result<bool, StateError> {
        let k = self.session_key(kind, scope)?;
        match &self.backend {
            Backend::Memory(m) => Ok(m.session_stop(&k, owner)),
            Backend::Redis(r) => {
                r.session_stop(&k, &self.session_index(kind), scope, owner)
                    .await
            }
        }
    }

    /// The live session `kind` of `scope`, if any.
    ///
    /// # Errors
    /// As [`TenantState::get`].
    pub async fn session_info(
        &self,
        kind: &str,
        scope: &str,
    ) -> Result<Option<Session>, StateError> {
        let k = self.session_key(kind, scope)?;
        dispatch!(self, session_get, &k)
    }

    /// Every live session `kind` of this tenant, by scope.
    ///
    /// # Errors
    /// As [`TenantState::get`].
    pub async fn session_list(&self, kind: &str) -> Result<Vec<Session>, StateError> {
        check("session kind", kind)?;
        let prefix = format!("{}:sess:{kind}:", self.base);
        match &self.backend {
            Backend::Memory(m) => Ok(m.session_list(&prefix)),
            Backend::Redis(r) => {
                r.session_list(&self.session_index(kind), |scope| {
                    format!("{prefix}{scope}")
                })
                .await
            }
        }
    }
}

/// What the bots of one namespace share about channels (`StateStore::channels`).
#[derive(Debug, Clone)]
pub struct SharedChannels {
    backend: Backend,
    base: String,
}

impl SharedChannels {
    /// Claims the turn to answer `message` in `channel` for `claimant` (a bot,
    /// `provider/tenant`) under `policy`.
    ///
    /// # Errors
    /// [`StateError::InvalidKey`] for an empty or overlong id, [`StateError::Invalid`]
    /// for `max_bots_per_message: 0`, [`StateError::Unavailable`].
    pub async fn claim_turn(
        &self,
        channel: &str,
        message: &str,
        claimant: &str,
        policy: &Coordination,
    ) -> Result<Turn, StateError> {
        check("channel", channel)?;
        check("message", message)?;
        check("claimant", claimant)?;
        if policy.max_bots_per_message == 0 {
            return Err(StateError::Invalid(
                "coordination.max_bots_per_message must be at least 1".to_owned(),
            ));
        }
        let c = Claim {
            turn: format!("{}:turn:{channel}:{message}", self.base),
            pile: format!("{}:pile:{channel}:{claimant}", self.base),
            activity: format!("{}:activity:{channel}", self.base),
            claimant,
            max: policy.max_bots_per_message,
            ttl: policy.claim_ttl(),
            cooldown: policy.pile_on(),
        };
        match &self.backend {
            Backend::Memory(m) => Ok(m.claim_turn(&c)),
            Backend::Redis(r) => r.claim_turn(&c).await,
        }
    }

    /// Claims `(provider, kind, message)` for `handler` on behalf of `claimant` (a bot,
    /// `provider/tenant`): `true` if the claim is the claimant's — it took it now, or
    /// took it earlier (a retry) — `false` if another bot of the namespace holds it.
    /// Backs [`Handler::once_per_message`](crate::handler::Handler::once_per_message).
    /// The claim is kept for `ttl`.
    ///
    /// # Errors
    /// [`StateError::InvalidKey`] for an empty or overlong id,
    /// [`StateError::Unavailable`].
    pub async fn claim_once(
        &self,
        provider: &str,
        kind: &str,
        message: &str,
        handler: &str,
        claimant: &str,
        ttl: Duration,
    ) -> Result<bool, StateError> {
        check("message", message)?;
        check("handler", handler)?;
        check("claimant", claimant)?;
        let key = format!("{}:once:{provider}:{handler}:{kind}:{message}", self.base);
        let mine = claimant.as_bytes();
        let took = match &self.backend {
            Backend::Memory(m) => m.set_nx(&key, mine, Some(ttl)),
            Backend::Redis(r) => r.set_nx(&key, mine, Some(ttl)).await?,
        };
        if took {
            return Ok(true);
        }
        // The holder never changes while the claim lives: reading it after a failed
        // `SET NX` is as good as an atomic "set or get".
        let holder = match &self.backend {
            Backend::Memory(m) => m.get(&key),
            Backend::Redis(r) => r.get(&key).await?,
        };
        Ok(holder.as_deref() == Some(mine))
    }

    /// The bots that took a turn in `channel` within the last hour, newest first.
    ///
    /// # Errors
    /// [`StateError::InvalidKey`], [`StateError::Unavailable`].
    pub async fn activity(&self, channel: &str) -> Result<Vec<Activity>, StateError> {
        check("channel", channel)?;
        let key = format!("{}:activity:{channel}", self.base);
        dispatch!(self, activity, &key)
    }
}
