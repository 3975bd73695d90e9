//! Lua scripts of the Redis bus.

use std::sync::LazyLock;

use fred::types::scripts::Script;

/// Publishes an envelope a gateway owner wrote, if no newer owner's fence is on
/// record for the tenant (else the write is refused: the writer lost its lease and
/// has not noticed yet). Records the writer's fence if it is the newest.
///
/// Rings the doorbell (`ring.rs`) for the stream once the entry is in.
///
/// KEYS: the tenant's fence key, the inbox stream, the ring. ARGV: fence, encoded
/// envelope, the ring's length bound. Returns 1 (written) or 0 (refused).
pub(crate) static FENCED_XADD: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r"
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local mine = tonumber(ARGV[1])
if mine < cur then return 0 end
if mine > cur then redis.call('SET', KEYS[1], ARGV[1]) end
redis.call('XADD', KEYS[2], '*', 'e', ARGV[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'k', KEYS[2])
return 1
",
    )
});

/// Fires one slot of a schedule: claims the slot (`SET NX PX`), records it as the
/// schedule's last fired slot if it is the newest, appends the job envelope to the
/// inbox and rings the doorbell — all or nothing, so a claimed slot is a published
/// one.
///
/// KEYS: the slot's claim, the schedule's last fired slot, the inbox stream, the
/// ring. ARGV: the envelope id (the claim's value), how long the claim is kept (ms),
/// the slot (ms), the encoded envelope, the ring's length bound. Returns 1 (fired) or
/// 0 (the slot was claimed already).
pub(crate) static JOB_XADD: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r"
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
local last = tonumber(redis.call('GET', KEYS[2]) or '-1')
if tonumber(ARGV[3]) > last then redis.call('SET', KEYS[2], ARGV[3]) end
redis.call('XADD', KEYS[3], '*', 'e', ARGV[4])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*', 'k', KEYS[3])
return 1
",
    )
});

/// [`FENCED_XADD`] for a plain key: `SET key value PX ttl` if no newer fence is on
/// record. KEYS: fence key, key. ARGV: fence, value, ttl ms. Returns 1 or 0.
pub(crate) static FENCED_SET: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r"
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local mine = tonumber(ARGV[1])
if mine < cur then return 0 end
if mine > cur then redis.call('SET', KEYS[1], ARGV[1]) end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
",
    )
});

/// Moves due retries of one tenant into its inbox streams, ringing the doorbell once
/// per stream written.
///
/// KEYS: retry zset, retry data hash, the five inbox streams in priority order, the
/// ring. ARGV: now (ms), max entries to move, the ring's length bound. Returns how
/// many were moved.
pub(crate) static MOVE_DUE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local written = {}
for _, m in ipairs(due) do
  local data = redis.call('HGET', KEYS[2], m)
  if data then
    local class = tonumber(string.sub(m, 1, 1))
    redis.call('XADD', KEYS[3 + class], '*', 'e', data)
    written[3 + class] = true
  end
  redis.call('ZREM', KEYS[1], m)
  redis.call('HDEL', KEYS[2], m)
end
for k, _ in pairs(written) do
  redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[3], '*', 'k', KEYS[k])
end
return #due
",
    )
});
