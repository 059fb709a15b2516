--[[
requeue_dead.lua: an operator sends DEAD messages back to READY with fresh counters.

KEYS
  1 Q:dead   2 Q:payloads   3 Q:state   4 Q:marker
  5..14 Q:ready:0 .. Q:ready:9
ARGV
  1 limit   when no ids are given: how many of the oldest DEAD messages to take (1..1000)
  2..       ids to requeue (at most 1000); ids not in DEAD are ignored
EFFECTS
  For each chosen id in DEAD: ZREM dead; if its payload still exists, HDEL its counters and
  dead fields (retries, lost leases, last error, reason, death time; priority and
  max_deliveries stay) and RPUSH it to the back of its READY list, oldest death first;
  a DEAD entry without a payload is dropped with its state. Marks READY when anything moved.
  The delivery count `d` is kept: it is the fencing token, so it only grows, and a handle
  from before the message died can never match a later delivery.
RETURNS
  { moved, removed }: messages back in READY, and DEAD entries taken (moved + dropped); the
  client loops until `removed` is 0 when requeueing everything.
]]

local dead, payloads, state, marker = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ready = ready_keys(5)
local limit = num(ARGV[1], 'limit')
if limit < 1 or limit > 1000 or #ARGV > 1001 then
  error('taskq: requeue_dead needs limit in 1..1000 and at most 1000 ids')
end

local ids = {}
if #ARGV > 1 then
  for i = 2, #ARGV do
    if redis.call('ZSCORE', dead, ARGV[i]) then
      ids[#ids + 1] = ARGV[i]
    end
  end
else
  ids = redis.call('ZRANGE', dead, 0, limit - 1)
end
if #ids == 0 then
  return { 0, 0 }
end
local alive, orphans = {}, {}
for _, id in ipairs(ids) do
  if redis.call('HEXISTS', payloads, id) == 1 then
    alive[#alive + 1] = id
  else
    orphans[#orphans + 1] = id
  end
end
each_chunk('ZREM', dead, ids)
clear_state(state, orphans)
for _, id in ipairs(alive) do
  redis.call('HDEL', state, id .. ':r', id .. ':l', id .. ':w', id .. ':e', id .. ':x',
    id .. ':t')
end
to_ready_back(state, ready, alive)
if #alive > 0 then
  mark_ready(marker)
end
return { #alive, #ids }
