--[[
ack.lua: a delivery finished; the message leaves the broker.

KEYS
  1 Q:processing   2 Q:payloads   3 Q:state   4 Q:marker   5 Q:meta
  6..15 Q:ready:0 .. Q:ready:9   16 Q:done   17 Q:done_old   18 Q:history
  19 Q:unique   20 Q:unique_until
ARGV
  1 id   2 token (delivery count handed out by reserve)   3 worker
  4 now   float seconds, or '' for the server's TIME (the minute the history counts it in)
EFFECTS
  Fenced: only when the id is in PROCESSING, owned by `worker`, with delivery count `token`.
  Then ZREM processing, HDEL the payload and the state fields of the id (clear_held), and
  leave a tombstone `id -> token` in Q:done (kept at least until the lease deadline the
  delivery had; see remember_acked in lib.lua). On a queue with an in-flight cap, marks READY
  when READY has work the freed room lets in (wake_below_cap). Counts one `ok` in the history
  (count_outcome). A unique key the message holds until done (state `u`, read by the fencing
  HMGET) is released when the message still holds it (release_unique).
  Not held, but the tombstone names this very delivery: the ack was applied by an earlier
  call whose reply was lost (the client retried it); nothing changes and the answer is 1 (and
  nothing is counted again).
RETURNS
  1 when acked (now or by this delivery's earlier call), 0 when the lease was lost (nothing
  changed).
NOTE
  A result is stored by store_result.lua, pipelined in front of this script in the same round
  trip (RedisBroker.ack): the result key is outside the queue's tag, so the two cannot be one
  script on Cluster, and the result is kept even when the ack is fenced out.
]]

local processing, payloads, state, marker, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local ready = ready_keys(6)
local done, done_old, history = KEYS[16], KEYS[17], KEYS[18]
local id, token, worker = ARGV[1], ARGV[2], ARGV[3]
local now = clock(ARGV[4])

local deadline, unique_key, ends = holds(processing, state, id, token, worker, true)
if not deadline then
  if acked_before(done, done_old, id, acked_mark(token)) then
    return 1
  end
  return 0
end
redis.call('ZREM', processing, id)
redis.call('HDEL', payloads, id)
clear_held(state, { id }, { unique_key }, ends)
remember_acked(done, done_old, { id, acked_mark(token) }, deadline, now)
release_unique(KEYS[19], KEYS[20], unique_key, id)
wake_below_cap(meta, processing, marker, ready)
count_outcome(history, 'ok', 1, now)
return 1
