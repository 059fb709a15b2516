--[[
retry.lua: a delivery failed and will run again, now (READY) or after a delay (SCHEDULED).

KEYS
  1 Q:processing   2 Q:state   3 Q:scheduled   4 Q:marker
  5 Q:ready:<p>    the READY list of the message's priority
ARGV
  1 now     float seconds, or '' for the server's TIME
  2 id   3 token   4 worker      the delivery being retried (fenced like ack.lua)
  5 delay   seconds; <= 0 means READY now
  6 error   last error to keep; '' keeps the previous one
EFFECTS
  Fenced: nothing unless the worker still holds the delivery. Then HINCRBY `r` (retries),
  HSET `e`, ZREM processing, HDEL the owner; the delivery count is kept. delay > 0: ZADD
  scheduled now+delay and announce the ETA on the marker; else RPUSH to the back of READY and
  mark READY.
RETURNS
  1 when retried, 0 when the lease was lost (nothing changed).
]]

local processing, state, scheduled, marker, ready = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now = clock(ARGV[1])
local id, token, worker = ARGV[2], ARGV[3], ARGV[4]
local delay = num(ARGV[5], 'delay')
local error_text = ARGV[6]

if not holds(processing, state, id, token, worker) then
  return 0
end
redis.call('HINCRBY', state, id .. ':r', 1)
if error_text ~= '' then
  redis.call('HSET', state, id .. ':e', error_text)
end
redis.call('ZREM', processing, id)
redis.call('HDEL', state, id .. ':w')
if delay > 0 then
  local eta = now + delay
  redis.call('ZADD', scheduled, fmt(eta), id)
  mark_eta(marker, eta)
else
  redis.call('RPUSH', ready, id)
  mark_ready(marker)
end
return 1
