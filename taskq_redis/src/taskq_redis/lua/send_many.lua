--[[
send_many.lua: many new messages of one queue enter it, in READY or (with an ETA) in SCHEDULED.

KEYS
  1 Q:payloads   2 Q:state   3 Q:scheduled   4 Q:marker
  5..14 Q:ready:0 .. Q:ready:9
ARGV
  1 now   float seconds, or '' for the server's TIME
  2..     id, payload, priority (0..9), max_deliveries (>= 1), eta ('' for "ready now")
          quintuples, at most 1000 of them, as for send.lua
EFFECTS
  The same as send.lua for each message in turn, in a few batched commands: a message whose id
  is already known to the queue (its payload exists, or it came earlier in this call) is
  skipped, so a retried batch cannot duplicate anything. The others: HSET payloads and state
  `m` (and `p` when not 0), chunked; RPUSH to the READY list of their priority in the given
  order, or ZADD scheduled with the ETA. Marks READY once when anything went to READY, and
  announces the earliest new ETA.
  Every argument is checked before the first write, so a bad one leaves nothing half done.
RETURNS
  { written_1, written_2, ... }: 1 when written, 0 when the id was already known, in order.
]]

local payloads, state, scheduled, marker = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ready = ready_keys(5)
local now = clock(ARGV[1])
local count = (#ARGV - 1) / 5
if count ~= math.floor(count) or count > 1000 then
  error('taskq: send_many needs at most 1000 id/payload/priority/max_deliveries/eta quintuples')
end

local ids = {}
local priorities, maxes, etas = {}, {}, {}
for i = 1, count do
  local base = 2 + (i - 1) * 5
  ids[i] = ARGV[base]
  local p = num(ARGV[base + 2], 'priority')
  if p < 0 or p > 9 or p ~= math.floor(p) then
    error('taskq: priority must be an integer 0..9, got ' .. tostring(ARGV[base + 2]))
  end
  priorities[i] = p
  maxes[i] = num(ARGV[base + 3], 'max_deliveries')
  if ARGV[base + 4] ~= '' then
    etas[i] = num(ARGV[base + 4], 'eta')
  end
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

local hash, fields, lists, seen = {}, {}, {}, {}
local earliest = nil
local any_ready = false
for i = 1, count do
  local id = ids[i]
  if known[i] or seen[id] then
    written[i] = 0
  else
    seen[id] = true
    written[i] = 1
    local base = 2 + (i - 1) * 5
    hash[#hash + 1] = id
    hash[#hash + 1] = ARGV[base + 1]
    fields[#fields + 1] = id .. ':m'
    fields[#fields + 1] = maxes[i]
    if priorities[i] ~= 0 then
      fields[#fields + 1] = id .. ':p'
      fields[#fields + 1] = priorities[i]
    end
    local eta = etas[i]
    if eta ~= nil and eta > now then
      redis.call('ZADD', scheduled, fmt(eta), id)
      if earliest == nil or eta < earliest then
        earliest = eta
      end
    else
      local index = priorities[i] + 1
      lists[index] = lists[index] or {}
      table.insert(lists[index], id)
      any_ready = true
    end
  end
end
if #hash > 0 then
  each_chunk('HSET', payloads, hash)
  each_chunk('HSET', state, fields)
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
