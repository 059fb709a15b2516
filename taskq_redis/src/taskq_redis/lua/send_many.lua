--[[
send_many.lua: many new messages of one queue enter it, in READY or (with an ETA) in SCHEDULED.

KEYS
  1 Q:payloads   2 Q:state   3 Q:scheduled   4 Q:marker
  5..14 Q:ready:0 .. Q:ready:9
  15..  optional: the result key of each message, in ARGV order; a written message's is deleted
        (the producer chose the ids, so earlier messages may have left results)
ARGV
  1 now   float seconds, or '' for the server's TIME
  2..     id, payload, priority (0..9), max_deliveries (>= 1), eta ('' for "ready now"),
          expires ('' for "never") sextuples, at most 1000 of them, as for send.lua
EFFECTS
  The same as send.lua for each message in turn, in a few batched commands: a message whose id
  is already known to the queue (its payload exists, or it came earlier in this call) is
  skipped, so a retried batch cannot duplicate anything. The others: HSET payloads and state
  (`m` when max_deliveries is not the default 5, `p` when not 0, `v` and the queue's `#ends`
  when it expires; see new_state in lib.lua), chunked; DEL their result keys when given;
  RPUSH to the READY list of their priority in the given order, or ZADD scheduled with the
  ETA. Marks READY once when anything went to READY, and announces the earliest new ETA.
  Every argument is checked before the first write, so a bad one leaves nothing half done.
RETURNS
  { written_1, written_2, ... }: 1 when written, 0 when the id was already known, in order.
]]

local payloads, state, scheduled, marker = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ready = ready_keys(5)
local count = (#ARGV - 1) / 6
if count ~= math.floor(count) or count > 1000 then
  error(
    'taskq: send_many needs at most 1000 id/payload/priority/max_deliveries/eta/expires sextuples'
  )
end

-- Check every argument first (plain tonumber: this loop runs once per message).
local ids, priorities = {}, {}
local any_eta = false
for i = 1, count do
  local base = 6 * i - 4
  ids[i] = ARGV[base]
  local p = tonumber(ARGV[base + 2])
  if p == nil or p < 0 or p > 9 or p % 1 ~= 0 then
    error('taskq: priority must be an integer 0..9, got ' .. tostring(ARGV[base + 2]))
  end
  priorities[i] = p
  if tonumber(ARGV[base + 3]) == nil then
    error('taskq: max_deliveries must be a number, got ' .. tostring(ARGV[base + 3]))
  end
  if ARGV[base + 4] ~= '' then
    if tonumber(ARGV[base + 4]) == nil then
      error('taskq: eta must be a number, got ' .. tostring(ARGV[base + 4]))
    end
    any_eta = true
  end
  if ARGV[base + 5] ~= '' and tonumber(ARGV[base + 5]) == nil then
    error('taskq: expires must be a number, got ' .. tostring(ARGV[base + 5]))
  end
end
-- The clock is read only when some message has an ETA.
local now = nil
if any_eta then
  now = clock(ARGV[1])
end

local written = {}
if count == 0 then
  return written
end
local known = {}
for i = 1, count, CHUNK do
  local last = math.min(i + CHUNK - 1, count)
  local found = redis.call('HMGET', payloads, unpack(ids, i, last))
  for j = i, last do
    known[j] = found[j - i + 1]
  end
end

local with_results = #KEYS > 14
if with_results and #KEYS ~= 14 + count then
  error('taskq: send_many needs one result key per message or none')
end
local hash, fields, lists, seen, stale = {}, {}, {}, {}, {}
local earliest = nil
local any_ready = false
local any_expires = false
for i = 1, count do
  local id = ids[i]
  if known[i] or seen[id] then
    written[i] = 0
  else
    seen[id] = true
    written[i] = 1
    if with_results then
      stale[#stale + 1] = KEYS[14 + i]
    end
    local base = 6 * i - 4
    local n = #hash
    hash[n + 1] = id
    hash[n + 2] = ARGV[base + 1]
    local p = priorities[i]
    new_state(fields, id, ARGV[base + 3], p)
    if ARGV[base + 5] ~= '' then
      fields[#fields + 1] = id .. ':v'
      fields[#fields + 1] = ARGV[base + 5]
      any_expires = true
    end
    local eta = ARGV[base + 4] ~= '' and tonumber(ARGV[base + 4]) or nil
    if eta ~= nil and eta > now then
      redis.call('ZADD', scheduled, fmt(eta), id)
      if earliest == nil or eta < earliest then
        earliest = eta
      end
    else
      local list = lists[p + 1]
      if list == nil then
        list = {}
        lists[p + 1] = list
      end
      list[#list + 1] = id
      any_ready = true
    end
  end
end
if any_expires then
  fields[#fields + 1] = ENDS_FLAG
  fields[#fields + 1] = 1
end
if #hash > 0 then
  each_chunk('HSET', payloads, hash)
  if #fields > 0 then
    each_chunk('HSET', state, fields)
  end
end
for i = 1, #stale, CHUNK do
  redis.call('DEL', unpack(stale, i, math.min(i + CHUNK - 1, #stale)))
end
for index, group in pairs(lists) do
  each_chunk('RPUSH', ready[index], group)
end
if any_ready then
  mark_ready(marker)
end
if earliest ~= nil then
  mark_eta(marker, earliest)
end
return written
