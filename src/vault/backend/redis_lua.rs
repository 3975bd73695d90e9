//! The Redis backend's key layout and Lua scripts.
//!
//! # Keys
//! Everything of one tenant shares the hash tag `{provider:tenant}`, so it lands in
//! one Cluster slot and `SCAN <prefix>:{discord:duck}:*` finds it:
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `<prefix>:{p:t}:secret:<name>` | hash | an app secret (worker key): `kind`, `version`, `cur` (ciphertext), `pver`, `pkind`, `prev` |
//! | `<prefix>:{p:t}:cred:<name>` | hash | a provider credential (access key), same fields |
//! | `<prefix>:{p:t}:lease:<name>:<ulid>` | hash | one lease record (no secret); expires a day after its max TTL |
//! | `<prefix>:{p:t}:revoked:<name>:<ulid>` | string, PX | tombstone of a revoked lease, until its maximum |
//! | `<prefix>:{p:t}:excl:<name>` | string, PX | the exclusive holder's lease id |
//! | `<prefix>:{p:t}:fence:<name>` | string | the fencing counter |
//! | `<prefix>:{vault}:expiry` | zset | lease id → expiry (Unix ms), swept by every vault |
//! | `<prefix>:{vault}:principal:<key>` | set | lease ids per principal (index and quota) |
//! | `<prefix>:{vault}:audit` | stream | audit records (capped) |
//! | `<prefix>:{vault}:keycheck:access`, `…:keycheck:worker` | string | ciphertexts proving which keys wrote the store |
//!
//! Provider credentials, exclusive locks and fences have key patterns of their own,
//! so a worker node's Redis user can be kept away from them (`crate::redis_acl`). A
//! vault without the access key never names those keys, not even as a script key it
//! would not touch (Redis checks a script's declared keys against the user's ACL):
//! it passes [`Keys::unused`] in their place.
//!
//! The grant, renew and revoke scripts touch a tenant's keys *and* the global
//! `{vault}` indexes, so they need a single Redis node (or a primary with replicas),
//! not a Cluster. Expiry never relies on keyspace notifications: every vault sweeps
//! the expiry set.

use crate::vault::error::VaultError;
use crate::vault::path::{SecretKind, SecretPath, parse_lease_id};

/// Builds key names under one prefix.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    prefix: String,
    /// Whether this vault holds the access key (and may name credential keys).
    access: bool,
}

impl Keys {
    pub(super) fn new(prefix: &str, access: bool) -> Result<Self, VaultError> {
        if prefix.is_empty()
            || prefix.len() > 64
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
        {
            return Err(VaultError::InvalidPolicy {
                reason: format!(
                    "Redis key prefix {prefix:?} must be 1-64 characters of [A-Za-z0-9_.:-]"
                ),
            });
        }
        Ok(Self {
            prefix: prefix.to_owned(),
            access,
        })
    }

    fn tenant(&self, path: &SecretPath) -> String {
        format!("{}:{{{}:{}}}", self.prefix, path.provider(), path.tenant())
    }

    /// Where a secret of `kind` at `path` is stored.
    pub(super) fn secret(&self, path: &SecretPath, kind: SecretKind) -> String {
        let space = match kind {
            SecretKind::AppSecret => "secret",
            SecretKind::ProviderCredential => "cred",
        };
        format!("{}:{space}:{}", self.tenant(path), path.name())
    }

    /// The key a secret of the *other* kind at `path` would have (a path holds one
    /// kind: writing one removes the other), or [`Keys::unused`] where this vault may
    /// not name it.
    pub(super) fn other_kind(&self, path: &SecretPath, kind: SecretKind) -> String {
        let other = match kind {
            SecretKind::AppSecret => SecretKind::ProviderCredential,
            SecretKind::ProviderCredential => SecretKind::AppSecret,
        };
        if other == SecretKind::ProviderCredential && !self.access {
            return self.unused(path);
        }
        self.secret(path, other)
    }

    /// A key that never exists, in the lease space of `path`'s tenant: what a vault
    /// without the access key passes to a script in place of a credential's lock or
    /// fence (the script touches those only for exclusive leases, which such a vault
    /// never holds; a lock of a swept lease expires on its own).
    pub(super) fn unused(&self, path: &SecretPath) -> String {
        format!("{}:lease:{}:unused", self.tenant(path), path.name())
    }

    pub(super) fn lease(&self, id: &str) -> Result<(SecretPath, String), VaultError> {
        let (path, suffix) = parse_lease_id(id)?;
        let key = format!("{}:lease:{}:{suffix}", self.tenant(&path), path.name());
        Ok((path, key))
    }

    /// The tombstone of a revoked lease.
    pub(super) fn tombstone(&self, id: &str) -> Result<String, VaultError> {
        let (path, suffix) = parse_lease_id(id)?;
        Ok(format!(
            "{}:revoked:{}:{suffix}",
            self.tenant(&path),
            path.name()
        ))
    }

