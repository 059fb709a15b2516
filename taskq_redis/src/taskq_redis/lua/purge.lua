--[[
purge.lua: delete READY and SCHEDULED messages, a bounded slice per call.

KEYS
  1 Q:scheduled   2 Q:payloads   3 Q:state   4 Q:marker
  5..14 Q:ready:0 .. Q:ready:9
ARGV
  1 limit   messages to delete in this call (1..1000)
EFFECTS
  LPOPs READY lists (ready:0 first) and then ZPOPMINs SCHEDULED until `limit` ids are taken;
  HDELs their payloads and state. PROCESSING is left alone: those belong to running workers.
  When READY and SCHEDULED are empty afterwards, the marker is cleared.
RETURNS
  How many messages were deleted; the client calls again until it gets 0, so Redis is never
  blocked by one huge script.
]]

local scheduled, payloads, state, marker = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ready = ready_keys(5)
local limit = num(ARGV[1], 'limit')
if limit < 1 or limit > 1000 then
  error('taskq: purge needs limit in 1..1000')
end

local ids = {}
for i = 1, #ready do
  if #ids >= limit then
    break
  end
  local popped = redis.call('LPOP', ready[i], limit - #ids)
  if popped then
    for _, id in ipairs(popped) do
      ids[#ids + 1] = id
    end
  end
end
if #ids < limit then
  local popped = redis.call('ZPOPMIN', scheduled, limit - #ids)
  for i = 1, #popped, 2 do
    ids[#ids + 1] = popped[i]
  end
end
if #ids > 0 then
  each_chunk('HDEL', payloads, ids)
  clear_state(state, ids)
end
if not any_ready(ready) and redis.call('ZCARD', scheduled) == 0 then
  redis.call('DEL', marker)
end
return #ids
