--[[
recover_expired.lua: the reaper hands back deliveries whose lease deadline has passed.

KEYS
  1 Q:processing   2 Q:state   3 Q:dead   4 Q:marker   5 Q:meta
  6..15 Q:ready:0 .. Q:ready:9   16 Q:unique   17 Q:unique_until
ARGV
  1 now                     float seconds, or '' for the server's TIME
  2 limit                   expired deliveries to recover (1..1000), earliest deadline first
  3 default_max_deliveries  for a message whose state has no `m` (a planted payload)
EFFECTS
  For each id with deadline <= now: ZREM processing, HDEL the owner, HINCRBY `l` (lost
  leases). When `l` reaches the message's max_deliveries it is buried in DEAD with a reason
  naming the count (releasing a unique key it holds until done, see bury in lib.lua), so a
  task that kills its worker every time cannot loop forever; otherwise
  it goes to the FRONT of its READY list (earliest expired first) and READY is marked. When
  all were buried, a capped queue is marked if READY has work the freed room lets in.
  Atomic, so reapers running at once in many workers recover each id exactly once.
RETURNS
  { {requeued id...}, {dead id...} }
]]

local processing, state, dead, marker, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local ready = ready_keys(6)
local now = clock(ARGV[1])
local limit = num(ARGV[2], 'limit')
local default_max = num(ARGV[3], 'default_max_deliveries')
if limit < 1 or limit > 1000 then
  error('taskq: recover_expired needs limit in 1..1000')
end

local ids = redis.call('ZRANGEBYSCORE', processing, '-inf', fmt(now), 'LIMIT', 0, limit)
if #ids == 0 then
  return { {}, {} }
end
local requeued, buried, lost = {}, {}, {}
for _, id in ipairs(ids) do
  local fields = redis.call('HMGET', state, id .. ':l', id .. ':m')
  local count = (tonumber(fields[1]) or 0) + 1
  local max_deliveries = tonumber(fields[2]) or default_max
  lost[id] = { count, max_deliveries }
  if count >= max_deliveries then
    buried[#buried + 1] = id
  else
    requeued[#requeued + 1] = id
  end
end

each_chunk('ZREM', processing, ids)
for _, id in ipairs(ids) do
  redis.call('HSET', state, id .. ':l', lost[id][1])
  redis.call('HDEL', state, id .. ':w')
end
for _, id in ipairs(buried) do
  local reason = string.format(
    'lease lost %d times (max_deliveries=%d): the task keeps killing or stalling its worker',
    lost[id][1], lost[id][2])
  bury(dead, state, id, reason, now, KEYS[16], KEYS[17])
end
if #requeued > 0 then
  to_ready_front(state, ready, requeued)
  mark_ready(marker)
else
  wake_below_cap(meta, processing, marker, ready)
end
return { requeued, buried }
