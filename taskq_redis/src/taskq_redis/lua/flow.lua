--[[
flow.lua: workflow steps: ack or bury each delivery AND apply its continuation, in one step
(or, for a producer, start a workflow: create its chords and send its first messages at once).
The worker runs it instead of ack.lua / dead.lua only for messages that carry a flow header,
so plain tasks never pay for workflows. One call settles a batch of steps of one queue.

KEYS
  1 Q:processing   2 Q:payloads   3 Q:state   4 Q:marker   5 Q:meta
  6..15 Q:ready:0 .. Q:ready:9   16 Q:done   17 Q:done_old   18 Q:history   19 Q:dead
      the settled delivery's queue (mode `start`: any queue, unused)
  20 <prefix>:queues   the set of every queue name (each target queue is added)
  21.. every other key the continuation names, referred to by index from ARGV: the target
      queues' payloads, state, scheduled, marker and READY list, result keys of the sent
      messages, chord join records `<prefix>:{<callback queue>}:chord:<callback id>` and the
      callback queue's chord indexes `Q:chords` and `Q:chords_failed` (see lib.lua)
ARGV
  1 mode   `ack`, `dead` or `start`
  2 now    float seconds, or '' for the server's TIME
  3 steps  how many steps follow; each step is:
    id, token, worker   the delivery (fenced like ack.lua; '' for start)
    reason (dead)
    chords, sends, results, join (0 or 1): how many of each follow, in this order
  then each chord:  chord key, chords key, size, member ids (JSON list), callback send
       each send:   payloads, state, scheduled, marker, ready, result (KEYS indexes), queue,
                    id, payload, priority, max_deliveries, eta ('' = now)    (12 values)
       each result: result key, ttl, TaskResult JSON
       the join:    chord key, chords key, chords_failed key, index, member id, value JSON,
                    callback send (payload ''),
                    failures ttl, failures count, each (result key, TaskResult JSON),
                    errbacks count, errback sends
EFFECTS
  ack: fenced like ack.lua, with the same effects (tombstone, history `ok`; both written once
    for the whole call, as in ack_many.lua); not held but acked by this very delivery before
    (a lost reply): answers 1 and applies nothing again.
  dead: fenced like dead.lua, with the same effects (history `fail`).
  Then (all modes): each chord record is created unless one exists (HSETNX `#size`, `#cb` =
  callback payload, `#t` = now, `#ids` = member ids; size 0 sends the callback at once) and
  its callback id added to Q:chords (score now), whose entries older than
  CHORD_INDEX_RETENTION are trimmed there; each send is written like send.lua
  (HSETNX payload: an id already known is left alone), also deleting the id's result key; each
  result is stored like store_result.lua.
  Join on ack: when the record exists, HSETNX `m:<index>` = value; a new field counts `#n`;
  when `#n` reaches `#size` the callback is sent with the payload's "__taskq_chord_results__"
  replaced by `[m:0,...,m:size-1]` (the member values, in order), its result key deleted (a
  chord failed earlier completes), and the record is deleted (and its id removed from
  Q:chords and Q:chords_failed), so the callback is sent once.
  Join on dead: when the record exists and has no `#failed`, HSET `#failed` = member id, store
  the failures (the callback's, and its chain's) and send the errbacks (once per chord), and
  move the callback id from Q:chords to Q:chords_failed (score now; only the newest
  CHORD_FAILED_KEPT stay there). The record stays, so a requeued member that succeeds later
  still completes the chord.
  Steps are applied in order, each as described; a step whose lease was lost changes nothing
  (its continuation is skipped, not applied).
RETURNS
  { flag_1, flag_2, ... }: 1 when acked / buried / started, 0 when the lease was lost.
NOTE
  Redis Cluster: the keys of one call span the settled queue, the target queues, the chord
  records and result keys, which are in different slots unless they share a hash tag; see
  docs/workflows.md.
]]

