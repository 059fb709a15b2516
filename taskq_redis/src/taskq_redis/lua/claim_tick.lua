--[[
claim_tick.lua: a periodic schedule's tick is claimed and its message sent, in one step.

KEYS
  1 Q:payloads   2 Q:state   3 Q:marker   4 Q:ready:<p>  the READY list of the message's priority
  5 Q:periodic   HASH schedule key -> latest claimed tick
ARGV
  1 schedule        the schedule's key (its identity, the same in every process)
  2 tick            float seconds: the moment the tick fell due
  3 id              message id (derived from schedule and tick by the caller)
  4 payload         message JSON
  5 priority        0..9
  6 max_deliveries  lost leases the message survives before DEAD (>= 1)
  7 expires         float seconds, or '' (or absent) for "never": state `v`, as for send.lua
EFFECTS
  Nothing when the schedule's latest claimed tick is at or after `tick`: the tick was sent
  already (by another scheduler, or by this call's first attempt before a lost reply), or a
  later one was, and time does not go back.
  Otherwise HSET periodic schedule = tick, then the message enters READY exactly as send.lua
  writes it (HSETNX payload, state as new_state in lib.lua says, RPUSH READY, mark READY);
  an id already known to the queue keeps the claim and writes no second copy.
  Claim and send are one script, so no scheduler can die between them: a claimed tick always
  has its message. The claim lives under the queue's tag with the message it sends. Arguments
  are checked before the first write.
RETURNS
  1 when this call claimed the tick and wrote the message, else 0.
]]

local payloads, state, marker, ready, periodic = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local schedule, id, payload = ARGV[1], ARGV[3], ARGV[4]
local tick = num(ARGV[2], 'tick')
local priority = num(ARGV[5], 'priority')
local max_deliveries = num(ARGV[6], 'max_deliveries')
local expires = optional_num(ARGV[7], 'expires')

local last = tonumber(redis.call('HGET', periodic, schedule))
if last ~= nil and last >= tick then
  return 0
end
redis.call('HSET', periodic, schedule, fmt(tick))

if redis.call('HSETNX', payloads, id, payload) == 0 then
  return 0
end
local fields = new_state({}, id, max_deliveries, priority)
if #fields > 0 then
  redis.call('HSET', state, unpack(fields))
end
if expires ~= '' then
  redis.call('HSET', state, id .. ':v', expires, ENDS_FLAG, 1)
end
redis.call('RPUSH', ready, id)
mark_ready(marker)
return 1
