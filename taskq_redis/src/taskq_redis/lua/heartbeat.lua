--[[
heartbeat.lua: a worker says it is alive, in one of its queues.

KEYS
  1 Q:workers   2 Q:worker_info
ARGV
  1 now      float seconds, or '' for the server's TIME
  2 worker   worker id
  3 info     WorkerInfo JSON
EFFECTS
  ZADD workers now worker; HSET worker_info worker info. Server time, so a worker with a
  skewed clock is neither kept alive nor declared dead by mistake.
RETURNS
  now, as a string.
]]

local workers, worker_info = KEYS[1], KEYS[2]
local now = clock(ARGV[1])
redis.call('ZADD', workers, fmt(now), ARGV[2])
redis.call('HSET', worker_info, ARGV[2], ARGV[3])
return fmt(now)
