--[[
expire_workers.lua: declare silent workers dead and expire the leases they hold, one bounded
slice of PROCESSING per call.

KEYS
  1 Q:workers   2 Q:worker_info   3 Q:processing   4 Q:state   5 Q:worker_since
ARGV
  1 now      float seconds, or '' for the server's TIME
  2 within   seconds; a worker whose last heartbeat is older than now-within is dead
  3 offset   rank in PROCESSING where this slice starts (0 on the first call)
  4 count    PROCESSING entries to look at in this call (1..1000)
  5 reaper   the calling worker's id, or '' (an operator's call: silence alone decides)
  6..        the dead workers found by the first call; none on the first call, which picks
             up to 1000 of them itself
EFFECTS
  With a reaper, nobody is declared dead unless the reaper watched the whole silence: its own
  last heartbeat in this queue is at most within/2 old and its current stretch of heartbeats
  (Q:worker_since, see heartbeat.lua) began at least `within` ago. A broker outage breaks
  every worker's stretch, the reaper's too, so the workers it silenced get a full `within`
  after it to heartbeat again; a reaper whose call waited out an outage finds its own
  heartbeat stale. Only a silence the broker could have heard the end of is death.
  Every PROCESSING id in the slice owned by a dead worker gets its deadline lowered to now
  (ZADD LT), so the next recover_expired hands it back: one code path for every loss, so
  lost-lease counting stays consistent. Lowering a score only moves an entry to a lower rank,
  so the client's rank cursor can revisit an entry but never skip one. Entries that move
  because of concurrent acks may be missed; their own leases still expire.
  When the slice reaches the end of PROCESSING, the workers still silent are removed from
  Q:workers, Q:worker_info and Q:worker_since.
RETURNS
  { next_offset, worker... }: next_offset is -1 when the scan is complete, and the workers are
  then the ones removed; otherwise pass them back with next_offset. {-1} when none is dead.
]]

local workers, worker_info, processing, state = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local worker_since = KEYS[5]
local now = clock(ARGV[1])
local within = num(ARGV[2], 'within')
local offset = num(ARGV[3], 'offset')
local count = num(ARGV[4], 'count')
local reaper = ARGV[5] or ''
if offset < 0 or count < 1 or count > 1000 or #ARGV > 1005 then
  error('taskq: expire_workers needs offset >= 0, count in 1..1000, at most 1000 workers')
end
local cutoff = now - within

local silent = {}
if #ARGV > 5 then
  for i = 6, #ARGV do
    silent[#silent + 1] = ARGV[i]
  end
else
  if reaper ~= '' then
    local seen = tonumber(redis.call('ZSCORE', workers, reaper))
    local since = tonumber(redis.call('HGET', worker_since, reaper))
    if seen == nil or since == nil or now - seen > within / 2 or since > cutoff then
      return { -1 }
    end
  end
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
    redis.call('HDEL', worker_since, worker)
    removed[#removed + 1] = worker
  end
end
return removed
