--[[
release.lua: graceful shutdown hands prefetched, unstarted deliveries back.

KEYS
  1 Q:processing   2 Q:state   3 Q:marker
  4..13 Q:ready:0 .. Q:ready:9
ARGV
  1.. id, token, worker triples, at most 1000 of them
EFFECTS
  For each triple still held (fenced like ack.lua; an id listed twice counts once): ZREM
  processing, HDEL the owner, and put the id back at the FRONT of its READY list, the
  released ids keeping their given order.
  No retry and no lost lease is counted. The delivery count is kept: it is the fencing token,
  and lowering it would let a stale handle of the released delivery match the next one.
  Marks READY when anything moved.
RETURNS
  How many deliveries were released.
]]

local processing, state, marker = KEYS[1], KEYS[2], KEYS[3]
local ready = ready_keys(4)
local count = #ARGV / 3
if count ~= math.floor(count) or count > 1000 then
  error('taskq: release needs at most 1000 id/token/worker triples')
end

local ids, seen = {}, {}
for i = 0, count - 1 do
  local id = ARGV[1 + i * 3]
  if not seen[id] and holds(processing, state, id, ARGV[2 + i * 3], ARGV[3 + i * 3]) then
    seen[id] = true
    ids[#ids + 1] = id
  end
end
if #ids == 0 then
  return 0
end
each_chunk('ZREM', processing, ids)
for _, id in ipairs(ids) do
  redis.call('HDEL', state, id .. ':w')
end
to_ready_front(state, ready, ids)
mark_ready(marker)
return #ids
