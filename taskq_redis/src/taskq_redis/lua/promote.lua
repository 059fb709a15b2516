--[[
promote.lua: move due SCHEDULED messages to READY (the schedule-poll backstop; reserve.lua
does the same inline).

KEYS
  1 Q:scheduled   2 Q:state   3 Q:marker
  4..13 Q:ready:0 .. Q:ready:9
ARGV
  1 now     float seconds, or '' for the server's TIME
  2 limit   messages to move (1..1000), earliest ETA first
EFFECTS
  ZREM the due ids from SCHEDULED and RPUSH each to the back of its READY list; marks READY
  when anything moved so a blocked worker wakes. A stale ETA announcement (`s` at or before
  now) is cleared from the marker.
RETURNS
  How many messages moved.
]]

local scheduled, state, marker = KEYS[1], KEYS[2], KEYS[3]
local ready = ready_keys(4)
local now = clock(ARGV[1])
local limit = num(ARGV[2], 'limit')
if limit < 1 or limit > 1000 then
  error('taskq: promote needs limit in 1..1000')
end

local moved = promote_due(scheduled, state, ready, now, limit)
if moved > 0 then
  mark_ready(marker)
end
local announced = tonumber(redis.call('ZSCORE', marker, 's'))
if announced and announced <= now then
  redis.call('ZREM', marker, 's')
end
return moved
