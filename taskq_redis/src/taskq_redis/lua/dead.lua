--[[
dead.lua: a delivery is given up on (retries exhausted, unknown task, undecodable payload).

KEYS
  1 Q:processing   2 Q:state   3 Q:dead   4 Q:marker   5 Q:meta
  6..15 Q:ready:0 .. Q:ready:9   16 Q:history   17 Q:unique   18 Q:unique_until
ARGV
  1 now      float seconds, or '' for the server's TIME
  2 id   3 token   4 worker      the delivery (fenced like ack.lua)
  5 reason   kept with the message, shown by list_dead
EFFECTS
  Fenced: nothing unless the worker still holds the delivery. Then ZREM processing and bury:
  ZADD dead <next death sequence> id, HSET `x` = reason and `t` = now, HDEL the owner. The
  payload and counters (and the last error) stay for inspection and requeue_dead; a unique key
  the message holds until done is released. On a queue
  with an in-flight cap, marks READY when READY has work the freed room lets in. Counts one
  `fail` in the history (count_outcome).
  A FAILURE result, if any, is stored by store_result.lua pipelined in front (see ack.lua).
RETURNS
  1 when moved to DEAD, 0 when the lease was lost (nothing changed).
]]

local processing, state, dead, marker, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local ready = ready_keys(6)
local now = clock(ARGV[1])
local id, token, worker, reason = ARGV[2], ARGV[3], ARGV[4], ARGV[5]

if not holds(processing, state, id, token, worker) then
  return 0
end
redis.call('ZREM', processing, id)
bury(dead, state, id, reason, now, KEYS[17], KEYS[18])
wake_below_cap(meta, processing, marker, ready)
count_outcome(KEYS[16], 'fail', 1, now)
return 1
