--[[
rate_limit.lua: take one grant of a shared rate limiter, or say how long until one is possible.
A sliding-window log: at most `limit` grants in any window (now - period, now].

KEYS
  1 <prefix>:{rl:<name>}:log   ZSET grant member -> grant time (its own tag: a limiter is shared
                               by tasks of any queue)
ARGV
  1 now      float seconds, or '' for the server's TIME
  2 limit    grants per window, integer >= 1
  3 period   window length in seconds (> 0)
  4 nonce    unique per call (the client sends random hex), so two grants at the same instant
             are two members
EFFECTS
  Drops grants that left the window (score <= now - period), at most 1000 per call: the log
  holds at most `limit` grants plus stale ones, each call adds at most one, so the stale ones
  never pile up, and no call does unbounded work however large `limit` is. Counts the grants
  still in the window (ZCOUNT, so stale ones left over do not count). Below `limit`: ZADD
  `<now>:<nonce>` at now and PEXPIRE the log period + 60 s, so an idle limiter's key vanishes
  by itself (the margin keeps a test clock that runs behind real time safe). At the limit:
  nothing is written.
  Memory: one member per grant in the window, so a limiter costs O(limit).
RETURNS
  '0' when granted; otherwise the seconds (a string, > 0) until the oldest grant in the window
  leaves it: oldest + period - now.
]]

local log = KEYS[1]
local now = clock(ARGV[1])
local limit = num(ARGV[2], 'limit')
local period = num(ARGV[3], 'period')
local nonce = ARGV[4]
if limit < 1 or limit ~= math.floor(limit) or period <= 0 or nonce == '' then
  error('taskq: rate_limit needs an integer limit >= 1, period > 0 and a nonce')
end
-- Idle limiter keys outlive their window by this much (milliseconds).
local MARGIN_MS = 60000

local cutoff = fmt(now - period)
local stale = redis.call('ZCOUNT', log, '-inf', cutoff)
if stale > 0 then
  redis.call('ZREMRANGEBYRANK', log, 0, math.min(stale, CHUNK) - 1)
end
local in_window = redis.call('ZCOUNT', log, '(' .. cutoff, '+inf')
if in_window < limit then
  redis.call('ZADD', log, fmt(now), fmt(now) .. ':' .. nonce)
  redis.call('PEXPIRE', log, math.ceil(period * 1000) + MARGIN_MS)
  return '0'
end
local oldest = redis.call('ZRANGEBYSCORE', log, '(' .. cutoff, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
local wait = tonumber(oldest[2]) + period - now
-- A grant exactly `period` old has left the window already, so the wait is never 0; keep it
-- strictly positive against rounding as well.
return fmt(math.max(wait, 1e-6))
