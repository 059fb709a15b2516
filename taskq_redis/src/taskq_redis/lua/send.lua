--[[
send.lua: a new message enters the queue, in READY or (with an ETA) in SCHEDULED; with a unique
key, only while no other message holds that key. A message due now with none of the options
below (priority 0, the default max_deliveries, no expiry, unique key or result key) is sent by
send_ready.lua, which writes the same with less work for Redis.

KEYS
  1 Q:payloads   2 Q:state   3 Q:scheduled   4 Q:marker
  5 Q:ready:<p>  the READY list of the message's priority
  6 Q:unique     7 Q:unique_until
  8 <prefix>:result:{<id>}  optional: the id's result key, deleted when the message is written
                 (the producer chose the id, so an earlier message may have left a result)
ARGV
  1 now             float seconds, or '' for the server's TIME
  2 id              message id
  3 payload         message JSON (written once, never rewritten)
  4 priority        0..9
  5 max_deliveries  lost leases the message survives before DEAD (>= 1)
  6 eta             float seconds, or '' for "ready now"; an ETA at or before now is ready now
  7 unique_key      optional: '' or absent for none
  8 unique_for      seconds the key is held at most (> 0), with a unique key
  9 unique_until    'done': the key is also released when the message is acked or goes to
                    DEAD (state `u` records it); 'ttl': held for the whole unique_for
  10 expires        float seconds, or '' (or absent) for "never": state `v`, checked by reserve
EFFECTS
  With a unique key: the holds whose time has come are trimmed first (trim_unique, at most
  100; a hold whose time has come counts as free either way), then, when another message
  holds the key, nothing is written and that message's id is the answer. A hold by this very
  id (a retried send) answers as a known id.
  Nothing when the id is already known to the queue in any state (its payload exists): a send
  retried after a lost reply cannot duplicate the message.
  Otherwise HSETNX payload (which is also the "known?" check), DEL the result key when given,
  HSET state `m` when max_deliveries is not the default 5 (and `p` when not 0, `u` for a key
  held until done, `v` and the queue's `#ends` when it expires); claim the unique key (HSET Q:unique key id, ZADD Q:unique_until
  now + unique_for key); then either ZADD scheduled eta and announce the ETA on the marker, or
  RPUSH to READY and mark READY on the marker. The clock (TIME) is read only for a message
  with an ETA or a unique key.
  Arguments are checked before the first write.
RETURNS
  1 when written, 0 when the id was already known, the holder's id (a string) when another
  message holds the unique key.
]]

local payloads, state, scheduled, marker, ready = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local unique, unique_until = KEYS[6], KEYS[7]
local id, payload = ARGV[2], ARGV[3]
local priority = num(ARGV[4], 'priority')
local max_deliveries = num(ARGV[5], 'max_deliveries')
local expires = optional_num(ARGV[10], 'expires')
local eta, now = nil, nil
if ARGV[6] ~= '' then
  eta = num(ARGV[6], 'eta')
  now = clock(ARGV[1])
end
local unique_key = ARGV[7]
if unique_key == '' then
  unique_key = nil
end
local unique_for, until_done = nil, false
if unique_key ~= nil then
  unique_for = num(ARGV[8], 'unique_for')
  if unique_for <= 0 or (ARGV[9] ~= 'done' and ARGV[9] ~= 'ttl') then
    error("taskq: a unique key needs unique_for > 0 and unique_until 'done' or 'ttl'")
  end
  until_done = ARGV[9] == 'done'
  now = now or clock(ARGV[1])
  trim_unique(unique, unique_until, now)
  local holder = redis.call('HGET', unique, unique_key)
  if holder and tonumber(redis.call('ZSCORE', unique_until, unique_key) or 0) <= now then
    holder = false -- expired, beyond what this call trimmed
  end
  if holder == id then
    return 0
  elseif holder then
    return holder
  end
end

if redis.call('HSETNX', payloads, id, payload) == 0 then
  return 0
end

if KEYS[8] ~= nil then
  redis.call('DEL', KEYS[8])
end
local fields = new_state({}, id, max_deliveries, priority)
if #fields > 0 then
  redis.call('HSET', state, unpack(fields))
end
if unique_key ~= nil then
  redis.call('HSET', unique, unique_key, id)
  redis.call('ZADD', unique_until, fmt(now + unique_for), unique_key)
  if until_done then
    redis.call('HSET', state, id .. ':u', unique_key)
  end
end
if expires ~= '' then
  redis.call('HSET', state, id .. ':v', expires, ENDS_FLAG, 1)
end
if eta ~= nil and eta > now then
  redis.call('ZADD', scheduled, fmt(eta), id)
  mark_eta(marker, eta)
else
  redis.call('RPUSH', ready, id)
  mark_ready(marker)
end
return 1
