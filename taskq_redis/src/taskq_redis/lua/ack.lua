--[[
ack.lua: a delivery finished; the message leaves the broker.

KEYS
  1 Q:processing   2 Q:payloads   3 Q:state
ARGV
  1 id   2 token (delivery count handed out by reserve)   3 worker
EFFECTS
  Fenced: only when the id is in PROCESSING, owned by `worker`, with delivery count `token`.
  Then ZREM processing, HDEL the payload and every state field of the id.
RETURNS
  1 when acked, 0 when the lease was lost (nothing changed).
NOTE
  To ack and fetch the next batch in one round trip, pipeline this script with reserve.lua
  (RedisBroker.ack_and_reserve): both stay atomic on their own, and nothing needs them to be
  atomic together.
]]

local processing, payloads, state = KEYS[1], KEYS[2], KEYS[3]
local id, token, worker = ARGV[1], ARGV[2], ARGV[3]

if not holds(processing, state, id, token, worker) then
  return 0
end
redis.call('ZREM', processing, id)
redis.call('HDEL', payloads, id)
clear_state(state, { id })
return 1