local processing, payloads, state, marker, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local ready = ready_keys(6)
local done, done_old, history, dead, queues = KEYS[16], KEYS[17], KEYS[18], KEYS[19], KEYS[20]
local mode = ARGV[1]
local now = clock(ARGV[2])
local RESULTS_PLACEHOLDER = '"__taskq_chord_results__"'
-- Seconds an open chord stays in Q:chords, and failed chords kept in Q:chords_failed
-- (taskq_core.capabilities.chord_index.INDEX_RETENTION and FAILED_KEPT).
local CHORD_INDEX_RETENTION = 604800
local CHORD_FAILED_KEPT = 100

local pos = 4
local function arg()
  local value = ARGV[pos]
  pos = pos + 1
  return value
end
local function key()
  return KEYS[tonumber(arg())]
end
local function read_send()
  return {
    payloads = key(), state = key(), scheduled = key(), marker = key(), ready = key(),
    result = key(), queue = arg(), id = arg(), payload = arg(), priority = tonumber(arg()),
    max_deliveries = arg(), eta = arg()
  }
end
-- Queue names added to the queues set, and markers marked READY, by this call (once each).
local announced, marked = {}, {}

-- Write a message like send.lua, deleting its id's result key; 0 when the id is known.
local function put(s, payload)
  if redis.call('HSETNX', s.payloads, s.id, payload) == 0 then
    return 0
  end
  redis.call('DEL', s.result)
  if not announced[s.queue] then
    announced[s.queue] = true
    redis.call('SADD', queues, s.queue)
  end
  local fields = new_state({}, s.id, s.max_deliveries, s.priority)
  if #fields > 0 then
    redis.call('HSET', s.state, unpack(fields))
  end
  local eta = tonumber(s.eta)
  if eta ~= nil and eta > now then
    redis.call('ZADD', s.scheduled, fmt(eta), s.id)
    mark_eta(s.marker, eta)
  else
    redis.call('RPUSH', s.ready, s.id)
    if not marked[s.marker] then
      marked[s.marker] = true
      mark_ready(s.marker)
    end
  end
  return 1
end
local function store(result_key, ttl, result)
  redis.call('DEL', result_key)
  if ttl > 0 then
    redis.call('RPUSH', result_key, fmt(now + ttl) .. ' ' .. result)
    redis.call('PEXPIRE', result_key, math.ceil(ttl * 1000))
  end
