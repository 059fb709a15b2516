--[[
retry.lua: a delivery failed and will run again, now (READY) or after a delay (SCHEDULED).

KEYS
  1 Q:processing   2 Q:state   3 Q:scheduled   4 Q:marker   5 Q:meta
  6..15 Q:ready:0 .. Q:ready:9   16 Q:history
ARGV
  1 now     float seconds, or '' for the server's TIME
  2 id   3 token   4 worker      the delivery being retried (fenced like ack.lua)
  5 delay   seconds; <= 0 means READY now
  6 error   last error to keep (reserve hands it out, list_dead shows it); '' keeps the
            previous one
EFFECTS
  Fenced: nothing unless the worker still holds the delivery. Then HINCRBY `r` (retries),
  HSET `e`; the delivery count is kept. Then send_back (lib.lua): ZREM processing, HDEL the
  owner; delay > 0: ZADD scheduled now+delay and announce the ETA on the marker (and, on a
  capped queue, mark READY if waiting work now fits); else RPUSH to the back of the message's
  READY list and mark READY. Counts one `retry` in the history (count_outcome).
RETURNS
  1 when retried, 0 when the lease was lost (nothing changed).
]]

local processing, state, scheduled, marker, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local ready = ready_keys(6)
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
send_back(processing, state, scheduled, marker, meta, ready, id, now, delay)
count_outcome(KEYS[16], 'retry', 1, now)
return 1
