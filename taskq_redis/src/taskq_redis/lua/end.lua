--[[
end.lua: a held delivery ends without running to its end: revoked, or expired unstarted.

KEYS
  1 Q:processing   2 Q:payloads   3 Q:state   4 Q:marker   5 Q:meta
  6..15 Q:ready:0 .. Q:ready:9   16 Q:history
ARGV
  1 id   2 token (delivery count handed out by reserve)   3 worker
  4 now   float seconds, or '' for the server's TIME (the minute the history counts it in)
  5 kind  'revoked' or 'expired'
EFFECTS
  Fenced: only when the id is in PROCESSING, owned by `worker`, with delivery count `token`.
  Then ZREM processing, HDEL the payload and every state field of the id (the message leaves
  the broker, as by ack.lua), wake a worker blocked under the in-flight cap (wake_below_cap),
  and count one `kind` in the history and its total (count_ended).
RETURNS
  1 when ended, 0 when the lease was lost (nothing changed; a repeat after a lost reply is
  fenced out too, and answers 0).
NOTE
  The REVOKED or EXPIRED result is stored by store_result.lua, pipelined in front of this
  script (the result key is outside the queue's tag), and kept even when this is fenced out.
]]

local processing, payloads, state, marker, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local ready = ready_keys(6)
local history = KEYS[16]
local id, token, worker, kind = ARGV[1], ARGV[2], ARGV[3], ARGV[5]
if kind ~= 'revoked' and kind ~= 'expired' then
  error('taskq: end needs kind revoked or expired, got ' .. tostring(kind))
end
local now = clock(ARGV[4])

if not holds(processing, state, id, token, worker) then
  return 0
end
redis.call('ZREM', processing, id)
redis.call('HDEL', payloads, id)
clear_state(state, { id })
wake_below_cap(meta, processing, marker, ready)
count_ended(history, kind, 1, now)
return 1
