//! Lua scripts of the Redis bus.

use std::sync::LazyLock;

use fred::types::scripts::Script;

/// The fence rule every fenced write starts with (KEYS[1] the tenant's fence key,
/// ARGV[1] the writer's fence): refused (`return 0`) if a newer fence is on record,
/// else the writer's fence recorded if it is the newest.
const FENCE_CHECK: &str = "
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local mine = tonumber(ARGV[1])
if mine < cur then return 0 end
if mine > cur then redis.call('SET', KEYS[1], ARGV[1]) end
";

/// Takes what a consumer group has not read yet of the stream `KEYS[2]` for one
/// consumer (`XREADGROUP … >`, at most `ARGV[5]` entries, group `ARGV[6]`, consumer
/// `ARGV[7]`) and returns it, ringing the doorbell (`KEYS[3]`, bound `ARGV[3]`) only
/// if the take was full (more may wait) or could not be made — so entries the
/// writing node takes itself cost no ring and no read. Without a take (`ARGV[5]`
/// 0 or missing) it rings and returns 1.
const TAKE_OR_RING: &str = "
local take = tonumber(ARGV[5] or '0')
local got = nil
if take > 0 then
  local r = redis.pcall('XREADGROUP', 'GROUP', ARGV[6], ARGV[7], 'COUNT', take, 'STREAMS', KEYS[2], '>')
  if type(r) == 'table' and r[1] then got = r[1][2] end
end
if got == nil or #got >= take then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'k', KEYS[2])
end
if got == nil then return 1 end
return got
";

/// Publishes an envelope a gateway owner wrote, if no newer owner's fence is on
/// record for the tenant (else the write is refused: the writer lost its lease and
/// has not noticed yet). Records the writer's fence if it is the newest.
///
/// Then either rings the doorbell (`ring.rs`) for the stream or, when the writing
/// node's workers have room for the tenant, takes the stream's unread entries for
/// them in the same call ([`TAKE_OR_RING`]): an event published and handled on one
/// node costs one round trip, not a write, a ring read and an inbox read.
///
/// KEYS: the tenant's fence key, the inbox stream, the ring. ARGV: fence, encoded
/// envelope, the ring's length bound, `1` if the envelope is published for the first
/// time (a live dispatch: the entry gets field `n`, and its first delivery skips the
/// idempotency lookup) else `0`, then optionally how many entries to take, the
/// consumer group and the consumer. Returns 0 (refused), 1 (written, nothing taken)
/// or the entries taken (`[[id, [field, value, …]], …]`, the written one among them).
pub(crate) static FENCED_XADD: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(fenced_xadd()));

/// [`FENCED_XADD`] carrying an ack batch (`acks.rs`), settled first (even if the
/// write is refused): KEYS and ARGV as [`FENCED_XADD`]'s, the take arguments always
/// given (`0` for none), then the batch's as [`ACK_MANY`]'s. Returns
/// `[FENCED_XADD's reply, ACK_MANY's reply]`.
pub(crate) static FENCED_XADD_ACKS: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(settling_first(&fenced_xadd(), 4, 8)));

fn fenced_xadd() -> String {
    format!(
        r"{FENCE_CHECK}if ARGV[4] == '1' then
  redis.call('XADD', KEYS[2], '*', 'e', ARGV[2], 'n', '1')
else
  redis.call('XADD', KEYS[2], '*', 'e', ARGV[2])
end
{TAKE_OR_RING}"
    )
}

/// A publish script `publish` that first settles an ack batch whose keys start at
/// `KEYS[k0]` and arguments at `ARGV[a0]` ([`SETTLE`]); returns both replies.
fn settling_first(publish: &str, k0: usize, a0: usize) -> String {
    format!(
        "{SETTLE}local failed = settle({k0}, {a0})
local function publish()
{publish}
end
return {{publish(), failed}}
"
    )
}

/// Appends a command to a request stream served on the writing node and takes what
/// the `rest` group has not read yet of it for that node (at most `ARGV[2]`
/// entries): the command reaches the node's `RestActor` without a read. KEYS: the
/// stream. ARGV: the encoded envelope, how many to take, the consumer group, the
/// consumer. Returns the
/// entries taken (`[[id, [field, value, …]], …]`; none if the group is missing).
pub(crate) static XADD_TAKE: LazyLock<Script> = LazyLock::new(|| Script::from_lua(XADD_TAKE_LUA));

/// [`XADD_TAKE`] carrying an ack batch (`acks.rs`), settled first: KEYS and ARGV as
/// [`XADD_TAKE`]'s, then the batch's as [`ACK_MANY`]'s. Returns
/// `[XADD_TAKE's reply, ACK_MANY's reply]`.
pub(crate) static XADD_TAKE_ACKS: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(settling_first(XADD_TAKE_LUA, 2, 5)));

const XADD_TAKE_LUA: &str = "
redis.call('XADD', KEYS[1], '*', 'e', ARGV[1])
local r = redis.pcall('XREADGROUP', 'GROUP', ARGV[3], ARGV[4], 'COUNT', ARGV[2], 'STREAMS', KEYS[1], '>')
if type(r) == 'table' and r[1] then return r[1][2] end
return {}
";

/// Records fence `ARGV[1]` for the tenant unless a newer one is on record: a gateway
/// owner claims its fence before it connects, so the owner it replaced can publish
/// nothing its own live session also receives. KEYS: the tenant's fence key.
/// Returns 1 (ours is the newest) or 0 (refused: a newer owner is on record).
pub(crate) static RAISE_FENCE: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(format!("{FENCE_CHECK}return 1\n")));

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
    Script::from_lua(format!(
        r"{FENCE_CHECK}redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
"
    ))
});

