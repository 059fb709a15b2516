--[[
dead.lua: a delivery is given up on (retries exhausted, unknown task, undecodable payload).

KEYS
  1 Q:processing   2 Q:state   3 Q:dead
ARGV
  1 now      float seconds, or '' for the server's TIME
  2 id   3 token   4 worker      the delivery (fenced like ack.lua)
  5 reason   kept with the message, shown by list_dead
EFFECTS
  Fenced: nothing unless the worker still holds the delivery. Then ZREM processing and bury:
  ZADD dead <next death sequence> id, HSET `x` = reason and `t` = now, HDEL the owner. The
  payload and counters stay for inspection and requeue_dead.
RETURNS
  1 when moved to DEAD, 0 when the lease was lost (nothing changed).
]]

local processing, state, dead = KEYS[1], KEYS[2], KEYS[3]
local now = clock(ARGV[1])
local id, token, worker, reason = ARGV[2], ARGV[3], ARGV[4], ARGV[5]

if not holds(processing, state, id, token, worker) then
  return 0
end
redis.call('ZREM', processing, id)
bury(dead, state, id, reason, now)
return 1
