--[[
heartbeat.lua: a worker says it is alive, in one of its queues.

KEYS
  1 Q:workers   2 Q:worker_info   3 Q:worker_since
ARGV
  1 now      float seconds, or '' for the server's TIME
  2 worker   worker id
  3 info     WorkerInfo JSON
  4 gap      seconds; a heartbeat more than `gap` after the worker's previous one starts a new
             stretch. '' when the worker did not say its heartbeat interval: its stretch then
             starts at its first heartbeat.
EFFECTS
  ZADD workers now worker; HSET worker_info worker info. Server time, so a worker with a
  skewed clock is neither kept alive nor declared dead by mistake.
  Q:worker_since[worker] = now when a new stretch starts (first heartbeat, or after a gap):
  expire_workers.lua lets a worker's reaper judge others only after a stretch of its own as
  long as the silence it judges, so a broker outage (restart, partition, a frozen server) is
  never mistaken for the death of the workers it silenced.
RETURNS
  now, as a string.
]]

local workers, worker_info, worker_since = KEYS[1], KEYS[2], KEYS[3]
local now = clock(ARGV[1])
local worker = ARGV[2]
if ARGV[4] ~= nil and ARGV[4] ~= '' then
  local gap = num(ARGV[4], 'gap')
  local previous = tonumber(redis.call('ZSCORE', workers, worker))
  if previous == nil or now - previous > gap then
    redis.call('HSET', worker_since, worker, fmt(now))
  end
else
  redis.call('HSETNX', worker_since, worker, fmt(now))
end
redis.call('ZADD', workers, fmt(now), worker)
redis.call('HSET', worker_info, worker, ARGV[3])
return fmt(now)
