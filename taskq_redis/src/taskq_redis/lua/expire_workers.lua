--[[
expire_workers.lua: declare silent workers dead and expire the leases they hold, one bounded
slice of PROCESSING per call.

KEYS
  1 Q:workers   2 Q:worker_info   3 Q:processing   4 Q:state
ARGV
  1 now      float seconds, or '' for the server's TIME
  2 within   seconds; a worker whose last heartbeat is older than now-within is dead
  3 offset   rank in PROCESSING where this slice starts (0 on the first call)
  4 count    PROCESSING entries to look at in this call (1..1000)
  5..        the dead workers found by the first call; none on the first call, which picks
             up to 1000 of them itself
EFFECTS
  Every PROCESSING id in the slice owned by a dead worker gets its deadline lowered to now
  (ZADD LT), so the next recover_expired hands it back: one code path for every loss, so
  lost-lease counting stays consistent. Lowering a score only moves an entry to a lower rank,
  so the client's rank cursor can revisit an entry but never skip one. Entries that move
  because of concurrent acks may be missed; their own leases still expire.
  When the slice reaches the end of PROCESSING, the workers still silent are removed from
  Q:workers and Q:worker_info.
RETURNS
  { next_offset, worker... }: next_offset is -1 when the scan is complete, and the workers are
  then the ones removed; otherwise pass them back with next_offset. {-1} when none is dead.
]]

local workers, worker_info, processing, state = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now = clock(ARGV[1])
local within = num(ARGV[2], 'within')
local offset = num(ARGV[3], 'offset')
local count = num(ARGV[4], 'count')
if offset < 0 or count < 1 or count > 1000 or #ARGV > 1004 then
  error('taskq: expire_workers needs offset >= 0, count in 1..1000, at most 1000 workers')
end
local cutoff = now - within

local silent = {}
if #ARGV > 4 then
  for i = 5, #ARGV do
    silent[#silent + 1] = ARGV[i]
  end
else
  silent = redis.call('ZRANGEBYSCORE', workers, '-inf', '(' .. fmt(cutoff), 'LIMIT', 0, 1000)
end
if #silent == 0 then
  return { -1 }
end
local is_silent = {}
for _, worker in ipairs(silent) do
  is_silent[worker] = true
end

local ids = redis.call('ZRANGE', processing, offset, offset + count - 1)
local expire = {}
for _, id in ipairs(ids) do
  local owner = redis.call('HGET', state, id .. ':w')
  if owner and is_silent[owner] then
    expire[#expire + 1] = id
  end
end
local done = #ids < count or redis.call('ZCARD', processing) <= offset + count

local now_text = fmt(now)
for _, id in ipairs(expire) do
  redis.call('ZADD', processing, 'LT', now_text, id)
end

if not done then
  local result = { offset + count }
  for _, worker in ipairs(silent) do
    result[#result + 1] = worker
  end
  return result
end
local removed = { -1 }
for _, worker in ipairs(silent) do
  local seen = tonumber(redis.call('ZSCORE', workers, worker))
  if seen and seen < cutoff then
    redis.call('ZREM', workers, worker)
    redis.call('HDEL', worker_info, worker)
    removed[#removed + 1] = worker
  end
end
return removed
