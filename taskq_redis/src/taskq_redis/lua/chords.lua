--[[
chords.lua: read a queue's open chords (the dashboard's Workflows page); changes nothing.

KEYS
  1 Q:chords          ZSET  callback id -> created (waiting chords, see flow.lua)
  2 Q:chords_failed   ZSET  callback id -> failed at (the newest failed chords)
ARGV
  1 now     float seconds, or '' for the server's TIME
  2 mode    `list` or `info`
  list: 3 limit
  info: 3 callback id, 4 offset, 5 limit
  The join records `Q:chord:<callback id>` read here are named from KEYS[1] (same queue, same
  hash tag, so the same slot); they cannot be declared up front, the ids come from the index.
  Only chords listed in the index (or, for `info`, the one asked for) are read.
EFFECTS
  None (read only).
RETURNS
  list: { waiting_total, waiting, failed }, newest first, at most `limit` each (entries of
    Q:chords older than CHORD_INDEX_RETENTION are neither counted nor listed). Each of
    `waiting` and `failed` is a flat list of 7 values per chord: id, `#t`, `#size`, `#n`,
    `#failed`, `#cb`, failed at (the Q:chords_failed score, or ''). A listed id whose record
    is gone is skipped.
  info: nil when no record; else { id, `#t`, `#size`, `#n`, `#failed`, `#cb`, failed at,
    `#ids`, joined } where joined holds one character per member of the window, '1' when
    `m:<index>` exists, else '0'.
]]

local waiting, failed = KEYS[1], KEYS[2]
local now = clock(ARGV[1])
local mode = ARGV[2]
-- taskq_core.capabilities.chord_index.INDEX_RETENTION, as in flow.lua.
local CHORD_INDEX_RETENTION = 604800
local records = string.sub(waiting, 1, -#':chords' - 1) .. ':chord:'

-- The 7 summary values of chord `id`, or nil when its record is gone.
local function summary(id, failed_at)
  local fields = redis.call('HMGET', records .. id, '#t', '#size', '#n', '#failed', '#cb')
  if not fields[2] then
    return nil
  end
  return { id, fields[1] or '', fields[2], fields[3] or '0', fields[4] or '', fields[5] or '',
    failed_at or '' }
end
local function append(rows, values)
  for _, value in ipairs(values) do
    rows[#rows + 1] = value
  end
end

if mode == 'list' then
  local limit = tonumber(ARGV[3])
  local oldest = '(' .. fmt(now - CHORD_INDEX_RETENTION)
  local total = redis.call('ZCOUNT', waiting, oldest, '+inf')
  local open, gone = {}, {}
  if limit > 0 then
    for _, id in ipairs(redis.call('ZREVRANGEBYSCORE', waiting, '+inf', oldest, 'LIMIT', 0, limit)) do
      local row = summary(id, nil)
      if row then
        append(open, row)
      end
    end
    local ranked = redis.call('ZREVRANGE', failed, 0, limit - 1, 'WITHSCORES')
    for i = 1, #ranked, 2 do
      local row = summary(ranked[i], ranked[i + 1])
      if row then
        append(gone, row)
      end
    end
  end
  return { total, open, gone }
end

local id = ARGV[3]
local row = summary(id, redis.call('ZSCORE', failed, id))
if not row then
  return nil
end
local record = records .. id
local size = tonumber(row[3])
local first = math.max(0, tonumber(ARGV[4]))
local last = math.min(size, first + math.max(0, tonumber(ARGV[5]))) - 1
local joined = {}
for index = first, last do
  joined[#joined + 1] = redis.call('HEXISTS', record, 'm:' .. index) == 1 and '1' or '0'
end
row[#row + 1] = redis.call('HGET', record, '#ids') or ''
row[#row + 1] = table.concat(joined)
return row
