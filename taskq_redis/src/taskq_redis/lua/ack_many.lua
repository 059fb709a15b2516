--[[
ack_many.lua: many deliveries of one queue finished; each acked message leaves the broker.

KEYS
  1 Q:processing   2 Q:payloads   3 Q:state   4 Q:marker   5 Q:meta
  6..15 Q:ready:0 .. Q:ready:9   16 Q:done   17 Q:done_old   18 Q:history
  19 Q:unique   20 Q:unique_until
ARGV
  1.. id, token, worker triples, at most 1000 of them
  last  now: float seconds, or '' for the server's TIME (the minute the history counts in)
EFFECTS
  The same as ack.lua for each triple in turn, in a few batched commands: each is fenced on
  its own (in PROCESSING, owned by `worker`, with delivery count `token`; an id listed twice
  is acked once). For the held ones: ZREM processing, HDEL the payloads and their state
  fields (clear_held, chunked), and one HSET of their tombstones (id -> token) in Q:done. On
  a queue with an in-flight cap, marks READY once when READY has work the freed room lets in
  (wake_below_cap). Counts the
  acked ones as `ok` in the history (count_outcome). Unique keys the acked messages hold until
  done (state `u`, read by the same HMGET as the owners, with the queue's `#ends`) are
  released (release_unique).
  A triple not held whose tombstone (written by an earlier call, or by this call for a copy
  listed before it) names this very delivery counts as acked, as in ack.lua (and is not
  counted again).
  Reads first (ZMSCORE, HMGET), writes last, so an error leaves nothing half done.
RETURNS
  { acked_1, acked_2, ... }: 1 when acked, 0 when the lease was lost, in ARGV order.
NOTE
  Results are stored by store_result.lua calls pipelined in front of this script, as for
  ack.lua. Acking many in one call is not atomic as a whole in the contract's sense: each
  triple is decided on its own, and a lost lease of one changes nothing for the others.
]]

local processing, payloads, state, marker, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local ready = ready_keys(6)
local done, done_old, history = KEYS[16], KEYS[17], KEYS[18]
local count = (#ARGV - 1) / 3
if count ~= math.floor(count) or count > 1000 then
  error('taskq: ack_many needs at most 1000 id/token/worker triples')
end
local now = clock(ARGV[#ARGV])

-- `#ends` first (ENDS_FLAG: whether `v` and `k` can exist), then `d`, `w`, `u` of each id.
local ids, fields = {}, { ENDS_FLAG }
for i = 0, count - 1 do
  local id = ARGV[1 + i * 3]
  ids[i + 1] = id
  fields[3 * i + 2] = id .. ':d'
  fields[3 * i + 3] = id .. ':w'
  fields[3 * i + 4] = id .. ':u'
end
local acked = {}
if count == 0 then
  return acked
end
local scores = redis.call('ZMSCORE', processing, unpack(ids))
local owners = redis.call('HMGET', state, unpack(fields))
local gone, marks, written, missed, uniques, held_uniques = {}, {}, {}, {}, {}, {}
local deadline = 0
for i = 1, count do
  local id = ids[i]
  local base = 3 * (i - 1)
  local mark = acked_mark(ARGV[base + 2])
  if scores[i] and not written[id] and tonumber(owners[3 * i - 1]) == tonumber(ARGV[base + 2])
      and owners[3 * i] == ARGV[base + 3] then
    written[id] = mark
    gone[#gone + 1] = id
    if owners[3 * i + 1] then
      uniques[#uniques + 1] = i
      held_uniques[#gone] = true
    end
    marks[#marks + 1] = id
    marks[#marks + 1] = mark
    deadline = math.max(deadline, tonumber(scores[i]))
    acked[i] = 1
  elseif written[id] == mark then
    acked[i] = 1
  else
    missed[#missed + 1] = i
    acked[i] = 0
  end
end
-- The rare path: a lost lease, or a retry of a batch whose reply was lost.
for _, i in ipairs(missed) do
  if acked_before(done, done_old, ids[i], acked_mark(ARGV[3 * (i - 1) + 2])) then
    acked[i] = 1
  end
end
if #gone > 0 then
  each_chunk('ZREM', processing, gone)
  each_chunk('HDEL', payloads, gone)
  clear_held(state, gone, held_uniques, owners[1])
  remember_acked(done, done_old, marks, deadline, now)
  wake_below_cap(meta, processing, marker, ready)
  count_outcome(history, 'ok', #gone, now)
  for _, i in ipairs(uniques) do
    release_unique(KEYS[19], KEYS[20], owners[3 * i + 1], ids[i])
  end
end
return acked
