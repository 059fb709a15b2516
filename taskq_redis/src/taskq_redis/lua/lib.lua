--[[
lib.lua: helpers shared by every taskq script.

scripts.py prepends the definitions of this file a script uses (scriptlib.py) to it before
registering it, so every script is still one self-contained EVAL body; keep each helper a
top-level `local function` or `local NAME =` so it can be picked. The helpers touch only keys
their caller passes in (all of them declared in the caller's KEYS); nothing here runs on its
own.

Key layout of one queue (all under the queue's hash tag, `Q` = `<prefix>:{<queue>}`):
  Q:ready:<p>   LIST  ids waiting to run at priority p (0..9, larger first); RPUSH back, LPOP front
  Q:scheduled   ZSET  id -> ETA (seconds since the epoch)
  Q:processing  ZSET  id -> lease deadline (seconds since the epoch)
  Q:dead        ZSET  id -> death sequence number (strict "most recent first", even within one
                      clock tick); the death time itself is state field `<id>:t`
  Q:payloads    HASH  id -> message, written once by send, deleted by ack and purge: the compact
                      form of codec.stored_payload from send and send_many (it starts with
                      `"`), a whole message's JSON from flows and periodic ticks
  Q:state       HASH  `<id>:<c>` mutable per-message fields, c in:
                        d delivery count = fencing token    r retries used
                        l lost leases                       w owner worker id (PROCESSING only)
                        e last error                        m max_deliveries (absent = 5)
                        p priority (absent = 0)             x dead reason
                        t died at                           u unique key held until done
                        v expires at (absent = never)       k revoked while PROCESSING
                      plus `#dead_seq`, the counter behind Q:dead's scores, `#table` (see
                      TABLE_FIELD), and `#ends`, set
                      once the queue holds a message with `v` or `k` (reserve checks those
                      fields only then)
  Q:marker      ZSET  wake-up hint for BZPOPMIN: `r` -> 0 while READY may hold work (and the
                      in-flight cap leaves room), `s` -> earliest ETA a blocked worker should
                      wake for
  Q:meta        HASH  queue settings: `max_in_flight` (absent = no cap), see set_queue_limit.lua;
                      `paused` (present = reserve hands out nothing), see pause.lua
  Q:unique      HASH  unique key -> id of the message holding it (see send.lua)
  Q:unique_until ZSET unique key -> when its hold ends (broker time); an entry whose time has
                      come is free and is trimmed by the next send with a unique key
  Q:periodic    HASH  periodic schedule key -> latest claimed tick (see claim_tick.lua)
  Q:workers     ZSET  worker id -> last heartbeat
  Q:worker_info HASH  worker id -> WorkerInfo JSON
  Q:worker_since HASH worker id -> start of its current heartbeat stretch (the first heartbeat
                      after a gap longer than the one the worker declared), see heartbeat.lua
  Q:done        HASH  ack tombstones, current generation: id -> token of the delivery that
                      acked it, plus `#born` (when the generation began), `#until` (the
                      latest lease deadline of its tombstones) and `#table` (TABLE_FIELD)
  Q:done_old    HASH  the previous generation of Q:done, dropped when the current one is
                      rotated in (see remember_acked)
  Q:chord:<cb>  HASH  a chord's join record, one per chord whose callback (id <cb>) is in this
                      queue: `#size`, `#cb` callback payload, `#n` members joined, `#failed`,
                      `#t` created, `#ids` member ids (JSON list), `m:<index>` -> member result
                      JSON (see flow.lua); gone once it fired
  Q:chords      ZSET  callback id -> created, for each chord waiting for members (flow.lua;
                      read by chords.lua); entries older than CHORD_INDEX_RETENTION are trimmed
  Q:chords_failed ZSET callback id -> failed at, for chords a dead member failed; the newest
                      CHORD_FAILED_KEPT are kept
  Q:history     HASH  outcomes per minute of broker time, `<minute>:<kind>` -> count, where
                      minute = floor(now / 60) and kind is ok (acked), fail (dead), retry,
                      expired or revoked; plus `#minute`, the newest minute counted (see
                      count_outcome), and the totals `#expired` and `#revoked` (count_ended)
  Q:terminate:<worker> LIST ids revoke.lua asks `worker` to terminate, popped by that worker's
                      BLPOP; expires TERMINATE_TTL seconds after the last request

Keys outside any queue's tag, one per script call (see store_result.lua, rate_limit.lua; flow.lua
names several, see its header):
  <prefix>:result:{<id>}  LIST  exactly one element, `<expires_at> <result>` (codec.stored_result's
                          form, or a whole TaskResult JSON from flow.lua); PEXPIRE ttl
  <prefix>:{rl:<name>}:log ZSET grant member -> grant time, for the sliding-window limiter

Times are float seconds. Every number that goes back to Redis or to the client is formatted
with `fmt` (17 significant digits): Lua's own number-to-string keeps 14, which would round a
lease deadline like 1700000000.123456 to a different double than the one Python computed.
]]

