--[[
forget_worker.lua: a worker shut down cleanly; drop its liveness record in one queue.

KEYS
  1 Q:workers   2 Q:worker_info   3 Q:worker_since
ARGV
  1 worker   worker id
EFFECTS
  ZREM workers worker; HDEL worker_info worker; HDEL worker_since worker. Deliveries it still
  holds are untouched (their leases expire as usual).
RETURNS
  1 when the worker was known in this queue, else 0.
]]

local workers, worker_info, worker_since = KEYS[1], KEYS[2], KEYS[3]
redis.call('HDEL', worker_info, ARGV[1])
redis.call('HDEL', worker_since, ARGV[1])
return redis.call('ZREM', workers, ARGV[1])
