-- ARGV: prefix, holder, ttl_ms, max_per_holder, hold_id, quantity
-- -> {'ok', expires, fence} | {'left', available} | {'cap', max} | {'unknown'}
local holder, ttl, max, id, q = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
reclaim()
local ga = redis.call('HMGET', K_GA, 'capacity', 'held', 'consumed')
if not ga[1] then
  return {'unknown'}
end
local available = tonumber(ga[1]) - tonumber(ga[2] or '0') - tonumber(ga[3] or '0')
if q > available then
  return {'left', int(math.max(available, 0))}
end
if holder_held(holder) + q > max then
  return {'cap', int(max)}
end
redis.call('HINCRBY', K_GA, 'held', q)
redis.call('HSET', K_QTY, id, q)
return record_hold(id, holder, '', q, ttl)