    /// The exclusive lock of `path` ([`Keys::unused`] without the access key).
    pub(super) fn exclusive(&self, path: &SecretPath) -> String {
        if !self.access {
            return self.unused(path);
        }
        format!("{}:excl:{}", self.tenant(path), path.name())
    }

    /// The fencing counter of `path` ([`Keys::unused`] without the access key).
    pub(super) fn fence(&self, path: &SecretPath) -> String {
        if !self.access {
            return self.unused(path);
        }
        format!("{}:fence:{}", self.tenant(path), path.name())
    }

    pub(super) fn expiry(&self) -> String {
        format!("{}:{{vault}}:expiry", self.prefix)
    }

    pub(super) fn principal(&self, principal_key: &str) -> String {
        format!("{}:{{vault}}:principal:{principal_key}", self.prefix)
    }

    pub(super) fn audit(&self) -> String {
        format!("{}:{{vault}}:audit", self.prefix)
    }

    /// The value proving which key of `role` (`access`, `worker`) wrote the store.
    pub(super) fn keycheck(&self, role: &str) -> String {
        format!("{}:{{vault}}:keycheck:{role}", self.prefix)
    }
}

/// KEYS: secret, lease, expiry, principal set, exclusive, fence, the other kind's
/// secret key.
/// ARGV: id, kind, quota, exclusive (1/0), ttl ms, expires ms, max expires ms,
/// record expire-at ms, path, principal key, principal, capability, issued ms,
/// renewable (1/0).
/// Returns `{'ok', version, ciphertext, fence}` or `{'notfound'}`, `{'kind', actual}`,
/// `{'quota'}`, `{'held'}`.
///
/// The fence is `max(INCR counter, server time in µs)`: strictly increasing, and still
/// above every earlier fence after the server restarted empty.
pub(super) const GRANT: &str = r"
local s = redis.call('HMGET', KEYS[1], 'kind', 'version', 'cur')
if not s[1] then
  local o = redis.call('HGET', KEYS[7], 'kind')
  if o then return {'kind', o} end
  return {'notfound'}
end
if s[1] ~= ARGV[2] then return {'kind', s[1]} end
if redis.call('SCARD', KEYS[4]) >= tonumber(ARGV[3]) then return {'quota'} end
local fence = ''
if ARGV[4] == '1' then
  if not redis.call('SET', KEYS[5], ARGV[1], 'NX', 'PX', ARGV[5]) then return {'held'} end
  local f = redis.call('INCR', KEYS[6])
  local t = redis.call('TIME')
  local floor = tonumber(t[1]) * 1000000 + tonumber(t[2])
  if f < floor then
    f = floor
    redis.call('SET', KEYS[6], string.format('%.0f', f))
  end
  fence = string.format('%.0f', f)
end
redis.call('HSET', KEYS[2], 'path', ARGV[9], 'pkey', ARGV[10], 'principal', ARGV[11],
  'capability', ARGV[12], 'version', s[2], 'issued', ARGV[13], 'expires', ARGV[6],
  'max', ARGV[7], 'renewable', ARGV[14], 'fence', fence, 'pidx', KEYS[4], 'skey', KEYS[1])
redis.call('PEXPIREAT', KEYS[2], ARGV[8])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
return {'ok', s[2], s[3], fence}
";

/// KEYS: expiry, then per lease its record and its exclusive lock (`Keys::unused` for
/// a lease that is not exclusive, or on a vault without the access key).
/// ARGV: now ms, then per lease its id and increment ms.
/// Renews each lease on its own terms (one lease's failure does not touch another's)
/// in one round trip. The secret's key comes from the record (`skey`, written at
/// grant), so renewing needs no knowledge of the secret's kind.
/// Returns one reply per lease, in order: `{'ok', expires, current version or ''}` or
/// `{'notfound'}`, `{'expired'}`, `{'notrenewable'}`, `{'lost'}` (compare-and-extend of
/// the exclusive lock failed).
pub(super) const RENEW: &str = r"
local now = tonumber(ARGV[1])
local function renew(lease, excl, id, inc)
  local r = redis.call('HMGET', lease, 'expires', 'max', 'renewable', 'fence', 'skey')
  if not r[1] then return {'notfound'} end
  if tonumber(r[1]) <= now then return {'expired'} end
  if r[3] ~= '1' then return {'notrenewable'} end
  local new = math.min(now + inc, tonumber(r[2]))
  if r[4] ~= '' then
    if redis.call('GET', excl) ~= id then return {'lost'} end
    redis.call('PEXPIRE', excl, string.format('%.0f', math.max(1, new - now)))
  end
  local ns = string.format('%.0f', new)
  redis.call('HSET', lease, 'expires', ns)
  redis.call('ZADD', KEYS[1], ns, id)
  local v = false
  if r[5] then v = redis.call('HGET', r[5], 'version') end
  return {'ok', ns, v or ''}
