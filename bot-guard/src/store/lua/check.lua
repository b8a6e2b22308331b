-- The check script: one request counted against every check of the guard, atomically, in
-- one round trip (`guard_check` above, on all of KEYS and ARGV).
local reply = {}
guard_check(0, 0, reply, redis.call('TIME'))
return reply
