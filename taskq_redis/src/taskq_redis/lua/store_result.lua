--[[
store_result.lua: keep a task's result under its message id, replacing any earlier one, and
wake everyone waiting for it.

KEYS
  1 <prefix>:result:{<id>}   LIST of exactly one element (outside every queue's tag: a result
                             is looked up by id alone)
ARGV
  1 now      float seconds, or '' for the server's TIME
  2 ttl      seconds the result is kept; <= 0 keeps nothing
  3 result   the result as codec.stored_result writes it (kept as given: this script never
             reads it)
EFFECTS
  DEL the key (an earlier result), then, when ttl > 0: RPUSH `<now + ttl> <result>` and
  PEXPIRE the key ttl (rounded up to whole milliseconds). Nothing is waited on in here:
  waiters block outside Lua with `BLMOVE key key RIGHT RIGHT`, which on a one-element list
  hands every blocked waiter the element and puts it back (a rotation: nobody consumes it, and
  the key, with its TTL, survives). Redis serves those waiters when this script ends.
  The element's leading `<now + ttl>` is the expiry on the broker's clock: with a test clock
  (ARGV 1 given) readers compare it with that clock; PEXPIRE always runs in the server's real
  time, so without a test clock the two agree and with one the key still disappears.
RETURNS
  1 when stored, 0 when ttl <= 0 (the earlier result, if any, is gone).
]]

local key = KEYS[1]
local now = clock(ARGV[1])
local ttl = num(ARGV[2], 'ttl')
local result = ARGV[3]

redis.call('DEL', key)
if ttl <= 0 then
  return 0
end
redis.call('RPUSH', key, fmt(now + ttl) .. ' ' .. result)
redis.call('PEXPIRE', key, math.ceil(ttl * 1000))
return 1
