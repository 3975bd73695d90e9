//! The Redis state backend (fred). Plain commands where one is atomic on its own;
//! Lua where an operation reads and writes (compare-and-set, counters that expire
//! from their creation, cooldowns on the server's clock, sessions with an owner).

use std::time::Duration;

use fred::prelude::*;
use fred::types::scripts::Script;
use fred::types::{Expiration, SetOptions};

use super::cooldown::CooldownDecision;
use super::coordination::{ACTIVITY_KEPT, Activity, Claim, Turn};
use super::error::StateError;
use super::memory::held_by;
use super::session::Session;

/// KEYS: key. ARGV: expected ('' with ARGV[3] = '0': must be absent), new value,
/// expected-present flag, TTL ms ('0': none). Returns 1 if written.
const CAS: &str = r"
local cur = redis.call('GET', KEYS[1])
if ARGV[3] == '0' then
  if cur then return 0 end
elseif cur ~= ARGV[1] then
  return 0
end
if ARGV[4] ~= '0' then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
return 1
";

/// KEYS: key. ARGV: increment, TTL ms ('0': none), applied when the key is created.
const INCR: &str = r"
local existed = redis.call('EXISTS', KEYS[1])
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 and ARGV[2] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v
";

/// KEYS: key. ARGV: window ms, interval ms. GCRA on the server's clock (the same
/// arithmetic as `cooldown::gcra`). Returns `{1, remaining}` or `{0, retry-after ms}`.
const COOLDOWN: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new = tat + interval
local ahead = new - now
if ahead > window then return {0, ahead - window} end
redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', string.format('%.0f', ahead))
return {1, math.floor((window - ahead) / interval)}
";

/// KEYS: session hash, index zset. ARGV: scope, owner, TTL ms, data, force (1/0).
/// Returns `{'ok', started, expires}` or `{'held', owner, expires, now}`.
const SESSION_START: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cur = redis.call('HMGET', KEYS[1], 'owner', 'started', 'expires')
local started = now
if cur[1] then
  if cur[1] ~= ARGV[2] and ARGV[5] ~= '1' then return {'held', cur[1], cur[3], tostring(now)} end
  if cur[1] == ARGV[2] then started = tonumber(cur[2]) end
end
local expires = now + tonumber(ARGV[3])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'scope', ARGV[1], 'owner', ARGV[2], 'started',
  string.format('%.0f', started), 'expires', string.format('%.0f', expires), 'data', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], expires, ARGV[1])
return {'ok', string.format('%.0f', started), string.format('%.0f', expires)}
";

/// KEYS: session hash, index zset. ARGV: scope, owner, TTL ms. Returns the new expiry,
/// or '' when the owner does not hold it.
const SESSION_RENEW: &str = r"
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[2] then return '' end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expires = string.format('%.0f', now + tonumber(ARGV[3]))
redis.call('HSET', KEYS[1], 'expires', expires)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], expires, ARGV[1])
return expires
";

/// KEYS: session hash, index zset. ARGV: scope, owner ('' for anyone). Returns 1 if
/// stopped.
const SESSION_STOP: &str = r"
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then redis.call('ZREM', KEYS[2], ARGV[1]) return 0 end
if ARGV[2] ~= '' and owner ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
";

/// KEYS: turn set, the claimant's pile-on key, channel activity zset. ARGV: claimant,
/// max claimants, claim TTL ms, pile-on cooldown ms ('0': none), activity kept ms.
/// Returns `{'mine'}`, `{'cooldown'}` or `{'taken', holder...}`.
const CLAIM_TURN: &str = r"
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return {'mine'} end
if ARGV[4] ~= '0' and redis.call('EXISTS', KEYS[2]) == 1 then return {'cooldown'} end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local by = redis.call('SMEMBERS', KEYS[1])
  table.insert(by, 1, 'taken')
  return by
end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if ARGV[4] ~= '0' then redis.call('SET', KEYS[2], '1', 'PX', ARGV[4]) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[3], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[5]))
redis.call('PEXPIRE', KEYS[3], ARGV[5])
return {'mine'}
";

struct Scripts {
    cas: Script,
    incr: Script,
    cooldown: Script,
    start: Script,
    renew: Script,
    stop: Script,
    claim: Script,
}

/// The Redis store. Cheap to clone.
#[derive(Clone)]
pub(crate) struct RedisState {
    client: Client,
    scripts: std::sync::Arc<Scripts>,
}