local unpack = unpack or table.unpack
-- Largest argument list handed to one command through unpack; Lua's C stack allows ~8000.
local CHUNK = 1000
local STATE_FIELDS = { 'd', 'r', 'l', 'w', 'e', 'm', 'p', 'x', 't', 'u', 'v', 'k' }
-- max_deliveries the send scripts leave out of the state (no `m` field): Message's default,
-- which callers of recover_expired.lua pass as the value of a missing `m`, so the common
-- message costs no state field while it waits (tests/redis/test_memory.py ties the two).
local DEFAULT_MAX_DELIVERIES = 5

-- The state fields a new message gets besides its unique key and expiry: `m` unless
-- `max_deliveries` is the default, `p` unless `priority` is 0. Appended to `fields` as field,
-- value pairs.
local function new_state(fields, id, max_deliveries, priority)
  if tonumber(max_deliveries) ~= DEFAULT_MAX_DELIVERIES then
    fields[#fields + 1] = id .. ':m'
    fields[#fields + 1] = max_deliveries
  end
  if tonumber(priority) ~= 0 then
    fields[#fields + 1] = id .. ':p'
    fields[#fields + 1] = priority
  end
  return fields
end

-- A hash field whose value is longer than the 64 bytes Redis keeps in a hash's listpack
-- encoding, so the hash is a hashtable from then on: every listpack field lookup is a linear
-- scan. Q:state gets it at the first reserve (messages with default settings have no state
-- while they wait, so in a steady drain Q:state holds only the `d` and `w` of the few messages
-- in flight, and the hot-path scripts look up and delete about 15 fields per message there),
-- and each generation of ack tombstones when it begins.
local TABLE_FIELD = '#table'
local TABLE_VALUE = 'a value over 64 bytes keeps this hash in its hashtable encoding (lib.lua)'

-- Q:meta field of the in-flight cap.
local CAP_FIELD = 'max_in_flight'
-- Q:meta field present while the queue is paused (pause.lua, resume.lua).
local PAUSED_FIELD = 'paused'
-- Q:state field set (never cleared) once the queue holds a message with an expiry (`v`) or a
-- revocation (`k`): reserve and the acks read or delete those fields only in queues that
-- have it, so queues that never use either pay one more field in an HMGET per call.
local ENDS_FLAG = '#ends'


local function fmt(x)
  return string.format('%.17g', x)
end

-- A numeric ARGV, or an error naming it (raised before any write, so nothing is half done).
local function num(value, name)
  local n = tonumber(value)
  if n == nil then
    error('taskq: ' .. name .. ' must be a number, got ' .. tostring(value))
  end
  return n
end

-- An optional numeric ARGV kept as sent (it is stored as is): '' when absent or empty, else
-- checked like num.
local function optional_num(value, name)
  value = value or ''
  if value ~= '' then
    num(value, name)
  end
  return value
end

-- The test clock's `now` when given, else the server's TIME (immune to worker clock skew).
local function clock(arg)
  if arg ~= nil and arg ~= '' then
    return num(arg, 'now')
  end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

-- Run `command key item...` over `items` in chunks of CHUNK, so no unpack is too large.
local function each_chunk(command, key, items)
  for i = 1, #items, CHUNK do
    redis.call(command, key, unpack(items, i, math.min(i + CHUNK - 1, #items)))
  end
end

-- LPUSH `ids` so that they end up at the front of `key` in their given order.
local function push_front(key, ids)
  local reversed = {}
  for i = #ids, 1, -1 do
    reversed[#reversed + 1] = ids[i]
  end
  each_chunk('LPUSH', key, reversed)
end

-- Delete every state field of each id (chunked HDEL).
local function clear_state(state, ids)
  local fields = {}
  for _, id in ipairs(ids) do
    for _, c in ipairs(STATE_FIELDS) do
      fields[#fields + 1] = id .. ':' .. c
    end
  end
  each_chunk('HDEL', state, fields)
end

-- State fields a message in PROCESSING may hold apart from `u`, `v` and `k`: `x` and `t` belong
-- to DEAD only (requeue_dead deletes them).
local HELD_FIELDS = { 'd', 'w', 'r', 'l', 'e', 'm', 'p' }

-- Delete the state of ids leaving PROCESSING (chunked HDEL): HELD_FIELDS of each, `u` of those
-- whose `uniques[i]` is set, and `v` and `k` of all when `ends` (the queue's `#ends` flag) is
-- set. Fewer fields than clear_state, for the per-task hot path of the ack scripts.
local function clear_held(state, ids, uniques, ends)
  local fields = {}
  for i, id in ipairs(ids) do
    for _, c in ipairs(HELD_FIELDS) do
      fields[#fields + 1] = id .. ':' .. c
    end
    if uniques[i] then
      fields[#fields + 1] = id .. ':u'
    end
    if ends then
      fields[#fields + 1] = id .. ':v'
      fields[#fields + 1] = id .. ':k'
    end
  end
  each_chunk('HDEL', state, fields)
end

-- Priority stored at send, as a 1-based index into a table of the ten READY keys.
-- A message written without state (a planted payload) counts as priority 0.
local function ready_index(state, id)
  local p = tonumber(redis.call('HGET', state, id .. ':p'))
  if p == nil or p < 0 or p > 9 then
    return 1
  end
  return math.floor(p) + 1
end

-- Group ids by their READY list, keeping their order within each group.
local function by_ready_list(state, ids)
  local groups = {}
  for _, id in ipairs(ids) do
    local index = ready_index(state, id)
    groups[index] = groups[index] or {}
    table.insert(groups[index], id)
  end
  return groups
end

-- Push ids to the back of their READY lists, in their given order.
local function to_ready_back(state, ready, ids)
  for index, group in pairs(by_ready_list(state, ids)) do
    each_chunk('RPUSH', ready[index], group)
  end
end

-- Push ids to the front of their READY lists, each list starting with them in their given order.
local function to_ready_front(state, ready, ids)
  for index, group in pairs(by_ready_list(state, ids)) do
    push_front(ready[index], group)
  end
end

-- One EXISTS over the ten READY lists: Redis deletes a list when it empties, so this is
-- "does READY hold anything" in one command instead of ten LLENs.
local function any_ready(ready)
  return redis.call('EXISTS', unpack(ready)) > 0
end

-- Wake one blocked worker: READY has work.
local function mark_ready(marker)
  redis.call('ZADD', marker, 0, 'r')
end

-- Let a blocked worker know an ETA; LT keeps the earliest one already announced.
local function mark_eta(marker, eta)
  redis.call('ZADD', marker, 'LT', fmt(eta), 's')
end

-- How many more messages PROCESSING may take under the queue's in-flight cap (may be <= 0 when
-- the cap was lowered below what is in flight), or nil when the queue has no cap.
local function room_under_cap(meta, processing)
  local cap = tonumber(redis.call('HGET', meta, CAP_FIELD))
  if cap == nil then
    return nil
  end
  return cap - redis.call('ZCARD', processing)
end

-- A message just left PROCESSING: on a capped queue, a worker blocked because the cap was
-- reached must wake if READY has work that now fits. Uncapped queues need nothing (their marker
-- is set whenever READY gains work and kept while it holds some); the check costs one HGET.
local function wake_below_cap(meta, processing, marker, ready)
  local room = room_under_cap(meta, processing)
  if room ~= nil and room > 0 and any_ready(ready) then
    mark_ready(marker)
  end
end

-- Fencing: when `id` is in PROCESSING, owned by `worker`, under delivery count `token`, its
-- lease deadline (a number, so true in a condition); false otherwise. With `with_unique`, the
-- unique key the message holds until done (state `u`, or false) comes second and the queue's
-- `#ends` flag (ENDS_FLAG) third, read by the same HMGET.
local function holds(processing, state, id, token, worker, with_unique)
  local deadline = redis.call('ZSCORE', processing, id)
  if not deadline then
    return false
  end
  local fields
  if with_unique then
    fields = redis.call('HMGET', state, id .. ':d', id .. ':w', id .. ':u', ENDS_FLAG)
  else
    fields = redis.call('HMGET', state, id .. ':d', id .. ':w')
  end
  if tonumber(fields[1]) == tonumber(token) and fields[2] == worker then
    return tonumber(deadline), fields[3], fields[4]
  end
  return false
end

-- ---- unique keys (see send.lua) ---------------------------------------------------------------
-- Expired holds trimmed by one send with a unique key, so Q:unique stays bounded by the keys
-- held at once plus what the sends trim.
local UNIQUE_TRIM = 100

-- Drop up to UNIQUE_TRIM holds whose time has come (at or before `now`).
local function trim_unique(unique, unique_until, now)
  local stale = redis.call('ZRANGEBYSCORE', unique_until, '-inf', fmt(now), 'LIMIT', 0, UNIQUE_TRIM)
  if #stale > 0 then
    redis.call('HDEL', unique, unpack(stale))
    redis.call('ZREM', unique_until, unpack(stale))
  end
end

-- Release unique key `key` when `id` still holds it (after its TTL another message may).
local function release_unique(unique, unique_until, key, id)
  -- flow.lua passes no unique keys: workflow messages are sent by start_flow, never with one.
  if key and unique and redis.call('HGET', unique, key) == id then
    redis.call('HDEL', unique, key)
    redis.call('ZREM', unique_until, key)
  end
end

-- A generation of ack tombstones becomes the old one once it is this old (seconds), provided
-- every lease the old one covered has run out; so a tombstone lives at least until the lease
-- deadline its delivery had when it was acked (the longest a worker retries an ack).
local DONE_ROTATE_SECONDS = 10

-- What an ack tombstone holds: the delivery count (token) of the delivery that acked the id.
-- A token is never handed out twice for one id (the count only grows), so it names the
-- delivery on its own.
local function acked_mark(token)
  return token
end

-- True when the delivery `mark` (acked_mark) already acked `id`: an ack retried after its
-- reply was lost finds its own earlier ack applied.
local function acked_before(done, done_old, id, mark)
  return redis.call('HGET', done, id) == mark or redis.call('HGET', done_old, id) == mark
end

-- Write ack tombstones: `marks` is a flat id, mark, id, mark... list, `deadline` the latest
-- lease deadline among them, `now` the caller's clock (the one its leases were given on).
-- Rotates the generations first when the current one is old enough and the old one covers no
-- running lease any more (UNLINK frees it in the background).
local function remember_acked(done, done_old, marks, deadline, now)
  local head = redis.call('HMGET', done, '#born', '#until')
  local born, keep = tonumber(head[1]), tonumber(head[2]) or 0
  if born == nil then
    born = now
    marks[#marks + 1] = TABLE_FIELD
    marks[#marks + 1] = TABLE_VALUE
  elseif now - born >= DONE_ROTATE_SECONDS then
    local old_until = tonumber(redis.call('HGET', done_old, '#until'))
    if old_until == nil or old_until <= now then
      redis.call('UNLINK', done_old)
      redis.call('RENAME', done, done_old)
      born, keep = now, 0
      marks[#marks + 1] = TABLE_FIELD
      marks[#marks + 1] = TABLE_VALUE
    end
  end
  marks[#marks + 1] = '#born'
  marks[#marks + 1] = fmt(born)
  marks[#marks + 1] = '#until'
  marks[#marks + 1] = fmt(math.max(keep, deadline))
  -- Chunks of CHUNK (even) items keep each field with its value.
  each_chunk('HSET', done, marks)
end

-- Put `id` (already removed from its previous set) in DEAD with `reason`; payload and counters
-- stay for inspection and requeue. A unique key it held until done is released (the task died).
local function bury(dead, state, id, reason, now, unique, unique_until)
  local seq = redis.call('HINCRBY', state, '#dead_seq', 1)
  redis.call('ZADD', dead, seq, id)
  redis.call('HSET', state, id .. ':x', reason, id .. ':t', fmt(now))
  local key = redis.call('HGET', state, id .. ':u')
  redis.call('HDEL', state, id .. ':w', id .. ':u')
  release_unique(unique, unique_until, key, id)
end

-- Take a held `id` out of PROCESSING and back into the queue without the owner: READY (the
-- back of `ready_list`) when delay <= 0, else SCHEDULED at now + delay. Wakes a worker either
-- way: READY gained work, or (capped queue) PROCESSING gained room. Counts nothing itself.
local function send_back(processing, state, scheduled, marker, meta, ready, id, now, delay)
  redis.call('ZREM', processing, id)
  redis.call('HDEL', state, id .. ':w')
  if delay > 0 then
    local eta = now + delay
    redis.call('ZADD', scheduled, fmt(eta), id)
    mark_eta(marker, eta)
    wake_below_cap(meta, processing, marker, ready)
  else
    redis.call('RPUSH', ready[ready_index(state, id)], id)
    mark_ready(marker)
  end
end

-- Move up to `limit` due ids from SCHEDULED to the back of their READY lists, earliest ETA
-- first (equal ETAs in id order, which is creation order for UUIDv7). Returns how many moved.
local function promote_due(scheduled, state, ready, now, limit)
  local ids = redis.call('ZRANGEBYSCORE', scheduled, '-inf', fmt(now), 'LIMIT', 0, limit)
  if #ids == 0 then
    return 0
  end
  each_chunk('ZREM', scheduled, ids)
  to_ready_back(state, ready, ids)
  return #ids
end

-- The ten READY keys, passed as KEYS[first] .. KEYS[first + 9] in priority order 0..9.
local function ready_keys(first)
  local ready = {}
  for i = 0, 9 do
    ready[i + 1] = KEYS[first + i]
  end
  return ready
end

-- ---- history (per-minute outcome counters for the dashboard) -------------------------------
-- Minutes of history kept in Q:history; schemas.HISTORY_MINUTES on the Python side.
local HISTORY_MINUTES = 120
local HISTORY_KINDS = { 'ok', 'fail', 'retry', 'expired', 'revoked' }

-- Count `n` outcomes of `kind` ('ok', 'fail', 'retry', 'expired', 'revoked') in the minute of `now` in Q:history.
-- The common case is one HINCRBY. The first count of a kind in a new minute also moves
-- `#minute` and deletes the minutes that fell out of the last HISTORY_MINUTES (bounded: at
-- most HISTORY_MINUTES minutes, about once per minute), so the hash never holds more than
-- HISTORY_MINUTES * 5 + 3 fields.
local function count_outcome(history, kind, n, now)
  if n <= 0 then
    return
  end
  local minute = math.floor(now / 60)
  local field = minute .. ':' .. kind
  if redis.call('HINCRBY', history, field, n) > n then
    return -- counted before in this minute, so this minute's trimming is done
  end
  local newest = tonumber(redis.call('HGET', history, '#minute'))
  if newest == nil or minute > newest then
    redis.call('HSET', history, '#minute', minute)
    if newest ~= nil then
      local stale = {}
      for m = newest - HISTORY_MINUTES + 1, math.min(newest, minute - HISTORY_MINUTES) do
        for _, k in ipairs(HISTORY_KINDS) do
          stale[#stale + 1] = m .. ':' .. k
        end
      end
      each_chunk('HDEL', history, stale)
    end
  elseif minute <= newest - HISTORY_MINUTES then
    redis.call('HDEL', history, field) -- older than the kept window (a test clock moved back)
  end
end

-- A message ended unrun: `kind` is 'expired' or 'revoked'. Counted per minute and in the
-- total `#<kind>`, which trimming never touches (taskq status shows it).
local function count_ended(history, kind, n, now)
  if n > 0 then
    redis.call('HINCRBY', history, '#' .. kind, n)
    count_outcome(history, kind, n, now)
  end
end
-- ---- end of history ---------------------------------------------------------------------------

-- ---- revoke and expiry ------------------------------------------------------------------------
-- Seconds a worker's termination request list lives after the last request (a worker that is
-- gone never pops it).
local TERMINATE_TTL = 3600

-- Why a message about to be handed out must not run: 'revoked' when state `k` is set,
-- 'expired' when its state `v` (expires at) is at or before `now`, else ''. Reads only the
-- two fields the caller fetched, so a message without either costs nothing more.
local function end_reason(revoked, expires, now)
  if revoked then
    return 'revoked'
  end
  if expires and tonumber(expires) <= now then
    return 'expired'
  end
  return ''
end