end
-- The callback payload with the member values (m:0 .. m:size-1, in order) in place.
local function filled(template, chord, size)
  local first, last = string.find(template, RESULTS_PLACEHOLDER, 1, true)
  if first == nil then
    return template
  end
  local values = {}
  for i = 0, size - 1, CHUNK do
    local fields = {}
    for j = i, math.min(i + CHUNK, size) - 1 do
      fields[#fields + 1] = 'm:' .. j
    end
    for _, value in ipairs(redis.call('HMGET', chord, unpack(fields))) do
      values[#values + 1] = value or 'null'
    end
  end
  return string.sub(template, 1, first - 1) .. '[' .. table.concat(values, ',') .. ']'
    .. string.sub(template, last + 1)
end

-- Acked ids of this call: their tombstones, written once at the end (as ack_many.lua does).
local marks, written, deadline, acked, buried = {}, {}, 0, 0, 0

-- Settle one delivery as `mode` says; false when its lease was lost (nothing changed).
local function settle(id, token, worker, reason)
  if mode == 'ack' then
    local held = holds(processing, state, id, token, worker)
    if not held then
      return false
    end
    redis.call('ZREM', processing, id)
    redis.call('HDEL', payloads, id)
    clear_state(state, { id })
    local mark = acked_mark(token)
    marks[#marks + 1] = id
    marks[#marks + 1] = mark
    written[id] = mark
    deadline = math.max(deadline, held)
    acked = acked + 1
  elseif mode == 'dead' then
    if not holds(processing, state, id, token, worker) then
      return false
    end
    redis.call('ZREM', processing, id)
    bury(dead, state, id, reason, now)
    buried = buried + 1
  end
  return true
end

-- One step: read all of its arguments (so the next step starts at the right place), settle
-- the delivery, and apply the continuation only when that worked.
local function step()
  local id, token, worker, reason = arg(), arg(), arg(), arg()
  local chords, sends, results, joins = tonumber(arg()), tonumber(arg()), tonumber(arg()),
    tonumber(arg())
  local chord_specs, send_specs, result_specs, join = {}, {}, {}, nil
  for i = 1, chords do
    chord_specs[i] = { key(), key(), tonumber(arg()), arg(), read_send() }
  end
  for i = 1, sends do
    send_specs[i] = read_send()
  end
  for i = 1, results do
    result_specs[i] = { key(), tonumber(arg()), arg() }
  end
  if joins == 1 then
    join = { chord = key(), chords = key(), failed = key(), index = arg(), member = arg(),
      value = arg(), callback = read_send() }
    join.ttl, join.failures, join.errbacks = tonumber(arg()), {}, {}
    for i = 1, tonumber(arg()) do
      join.failures[i] = { key(), arg() }
    end
    for i = 1, tonumber(arg()) do
      join.errbacks[i] = read_send()
    end
  end

  if not settle(id, token, worker, reason) then
    local mark = acked_mark(token)
    if mode == 'ack' and (written[id] == mark or acked_before(done, done_old, id, mark)) then
      return 1 -- applied by an earlier call (or step) whose reply was lost: nothing again
    end
    return 0
  end
  for _, spec in ipairs(chord_specs) do
    local chord, index, size, members, callback = spec[1], spec[2], spec[3], spec[4], spec[5]
    if size <= 0 then
      put(callback, filled(callback.payload, chord, 0))
    elseif redis.call('HSETNX', chord, '#size', size) == 1 then
      redis.call('HSET', chord, '#cb', callback.payload, '#n', 0, '#t', fmt(now), '#ids', members)
      redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. fmt(now - CHORD_INDEX_RETENTION))
      redis.call('ZADD', index, fmt(now), callback.id)
    end
  end
  for _, s in ipairs(send_specs) do
    put(s, s.payload)
  end
  for _, spec in ipairs(result_specs) do
    store(spec[1], spec[2], spec[3])
  end
  if join ~= nil and redis.call('EXISTS', join.chord) == 1 then
    local chord, callback = join.chord, join.callback
    if mode == 'ack' then
      if redis.call('HSETNX', chord, 'm:' .. join.index, join.value) == 1 then
        local n = redis.call('HINCRBY', chord, '#n', 1)
        local size = tonumber(redis.call('HGET', chord, '#size'))
        if n >= size then
          local payload = filled(redis.call('HGET', chord, '#cb'), chord, size)
          redis.call('DEL', chord)
          redis.call('ZREM', join.chords, callback.id)
          redis.call('ZREM', join.failed, callback.id)
          redis.call('DEL', callback.result)
          put(callback, payload)
        end
      end
    elseif redis.call('HSETNX', chord, '#failed', join.member) == 1 then
      redis.call('ZREM', join.chords, callback.id)
      redis.call('ZADD', join.failed, fmt(now), callback.id)
      redis.call('ZREMRANGEBYRANK', join.failed, 0, -CHORD_FAILED_KEPT - 1)
      for _, failure in ipairs(join.failures) do
        store(failure[1], join.ttl, failure[2])
      end
      for _, errback in ipairs(join.errbacks) do
        put(errback, errback.payload)
      end
    end
  end
  return 1
end

local flags = {}
for i = 1, tonumber(ARGV[3]) do
  flags[i] = step()
end
if acked > 0 then
  remember_acked(done, done_old, marks, deadline, now)
  count_outcome(history, 'ok', acked, now)
end
if acked + buried > 0 then
  wake_below_cap(meta, processing, marker, ready)
end
if buried > 0 then
  count_outcome(history, 'fail', buried, now)
end
return flags
