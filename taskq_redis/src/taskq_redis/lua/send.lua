--[[
send.lua: a new message enters the queue, in READY or (with an ETA) in SCHEDULED.

KEYS
  1 Q:payloads   2 Q:state   3 Q:scheduled   4 Q:marker
  5 Q:ready:<p>  the READY list of the message's priority
  6 <prefix>:result:{<id>}  optional: the id's result key, deleted when the message is written
                 (the producer chose the id, so an earlier message may have left a result)
ARGV
  1 now             float seconds, or '' for the server's TIME
  2 id              message id
  3 payload         message JSON (written once, never rewritten)
  4 priority        0..9
  5 max_deliveries  lost leases the message survives before DEAD (>= 1)
  6 eta             float seconds, or '' for "ready now"; an ETA at or before now is ready now
  7 expires         float seconds, or '' (or absent) for "never": state `u`, checked by reserve
EFFECTS
  Nothing when the id is already known to the queue in any state (its payload exists): a send
  retried after a lost reply cannot duplicate the message.
  Otherwise HSETNX payload (which is also the "known?" check), DEL the result key when given,
  HSET state `m` (and `p` when not 0; `u` and the queue's `#ends` when it expires); then either ZADD scheduled eta and announce the ETA on
  the marker, or RPUSH to READY and mark READY on the marker. The clock (TIME) is read only
  for a message with an ETA.
  Arguments are checked before the first write.
RETURNS
  1 when written, 0 when the id was already known.
]]

local payloads, state, scheduled, marker, ready = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, payload = ARGV[2], ARGV[3]
local priority = num(ARGV[4], 'priority')
local max_deliveries = num(ARGV[5], 'max_deliveries')
local expires = ARGV[7] or ''
if expires ~= '' then
  num(expires, 'expires')
end
local eta, now = nil, nil
if ARGV[6] ~= '' then
  eta = num(ARGV[6], 'eta')
  now = clock(ARGV[1])
end

if redis.call('HSETNX', payloads, id, payload) == 0 then
  return 0
end

if KEYS[6] ~= nil then
  redis.call('DEL', KEYS[6])
end
if priority ~= 0 then
  redis.call('HSET', state, id .. ':m', max_deliveries, id .. ':p', priority)
else
  redis.call('HSET', state, id .. ':m', max_deliveries)
end
if expires ~= '' then
  redis.call('HSET', state, id .. ':u', expires, ENDS_FLAG, 1)
end
if eta ~= nil and eta > now then
  redis.call('ZADD', scheduled, fmt(eta), id)
  mark_eta(marker, eta)
else
  redis.call('RPUSH', ready, id)
  mark_ready(marker)
end
return 1
