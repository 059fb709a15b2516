--[[
extend_lease.lua: a worker's heartbeat renews the leases of every delivery it holds.

KEYS
  1 Q:processing   2 Q:state
ARGV
  1 now     float seconds, or '' for the server's TIME
  2 lease   seconds (>= 0; 0 expires the leases now, for the next recover_expired)
  3.. id, token, worker triples, at most 1000 of them
EFFECTS
  For each triple still held (fenced like ack.lua): ZADD XX processing now+lease id (a lease
  has expired when its deadline is <= now, so lease 0 hands the message to the reaper).
  Deliveries no longer held are left alone.
RETURNS
  { held_1, held_2, ... } with 1 for a renewed lease and 0 for a lost one, in ARGV order.
]]

local processing, state = KEYS[1], KEYS[2]
local now = clock(ARGV[1])
local lease = num(ARGV[2], 'lease')
local count = (#ARGV - 2) / 3
if lease < 0 or count ~= math.floor(count) or count > 1000 then
  error('taskq: extend_lease needs lease >= 0 and at most 1000 id/token/worker triples')
end

local held = {}
for i = 0, count - 1 do
  local base = 3 + i * 3
  held[i + 1] = holds(processing, state, ARGV[base], ARGV[base + 1], ARGV[base + 2]) and 1 or 0
end
local deadline = fmt(now + lease)
for i = 0, count - 1 do
  if held[i + 1] == 1 then
    redis.call('ZADD', processing, 'XX', deadline, ARGV[3 + i * 3])
  end
end
return held