impl std::fmt::Debug for RedisState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisState")
    }
}

fn unavailable(e: &fred::error::Error) -> StateError {
    StateError::Unavailable(e.clone())
}

fn ttl_ms(ttl: Option<Duration>) -> String {
    ttl.map_or_else(|| "0".to_owned(), |t| t.as_millis().max(1).to_string())
}

fn expiration(ttl: Option<Duration>) -> Option<Expiration> {
    ttl.map(|t| Expiration::PX(i64::try_from(t.as_millis().max(1)).unwrap_or(i64::MAX)))
}

fn num(v: Option<&Value>) -> u64 {
    v.and_then(Value::as_string)
        .and_then(|s| s.parse().ok())
        .or_else(|| v.and_then(Value::as_u64))
        .unwrap_or(0)
}

impl RedisState {
    pub(crate) async fn connect(url: &str) -> Result<Self, StateError> {
        let client = crate::bus::connect_redis(url)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(Self {
            client,
            scripts: std::sync::Arc::new(Scripts {
                cas: Script::from_lua(CAS),
                incr: Script::from_lua(INCR),
                cooldown: Script::from_lua(COOLDOWN),
                start: Script::from_lua(SESSION_START),
                renew: Script::from_lua(SESSION_RENEW),
                stop: Script::from_lua(SESSION_STOP),
                claim: Script::from_lua(CLAIM_TURN),
            }),
        })
    }

    async fn eval(
        &self,
        script: &Script,
        keys: Vec<String>,
        args: Vec<Value>,
    ) -> Result<Value, StateError> {
        script
            .evalsha_with_reload(&self.client, keys, args)
            .await
            .map_err(|e| unavailable(&e))
    }

    /// A session script: KEYS are the session's hash and its kind's index.
    async fn eval_session(
        &self,
        script: &Script,
        key: &str,
        index: &str,
        args: Vec<Value>,
    ) -> Result<Value, StateError> {
        self.eval(script, vec![key.to_owned(), index.to_owned()], args)
            .await
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        self.client.get(key).await.map_err(|e| unavailable(&e))
    }

    pub(crate) async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StateError> {
        self.client
            .set::<(), _, _>(key, value, expiration(ttl), None, false)
            .await
            .map_err(|e| unavailable(&e))
    }

