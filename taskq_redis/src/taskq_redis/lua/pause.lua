--[[
pause.lua: a queue stops handing out messages; producers can still send to it.

KEYS
  1 Q:meta
ARGV
  (none)
EFFECTS
  HSET Q:meta `paused` = 1. reserve.lua reads the flag in the same HMGET as the in-flight cap
  on every call, so every worker stops taking messages of the queue with its next reserve,
  without polling for the flag. Sends, promotions of due SCHEDULED messages and every
  transition of messages already in PROCESSING go on as usual.
RETURNS
  1 when the queue was running, 0 when it was paused already.
]]

return redis.call('HSET', KEYS[1], PAUSED_FIELD, 1)
