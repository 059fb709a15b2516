--[[
send_ready.lua: the common send (`delay()` with the task's defaults): a new message enters
READY now. It writes exactly what send.lua writes for a message without an ETA, unique key,
expiry or result key to delete, of priority 0 and the default max_deliveries (5): such a message
has no state fields. The client picks this script for those messages only.

It exists for speed alone. Redis runs send.lua's argument checks, its library definitions and
its ten arguments on every call: about twice the server time of these three commands, which is
most of what a send costs Redis (bench/README.md, "Sends").

KEYS
  1 Q:payloads   2 Q:ready:0   3 Q:marker
ARGV
  1 id        message id
  2 payload   message JSON (written once, never rewritten)
EFFECTS
  Nothing when the id is already known to the queue in any state (its payload exists): a send
  retried after a lost reply cannot duplicate the message. Otherwise HSETNX payload (which is
  also the "known?" check), RPUSH to READY and mark READY on the marker.
RETURNS
  1 when written, 0 when the id was already known.
]]

if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('RPUSH', KEYS[2], ARGV[1])
mark_ready(KEYS[3])
return 1