/// Moves due retries of one tenant into its inbox streams, ringing the doorbell once
/// per stream written. A member with a fourth part (`<class>|<id>|<attempt>|<group>`)
/// is a retry for one worker group: its entry carries the field `g` naming that
/// consumer group, and the other groups skip it.
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
    local group = string.match(m, '^[^|]*|[^|]*|[^|]*|(.+)$')
    if group then
      redis.call('XADD', KEYS[3 + class], '*', 'e', data, 'g', group)
    else
      redis.call('XADD', KEYS[3 + class], '*', 'e', data)
    end
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

/// Acknowledges entries of an inbox stream for one consumer group and deletes those
/// no other consumer group of the stream still needs: an entry is still needed by a
/// group that has not read it yet (its id is past the group's `last-delivered-id`)
/// or holds it pending. Atomic, so a group reading meanwhile cannot slip between the
/// check and the delete. (Several worker groups share an inbox stream; with one the
/// bus sends `XACK` + `XDEL` instead.)
///
/// KEYS: the stream. ARGV: the consumer group, then the entry ids. Returns how many
/// entries were deleted.
pub(crate) static ACK_DEL: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r"
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms) or 0, tonumber(seq) or 0
end
local function after(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am > bm or (am == bm and as > bs)
end
local others = {}
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for j = 1, #g, 2 do info[g[j]] = g[j + 1] end
  if info['name'] ~= ARGV[1] then others[#others + 1] = info end
end
local dead = {}
for _, id in ipairs(ids) do
  local needed = false
  for _, info in ipairs(others) do
    if after(id, info['last-delivered-id']) then needed = true break end
    if tonumber(info['pending']) > 0 then
      local p = redis.call('XPENDING', KEYS[1], info['name'], id, id, 1)
      if #p > 0 then needed = true break end
    end
  end
  if not needed then dead[#dead + 1] = id end
end
if #dead > 0 then return redis.call('XDEL', KEYS[1], unpack(dead)) end
return 0
",
    )
});

/// Settles one ack batch in one command: writes the idempotency marks, then for each
/// stream acknowledges its entries for its consumer group and deletes them — the
/// ack batcher's whole pipeline (marks, `XACK`, `XDEL` per stream) as one call, so a
/// batch over a thousand tenants' streams costs Redis one command, not two thousand.
/// Atomic, so no entry is ever acknowledged before its marks. (With several worker
/// groups on the inbox streams it writes only the marks, and [`ACK_DEL`] settles
/// each stream.)
///
/// KEYS: the marks, then the streams. ARGV: the marks' time to live (ms), how many
/// marks, then per stream its consumer group, how many ids, and the ids. Returns, per
/// stream whose `XACK` failed, its index among the streams (from 1) and the error.
pub(crate) static ACK_MANY: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(format!("{SETTLE}return settle(1, 1)")));

/// `settle(k0, a0)`: [`ACK_MANY`]'s work for a batch whose keys start at `KEYS[k0]`
/// (the marks, then the streams, to the last key) and arguments at `ARGV[a0]` (the
/// marks' time to live, how many marks, then per stream its group, how many ids and
/// the ids). Returns, per stream whose `XACK` failed, its index among the batch's
/// streams (from 1) and the error.
const SETTLE: &str = "
local function settle(k0, a0)
  local marks = tonumber(ARGV[a0 + 1])
  for i = k0, k0 + marks - 1 do redis.call('SET', KEYS[i], '1', 'PX', ARGV[a0]) end
  local a = a0 + 2
  local failed = {}
  for s = k0 + marks, #KEYS do
    local group = ARGV[a]
    local n = tonumber(ARGV[a + 1])
    local ids = {}
    for j = 1, n do ids[j] = ARGV[a + 1 + j] end
    a = a + 2 + n
    local acked = redis.pcall('XACK', KEYS[s], group, unpack(ids))
    if type(acked) == 'table' and acked.err then
      failed[#failed + 1] = s - k0 - marks + 1
      failed[#failed + 1] = acked.err
    else
      redis.call('XDEL', KEYS[s], unpack(ids))
    end
  end
  return failed
end
";

/// One claim sweep over many streams in one command: `XAUTOCLAIM` on each stream of
/// KEYS for consumer group `ARGV[1]` and consumer `ARGV[2]`, of entries idle at least
/// `ARGV[3]` ms, at most `ARGV[4]` per stream. A sweep names every stream of every
/// tenant and almost all have nothing to claim: one command per stream cost a node
/// with a thousand tenants thousands of round trips per sweep.
///
/// Returns, per stream with something to report, its index in KEYS (from 1) and
/// either the error (a string: `NOGROUP`, …) or the entries claimed
/// (`[[id, [field, value, …]], …]`; a deleted entry's fields are empty).
pub(crate) static CLAIM_MANY: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r"
local out = {}
for i = 1, #KEYS do
  local r = redis.pcall('XAUTOCLAIM', KEYS[i], ARGV[1], ARGV[2], ARGV[3], '0-0', 'COUNT', ARGV[4])
  if type(r) == 'table' and r.err then
    out[#out + 1] = {i, r.err}
  elseif type(r) == 'table' and type(r[2]) == 'table' and #r[2] > 0 then
    local got = {}
    for _, e in ipairs(r[2]) do
      if type(e) == 'table' then
        if type(e[2]) ~= 'table' then e[2] = {} end
        got[#got + 1] = e
      end
    end
    if #got > 0 then out[#out + 1] = {i, got} end
  end
end
return out
",
    )
});
