--[[
purge_dead.lua: delete DEAD messages, a bounded slice per call (oldest death first).

KEYS
  1 Q:dead   2 Q:payloads   3 Q:state
ARGV
  1 limit   messages to delete in this call (1..1000)
EFFECTS
  ZPOPMIN dead `limit`; HDEL their payloads and state.
RETURNS
  How many messages were deleted; the client calls again until it gets 0.
]]

local dead, payloads, state = KEYS[1], KEYS[2], KEYS[3]
local limit = num(ARGV[1], 'limit')
if limit < 1 or limit > 1000 then
  error('taskq: purge_dead needs limit in 1..1000')
end

local popped = redis.call('ZPOPMIN', dead, limit)
local ids = {}
for i = 1, #popped, 2 do
  ids[#ids + 1] = popped[i]
end
if #ids > 0 then
  each_chunk('HDEL', payloads, ids)
  clear_state(state, ids)
end
return #ids
