--[[
postpone.lua: a delivery is put back without running ("not yet", e.g. a rate limit said so),
to READY now or to SCHEDULED after a delay, counting nothing.

KEYS
  1 Q:processing   2 Q:state   3 Q:scheduled   4 Q:marker   5 Q:meta
  6..15 Q:ready:0 .. Q:ready:9
ARGV
  1 now     float seconds, or '' for the server's TIME
  2 id   3 token   4 worker      the delivery being postponed (fenced like ack.lua)
  5 delay   seconds; <= 0 means READY now
EFFECTS
  Fenced: nothing unless the worker still holds the delivery. Then send_back (lib.lua), as
  retry.lua does, but neither `r` (retries) nor `l` (lost leases) changes and the last error
  is kept: the task did not run, so waiting must not use up its retries. The delivery count
  stays (it is the fencing token; the next reserve raises it as usual).
RETURNS
  1 when postponed, 0 when the lease was lost (nothing changed).
]]

local processing, state, scheduled, marker, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local ready = ready_keys(6)
local now = clock(ARGV[1])
local id, token, worker = ARGV[2], ARGV[3], ARGV[4]
local delay = num(ARGV[5], 'delay')

if not holds(processing, state, id, token, worker) then
  return 0
end
send_back(processing, state, scheduled, marker, meta, ready, id, now, delay)
return 1
