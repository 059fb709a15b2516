--[[
reserve.lua: promote due SCHEDULED messages, then move up to `limit` READY messages to
PROCESSING under a lease, highest priority first, FIFO within a priority.

KEYS
  1 Q:scheduled   2 Q:processing   3 Q:payloads   4 Q:state   5 Q:marker   6 Q:meta
  7..16 Q:ready:0 .. Q:ready:9
ARGV
  1 now            float seconds, or '' for the server's TIME
  2 worker         id of the reserving worker
  3 lease          seconds (> 0)
  4 limit          messages to reserve (1..1000)
  5 promote_limit  due SCHEDULED messages to promote first (0..1000)
EFFECTS
  Promotes due messages (see promote.lua). A paused queue (Q:meta `paused`, see pause.lua)
  hands out nothing: the marker is cleared and next_eta is '' (a due ETA must not make the
  worker come straight back), and resume.lua wakes blocked workers. When the queue has an
  in-flight cap (Q:meta `max_in_flight`, read by the same HMGET as the pause flag), takes at
  most cap - ZCARD processing (nothing at or above the cap).
  Pops up to that many ids from ready:9 down to ready:0 (LMPOP; LPOP per level on Redis 6.2). For each id with a payload: `d` + 1
  (the new delivery count is the fencing token), `w` = worker, ZADD processing now+lease, done
  for the whole batch in one HMGET, one HSET and one ZADD (chunked). An id without a payload
  (deleted behind the queue's back) is dropped with its state; an id popped twice in one call
  is handed out once. A message revoked while PROCESSING (state `k`) or past its expiry (state
  `v` <= now) is leased all the same, but listed apart in the reply: the client ends it through
  end.lua (result REVOKED or EXPIRED) instead of running it, and should it die first, the lease
  runs out and the next reserve flags it again. The check costs a queue that never held an
  expiring or revoked message one more field (`#ends`) in the HMGET the batch makes anyway;
  once it did, one more HMGET of `k` and `v` per batch. The same HMGET reads `#table`, which
  the HSET writes when absent (see TABLE_FIELD in lib.lua). Then the marker: `r` stays set
  while READY still holds work the cap leaves room for, so the next blocked worker wakes
  (chain wake-up), and is removed otherwise (a capped queue is woken again by whatever takes
  a message out of PROCESSING, see wake_below_cap in lib.lua).
  The ETA announcement `s` is cleared: the reply carries the next ETA itself.
  Payloads are not decoded here; the client buries undecodable ones through dead.lua.
RETURNS
  { now, next_eta, lease_deadline, { id, token, why, ... },
    id_1, token_1, retries_1, last_error_1, payload_1, ... }
  next_eta is the earliest remaining ETA in SCHEDULED or '' (the client blocks until then at
  most); the nested list holds the leased messages that must not run, `why` being 'revoked' or
  'expired' (empty in a queue that never held such a message); last_error is '' when no retry
  recorded one; times are strings (fmt) so no precision
  is lost.
]]

local scheduled, processing, payloads, state, marker, meta =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local ready = ready_keys(7)
local now = clock(ARGV[1])
local worker = ARGV[2]
local lease = num(ARGV[3], 'lease')
local limit = num(ARGV[4], 'limit')
local promote_limit = num(ARGV[5], 'promote_limit')
if lease <= 0 or limit < 1 or limit > 1000 or promote_limit < 0 or promote_limit > 1000 then
  error('taskq: reserve needs lease > 0, limit in 1..1000, promote_limit in 0..1000')
end

promote_due(scheduled, state, ready, now, promote_limit)

-- One HMGET reads both queue settings: the in-flight cap and the pause flag.
local settings = redis.call('HMGET', meta, CAP_FIELD, PAUSED_FIELD)
local deadline = now + lease
local result = { fmt(now), '', fmt(deadline), {} }
if settings[2] then
  redis.call('ZREM', marker, 'r', 's')
  return result
end
local room = nil
if settings[1] then
  room = tonumber(settings[1]) - redis.call('ZCARD', processing)
end
local wanted = limit
if room ~= nil then
  wanted = math.max(0, math.min(limit, room))
end
local taken = 0
-- An id listed twice in READY (written behind taskq's back) is handed out once.
local seen = {}
-- Hand out the popped `ids` (those with a payload, once each); the others are dropped.
local function take(ids)
  local found = redis.call('HMGET', payloads, unpack(ids))
  -- `#ends` first: set once the queue ever held an expiring or revoked message (ENDS_FLAG).
  local orphans, live, fields = {}, {}, { ENDS_FLAG }
  for j, id in ipairs(ids) do
    if not found[j] then
      orphans[#orphans + 1] = id
    elseif not seen[id] then
      seen[id] = true
      live[#live + 1] = j
      fields[#fields + 1] = id .. ':d'
      fields[#fields + 1] = id .. ':r'
      fields[#fields + 1] = id .. ':e'
    end
  end
  if #live > 0 then
    -- TABLE_FIELD last: absent while the state hash may still be a listpack.
    fields[#fields + 1] = TABLE_FIELD
    local counters = redis.call('HMGET', state, unpack(fields))
    -- Only a queue that ever held an expiring or revoked message reads `k` and `v`.
    local marks = nil
    if counters[1] then
      local wanted_marks = {}
      for _, j in ipairs(live) do
        wanted_marks[#wanted_marks + 1] = ids[j] .. ':k'
        wanted_marks[#wanted_marks + 1] = ids[j] .. ':v'
      end
      marks = redis.call('HMGET', state, unpack(wanted_marks))
    end
    local owned, leased = {}, {}
    if not counters[#fields] then
      owned[1], owned[2] = TABLE_FIELD, TABLE_VALUE
    end
    local until_ = fmt(deadline)
    for k, j in ipairs(live) do
      local id = ids[j]
      local base = 3 * k - 1
      local token = (tonumber(counters[base]) or 0) + 1
      owned[#owned + 1] = id .. ':d'
      owned[#owned + 1] = token
      owned[#owned + 1] = id .. ':w'
      owned[#owned + 1] = worker
      leased[#leased + 1] = until_
      leased[#leased + 1] = id
      local ending = marks and end_reason(marks[2 * k - 1], marks[2 * k], now) or ''
      if ending ~= '' then
        local flagged = result[4]
        flagged[#flagged + 1] = id
        flagged[#flagged + 1] = token
        flagged[#flagged + 1] = ending
      else
        result[#result + 1] = id
        result[#result + 1] = token
        result[#result + 1] = counters[base + 1] or '0'
        result[#result + 1] = counters[base + 2] or ''
        result[#result + 1] = found[j]
      end
    end
    taken = taken + #live
    each_chunk('HSET', state, owned)
    each_chunk('ZADD', processing, leased)
  end
  if #orphans > 0 then
    clear_state(state, orphans)
  end
end

-- An idle queue costs one EXISTS here, not ten empty pops.
local has_work = any_ready(ready)
if has_work and taken < wanted then
  -- LMPOP (Redis 7+) pops from the highest non-empty priority level in one call, instead of
  -- one LPOP per level; Redis 6.2 has none, so there the first call's error falls back to them.
  -- LMPOP numkeys ready:9 .. ready:0 LEFT COUNT n (the count, last, is set before each call).
  local lmpop = { #ready }
  for i = #ready, 1, -1 do
    lmpop[#lmpop + 1] = ready[i]
  end
  lmpop[#lmpop + 1] = 'LEFT'
  lmpop[#lmpop + 1] = 'COUNT'
  lmpop[#lmpop + 1] = wanted
  local ok, popped = pcall(redis.call, 'LMPOP', unpack(lmpop))
  if ok then
    -- Bounded: each pass empties a level or fills the batch (orphans aside, at most 1000).
    for _ = 1, CHUNK do
      if not popped then
        break
      end
      take(popped[2])
      if taken >= wanted then
        break
      end
      lmpop[#lmpop] = wanted - taken
      popped = redis.call('LMPOP', unpack(lmpop))
    end
  else
    for i = #ready, 1, -1 do
      if taken >= wanted then
        break
      end
      local ids = redis.call('LPOP', ready[i], wanted - taken)
      if ids then
        take(ids)
      end
    end
  end
end

-- The reply carries next_eta, so an ETA announcement (`s`) is no news to this worker, and a
-- worker blocked when it was made has popped it already: drop it, or this worker's next
-- BZPOPMIN would return at once for nothing. A full cap also clears `r`: waking workers that
-- cannot take anything would make them spin.
local fits = room == nil or room - taken > 0
if has_work and fits and any_ready(ready) then
  mark_ready(marker)
  redis.call('ZREM', marker, 's')
else
  redis.call('ZREM', marker, 'r', 's')
end
local next_eta = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
if #next_eta > 0 then
  result[2] = next_eta[2]
end
return result
