//! Lua scripts of the Redis bus.

use std::sync::LazyLock;

use fred::types::scripts::Script;

/// Moves due retries of one tenant into its inbox streams.
///
/// KEYS: retry zset, retry data hash, then the five inbox streams in priority order.
/// ARGV: now (ms), max entries to move. Returns how many were moved.
pub(crate) static MOVE_DUE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(due) do
  local data = redis.call('HGET', KEYS[2], m)
  if data then
    local class = tonumber(string.sub(m, 1, 1))
    redis.call('XADD', KEYS[3 + class], '*', 'e', data)
  end
  redis.call('ZREM', KEYS[1], m)
  redis.call('HDEL', KEYS[2], m)
end
return #due
",
    )
});