end
local out = {}
for i = 1, (#KEYS - 1) / 2 do
  out[i] = renew(KEYS[2 * i], KEYS[2 * i + 1], ARGV[2 * i], tonumber(ARGV[2 * i + 1]))
end
return out
";

/// KEYS: lease, expiry, exclusive, tombstone. ARGV: id, expired-at ms or '' (a
/// revocation), now ms, tombstone-until ms (used when the record is already gone).
/// Removes the lease (only if expired by then, when given), its indexes and, if it
/// still holds it, the exclusive lock (compare-and-delete). A revocation leaves a
/// tombstone until the lease's maximum, so a holder that renews it later learns it
/// was revoked rather than having its record restored. Returns the removed record's
/// fields, or `{}`.
pub(super) const REVOKE: &str = r"
local r = redis.call('HGETALL', KEYS[1])
local h = {}
for i = 1, #r, 2 do h[r[i]] = r[i + 1] end
if ARGV[2] == '' then
  local ttl = tonumber(h['max'] or ARGV[4]) - tonumber(ARGV[3])
  if ttl > 0 then
    redis.call('SET', KEYS[4], '1', 'PX', string.format('%.0f', ttl))
  end
end
if #r == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return {}
end
if ARGV[2] ~= '' and tonumber(h['expires']) > tonumber(ARGV[2]) then return {} end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if h['pidx'] then redis.call('SREM', h['pidx'], ARGV[1]) end
if h['fence'] ~= '' and redis.call('GET', KEYS[3]) == ARGV[1] then
  redis.call('DEL', KEYS[3])
end
return r
";

/// KEYS: lease, expiry, exclusive, secret, tombstone, fence, principal set.
/// ARGV: id, now ms, increment ms, record expire-at grace ms, path, principal key,
/// principal, capability, version, issued ms, holder's expiry ms, max expires ms,
/// renewable (1/0), fence or ''.
/// Re-creates a lease record the store lost, from its holder's view, and renews it.
/// Returns what RENEW returns, plus `{'revoked'}` (tombstone) and `{'exists'}` (the
/// record is there: renew it normally). An exclusive lease takes its lock back only if
/// it is free (checked and set inside the script, so atomically `NX`), and the
/// fencing counter is raised to at least the holder's fence.
pub(super) const RESTORE: &str = r"
if redis.call('EXISTS', KEYS[5]) == 1 then return {'revoked'} end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
local now = tonumber(ARGV[2])
if tonumber(ARGV[11]) <= now then return {'expired'} end
if ARGV[13] ~= '1' then return {'notrenewable'} end
local new = math.min(now + tonumber(ARGV[3]), tonumber(ARGV[12]))
local ttl = string.format('%.0f', math.max(1, new - now))
if ARGV[14] ~= '' then
  local holder = redis.call('GET', KEYS[3])
  if holder and holder ~= ARGV[1] then return {'lost'} end
  redis.call('SET', KEYS[3], ARGV[1], 'PX', ttl)
  local f = tonumber(redis.call('GET', KEYS[6]) or '0')
  if f < tonumber(ARGV[14]) then redis.call('SET', KEYS[6], ARGV[14]) end
end
local ns = string.format('%.0f', new)
redis.call('HSET', KEYS[1], 'path', ARGV[5], 'pkey', ARGV[6], 'principal', ARGV[7],
  'capability', ARGV[8], 'version', ARGV[9], 'issued', ARGV[10], 'expires', ns,
  'max', ARGV[12], 'renewable', ARGV[13], 'fence', ARGV[14], 'pidx', KEYS[7], 'skey', KEYS[4])
redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', tonumber(ARGV[12]) + tonumber(ARGV[4])))
redis.call('ZADD', KEYS[2], ns, ARGV[1])
redis.call('SADD', KEYS[7], ARGV[1])
local v = redis.call('HGET', KEYS[4], 'version')
return {'ok', ns, v or ''}
";

/// KEYS: secret, the other kind's secret key. ARGV: expected version ('0' for
/// none), new version, kind, ciphertext, TTL ms ('0': none). A path holds one kind:
/// the other kind's value, if any, is removed. Compare-and-set of a new current version; the old one moves to
/// `prev`; the record then expires after the TTL unless written again. Returns 1, or
/// 0 if someone else wrote first.
pub(super) const PUT: &str = r"
local v = redis.call('HGET', KEYS[1], 'version') or '0'
if v ~= ARGV[1] then return 0 end
if v ~= '0' then
  local c = redis.call('HMGET', KEYS[1], 'cur', 'kind')
  redis.call('HSET', KEYS[1], 'prev', c[1], 'pkind', c[2], 'pver', v)
end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'kind', ARGV[3], 'cur', ARGV[4])
redis.call('DEL', KEYS[2])
if ARGV[5] ~= '0' then
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
else
  redis.call('PERSIST', KEYS[1])
end
return 1
";
