--[[
set_queue_limit.lua: set or remove a queue's in-flight cap (the most messages in PROCESSING at
once, across every worker).

KEYS
  1 Q:meta   2 Q:processing   3 Q:marker
  4..13 Q:ready:0 .. Q:ready:9
ARGV
  1 max_in_flight   an integer >= 1, or '' to remove the cap
EFFECTS
  HSET (or HDEL) Q:meta `max_in_flight`. reserve.lua reads it on every call, so every worker
  obeys the new cap at once; messages already in PROCESSING above a lowered cap are left
  alone. When READY has work and the new cap (or no cap) leaves room, READY is marked, so a
  worker blocked on the old, full cap wakes.
RETURNS
  1.
]]

local meta, processing, marker = KEYS[1], KEYS[2], KEYS[3]
local ready = ready_keys(4)
local cap = nil
if ARGV[1] ~= '' then
  cap = num(ARGV[1], 'max_in_flight')
  if cap < 1 or cap ~= math.floor(cap) then
    error('taskq: max_in_flight must be an integer >= 1')
  end
end

if cap == nil then
  redis.call('HDEL', meta, CAP_FIELD)
else
  redis.call('HSET', meta, CAP_FIELD, cap)
end
local room = room_under_cap(meta, processing)
if (room == nil or room > 0) and any_ready(ready) then
  mark_ready(marker)
end
return 1
