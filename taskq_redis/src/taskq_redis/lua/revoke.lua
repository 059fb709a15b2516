--[[
revoke.lua: a message is revoked: removed when it waits, marked when it runs.

KEYS
  1 Q:processing   2 Q:scheduled   3 Q:payloads   4 Q:state   5 Q:history
  6..15 Q:ready:0 .. Q:ready:9
  16 Q:terminate:<owner>  the termination list of the worker the client saw owning the id
                          (any name of the queue's tag when it saw none)
ARGV
  1 now        float seconds, or '' for the server's TIME (the minute the history counts it in)
  2 id         message id
  3 terminate  '1' to have a running task stopped, else '0'
  4 owner      the owner worker the client read from state `w` ('' when none)
EFFECTS
  Unknown id (no payload): nothing.
  PROCESSING: HSET state `k` = 1 (and the queue's `#ends`, see lib.lua), so whatever would run the message again (a retry, a lease
  recovered by the reaper, a worker that starts later) ends it REVOKED at reserve (reserve.lua
  flags it, end.lua ends it); it lives and goes with the message, so it needs no TTL of its
  own. With terminate, RPUSH the id to the owner's termination list (EXPIRE TERMINATE_TTL),
  which the owner's BLPOP receives at once; when the owner is not the one the client read,
  nothing changes and the answer is 'moved' (the client reads the owner again).
  SCHEDULED (ZREM) or READY (LREM from the list of its priority): the message leaves the broker
  (HDEL payload and state) and one `revoked` is counted (count_ended).
  DEAD: nothing.
RETURNS
  'revoked' (it was READY or SCHEDULED and is gone), 'running' (PROCESSING, marked), 'moved'
  (PROCESSING under another owner than ARGV 4; nothing changed) or 'absent' (unknown or DEAD).
NOTE
  The REVOKED result of a removed message is stored by the client right after this script
  (the result key is outside the queue's tag). LREM is O(length of the READY list): revoking
  is an operator's action, not a hot path.
]]

local processing, scheduled, payloads, state, history =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local ready = ready_keys(6)
local terminations = KEYS[16]
local id, terminate, owner = ARGV[2], ARGV[3] == '1', ARGV[4]
local now = clock(ARGV[1])

if redis.call('HEXISTS', payloads, id) == 0 then
  return 'absent'
end
if redis.call('ZSCORE', processing, id) then
  local holder = redis.call('HGET', state, id .. ':w') or ''
  if terminate and holder ~= owner then
    return 'moved'
  end
  redis.call('HSET', state, id .. ':k', 1, ENDS_FLAG, 1)
  if terminate and holder ~= '' then
    redis.call('RPUSH', terminations, id)
    redis.call('EXPIRE', terminations, TERMINATE_TTL)
  end
  return 'running'
end
local removed = redis.call('ZREM', scheduled, id) == 1
if not removed then
  removed = redis.call('LREM', ready[ready_index(state, id)], 1, id) > 0
end
if not removed then
  return 'absent'
end
redis.call('HDEL', payloads, id)
clear_state(state, { id })
count_ended(history, 'revoked', 1, now)
return 'revoked'
