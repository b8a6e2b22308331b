-- The guard's check folded into the join (ADR 0007), after the queue's prelude with
-- `join_place()` and `guard_check()` (one TIME for both: `redis_time()`): one round trip
-- counts the request, reads whether the visitor is shadowed and — when asked and only when
-- the request is clean (every counter within its limit, the place not refused, not
-- shadowed) — takes the visitor's place.
-- Every key carries the room's hash tag (`ar:{ROOM}:…`, `bg:{ROOM}:…`): one Cluster slot.
--
-- KEYS: with a join, the room's twelve queue keys (`join_place` reads KEYS[1..12]); with a
--       shadow read, the visitor's shadow key (`bg:{ROOM}:s:<visitor>`); then the check's.
-- ARGV: [1] the visitor to join ('' for no join; `join_place` reads ARGV[1]), [2] '1' to
--       read the shadow key, then the check's.
-- Reply: {shadowed (0/1), join state (0 not joined, 1 joined, 2 the room is not
--        initialised), the check's reply..., the join's reply... (state 1 only)}.
local join = ARGV[1] ~= ''
local kbase = 0
if join then
  kbase = 12
end
local shadowed = 0
if ARGV[2] == '1' then
  kbase = kbase + 1
  shadowed = redis.call('EXISTS', KEYS[kbase])
end
local reply = {shadowed, 0}
local clean = guard_check(kbase, 2, reply, redis_time())
if join and clean and shadowed == 0 then
  local joined = join_place()
  if joined.err then
    reply[2] = 2
  else
    reply[2] = 1
    for i = 1, #joined do
      reply[#reply + 1] = joined[i]
    end
  end
end
return reply
