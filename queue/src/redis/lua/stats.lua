-- stats() -> {waiting, active, admitted_total, joins_total}
if redis.call('EXISTS', K_SETTINGS) == 0 then
  return no_room()
end
local now = now_ms()
-- Sessions past their expiry but not yet reaped by a tick are not active.
local active = redis.call('ZCOUNT', K_ACTIVE, '(' .. now, '+inf')
local totals = redis.call('HMGET', K_STATS, 'admitted_total', 'joins_total')
return {redis.call('ZCARD', K_QUEUE), active, tonumber(totals[1] or 0), tonumber(totals[2] or 0)}