    pub(crate) async fn set_nx(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StateError> {
        let r: Option<String> = self
            .client
            .set(key, value, expiration(ttl), Some(SetOptions::NX), false)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(r.is_some())
    }

    pub(crate) async fn cas(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StateError> {
        let args = vec![
            Value::Bytes(expected.unwrap_or_default().to_vec().into()),
            Value::Bytes(new.to_vec().into()),
            Value::from(if expected.is_some() { "1" } else { "0" }),
            Value::from(ttl_ms(ttl)),
        ];
        let r = self
            .eval(&self.scripts.cas, vec![key.to_owned()], args)
            .await?;
        Ok(r.as_u64() == Some(1))
    }

    pub(crate) async fn del(&self, key: &str) -> Result<bool, StateError> {
        let n: u64 = self.client.del(key).await.map_err(|e| unavailable(&e))?;
        Ok(n > 0)
    }

    pub(crate) async fn incr(
        &self,
        key: &str,
        by: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, StateError> {
        let args = vec![Value::from(by.to_string()), Value::from(ttl_ms(ttl))];
        match self
            .eval(&self.scripts.incr, vec![key.to_owned()], args)
            .await
        {
            Ok(v) => v.as_i64().ok_or_else(|| StateError::NotAnInteger {
                key: key.to_owned(),
            }),
            Err(StateError::Unavailable(e))
                if e.details().contains("not an integer") || e.details().contains("overflow") =>
            {
                Err(StateError::NotAnInteger {
                    key: key.to_owned(),
                })
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn ttl(&self, key: &str) -> Result<Option<Duration>, StateError> {
        let ms: i64 = self.client.pttl(key).await.map_err(|e| unavailable(&e))?;
        Ok(u64::try_from(ms).ok().map(Duration::from_millis))
    }

    async fn refresh(&self, key: &str, ttl: Option<Duration>) -> Result<(), StateError> {
        if let Some(t) = ttl {
            let ms = i64::try_from(t.as_millis().max(1)).unwrap_or(i64::MAX);
            self.client
                .pexpire::<(), _>(key, ms, None)
                .await
                .map_err(|e| unavailable(&e))?;
        }
        Ok(())
    }

    pub(crate) async fn sadd(
        &self,
        key: &str,
        member: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StateError> {
        let n: u64 = self
            .client
            .sadd(key, member)
            .await
            .map_err(|e| unavailable(&e))?;
        self.refresh(key, ttl).await?;
        Ok(n > 0)
    }

    pub(crate) async fn srem(&self, key: &str, member: &[u8]) -> Result<bool, StateError> {
        let n: u64 = self
            .client
            .srem(key, member)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(n > 0)
    }

    pub(crate) async fn smembers(&self, key: &str) -> Result<Vec<Vec<u8>>, StateError> {
        let mut m: Vec<Vec<u8>> = self
            .client
            .smembers(key)
            .await
            .map_err(|e| unavailable(&e))?;
        m.sort();
        Ok(m)
    }

    pub(crate) async fn hset(
        &self,
        key: &str,
        field: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StateError> {
        self.client
            .hset::<(), _, _>(key, (field, value))
            .await
            .map_err(|e| unavailable(&e))?;
        self.refresh(key, ttl).await
    }

    pub(crate) async fn hget(&self, key: &str, field: &str) -> Result<Option<Vec<u8>>, StateError> {
        self.client
            .hget(key, field)
            .await
            .map_err(|e| unavailable(&e))
    }

    pub(crate) async fn hdel(&self, key: &str, field: &str) -> Result<bool, StateError> {
        let n: u64 = self
            .client
            .hdel(key, field)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(n > 0)
    }

    pub(crate) async fn hgetall(&self, key: &str) -> Result<Vec<(String, Vec<u8>)>, StateError> {
        let m: std::collections::HashMap<String, Vec<u8>> = self
            .client
            .hgetall(key)
            .await
            .map_err(|e| unavailable(&e))?;
        let mut out: Vec<(String, Vec<u8>)> = m.into_iter().collect();
        out.sort();
        Ok(out)
    }

    pub(crate) async fn cooldown(
        &self,
        key: &str,
        window: u64,
        interval: u64,
    ) -> Result<CooldownDecision, StateError> {
        let r = self
            .eval(
                &self.scripts.cooldown,
                vec![key.to_owned()],
                vec![
                    Value::from(window.to_string()),
                    Value::from(interval.to_string()),
                ],
            )
            .await?
            .into_array();
        let n = num(r.get(1));
        Ok(if num(r.first()) == 1 {
            CooldownDecision::Allowed {
                remaining: u32::try_from(n).unwrap_or(u32::MAX),
            }
        } else {
            CooldownDecision::RetryAfter(Duration::from_millis(n))
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn session_start(
        &self,
        key: &str,
        index: &str,
        scope: &str,
        owner: &str,
        ttl: Duration,
        data: &[u8],
        force: bool,
    ) -> Result<Session, StateError> {
        let args = vec![
            Value::from(scope),
            Value::from(owner),
            Value::from(ttl_ms(Some(ttl))),
            Value::Bytes(data.to_vec().into()),
            Value::from(if force { "1" } else { "0" }),
        ];
        let r = self
            .eval_session(&self.scripts.start, key, index, args)
            .await?
            .into_array();
        let tag = r.first().and_then(Value::as_string).unwrap_or_default();
        if tag == "held" {
            let holder = Session {
                scope: scope.to_owned(),
                owner: r.get(1).and_then(Value::as_string).unwrap_or_default(),
                started_ms: 0,
                expires_ms: num(r.get(2)),
                data: Vec::new(),
            };
            let left = Duration::from_millis(holder.expires_ms.saturating_sub(num(r.get(3))));
            return Err(held_by(&holder, left));
        }
        Ok(Session {
            scope: scope.to_owned(),
            owner: owner.to_owned(),
            started_ms: num(r.get(1)),
            expires_ms: num(r.get(2)),
            data: data.to_vec(),
        })
    }

    pub(crate) async fn session_renew(
        &self,
        key: &str,
        index: &str,
        scope: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Session>, StateError> {
        let args = vec![
            Value::from(scope),
            Value::from(owner),
            Value::from(ttl_ms(Some(ttl))),
        ];
        let r = self
            .eval_session(&self.scripts.renew, key, index, args)
            .await?;
        if r.as_string().unwrap_or_default().is_empty() {
            return Ok(None);
        }
        self.session_get(key).await
    }

    pub(crate) async fn session_stop(
        &self,
        key: &str,
        index: &str,
        scope: &str,
        owner: Option<&str>,
    ) -> Result<bool, StateError> {
        let args = vec![Value::from(scope), Value::from(owner.unwrap_or_default())];
        let r = self
            .eval_session(&self.scripts.stop, key, index, args)
            .await?;
        Ok(r.as_u64() == Some(1))
    }

    pub(crate) async fn session_get(&self, key: &str) -> Result<Option<Session>, StateError> {
        let m: std::collections::HashMap<String, Vec<u8>> = self
            .client
            .hgetall(key)
            .await
            .map_err(|e| unavailable(&e))?;
        let text = |f: &str| m.get(f).map(|v| String::from_utf8_lossy(v).into_owned());
        let (Some(scope), Some(owner)) = (text("scope"), text("owner")) else {
            return Ok(None);
        };
        let n = |f: &str| text(f).and_then(|t| t.parse().ok()).unwrap_or(0);
        Ok(Some(Session {
            scope,
            owner,
            started_ms: n("started"),
            expires_ms: n("expires"),
            data: m.get("data").cloned().unwrap_or_default(),
        }))
    }

    /// The live sessions of an index (`key_of` maps a scope to its hash key); stale
    /// index entries (expired sessions) are removed on the way.
    pub(crate) async fn session_list(
        &self,
        index: &str,
        key_of: impl Fn(&str) -> String,
    ) -> Result<Vec<Session>, StateError> {
        let scopes: Vec<String> = self
            .client
            .zrange(index, 0, -1, None, false, None, false)
            .await
            .map_err(|e| unavailable(&e))?;
        let mut out = Vec::new();
        for scope in scopes {
            match self.session_get(&key_of(&scope)).await? {
                Some(s) => out.push(s),
                None => {
                    let _: u64 = self
                        .client
                        .zrem(index, &scope)
                        .await
                        .map_err(|e| unavailable(&e))?;
                }
            }
        }
        out.sort_by(|a, b| a.scope.cmp(&b.scope));
        Ok(out)
    }

    /// A turn claim (see `coordination.rs`).
    pub(crate) async fn claim_turn(&self, c: &Claim<'_>) -> Result<Turn, StateError> {
        let args = vec![
            Value::from(c.claimant),
            Value::from(c.max.to_string()),
            Value::from(ttl_ms(Some(c.ttl))),
            Value::from(ttl_ms(c.cooldown)),
            Value::from(ttl_ms(Some(ACTIVITY_KEPT))),
        ];
        let keys = vec![c.turn.clone(), c.pile.clone(), c.activity.clone()];
        let r = self
            .eval(&self.scripts.claim, keys, args)
            .await?
            .into_array();
        let tag = r.first().and_then(Value::as_string).unwrap_or_default();
        Ok(match tag.as_str() {
            "mine" => Turn::Mine,
            "cooldown" => Turn::Cooldown,
            _ => {
                let mut by: Vec<String> = r.iter().skip(1).filter_map(Value::as_string).collect();
                by.sort();
                Turn::Taken { by }
            }
        })
    }

    /// The bots that took turns in a channel within the last hour, newest first.
    pub(crate) async fn activity(&self, activity: &str) -> Result<Vec<Activity>, StateError> {
        let t: Vec<Value> = self
            .client
            .custom(
                fred::types::CustomCommand::new_static(
                    "TIME",
                    fred::types::ClusterHash::Random,
                    false,
                ),
                Vec::<Value>::new(),
            )
            .await
            .map_err(|e| unavailable(&e))?;
        let now = num(t.first()) * 1000 + num(t.get(1)) / 1000;
        let min = now.saturating_sub(u64::try_from(ACTIVITY_KEPT.as_millis()).unwrap_or(0));
        let pairs: Vec<(String, f64)> = self
            .client
            .zrangebyscore(activity, min as f64, "+inf", true, None)
            .await
            .map_err(|e| unavailable(&e))?;
        let mut out: Vec<Activity> = pairs
            .into_iter()
            .map(|(bot, at)| Activity {
                bot,
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                at_ms: at as u64,
            })
            .collect();
        out.sort_by(|a, b| b.at_ms.cmp(&a.at_ms).then(a.bot.cmp(&b.bot)));
        Ok(out)
    }
}
