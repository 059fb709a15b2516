--[[
resume.lua: a paused queue hands out messages again.

KEYS
  1 Q:meta   2 Q:processing   3 Q:scheduled   4 Q:marker
  5..14 Q:ready:0 .. Q:ready:9
ARGV
  (none)
EFFECTS
  HDEL Q:meta `paused`. Wakes blocked workers through the marker the way a send does: marks
  READY when READY has work the in-flight cap leaves room for, and announces the earliest ETA
  in SCHEDULED, so a worker blocked in BZPOPMIN reserves at once.
RETURNS
  1 when the queue was paused, 0 when it was running already.
]]

local meta, processing, scheduled, marker = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ready = ready_keys(5)
local resumed = redis.call('HDEL', meta, PAUSED_FIELD)
local room = room_under_cap(meta, processing)
if (room == nil or room > 0) and any_ready(ready) then
  mark_ready(marker)
end
local next_eta = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
if #next_eta > 0 then
  mark_eta(marker, tonumber(next_eta[2]))
end
return resumed
