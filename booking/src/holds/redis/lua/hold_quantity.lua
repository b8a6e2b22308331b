-- KEYS: event keys, hold, holder. ARGV: holder, ttl_ms, max_per_holder, hold_id, quantity
-- -> {'ok', expires, fence} | {'left', available} | {'cap', max} | {'unknown'}
local holder, ttl, max, id, q = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
reclaim()
local ga = kcall('HMGET', K_GA, 'capacity', 'held', 'consumed')
if not ga[1] then
  return {'unknown'}
end
local available = tonumber(ga[1]) - tonumber(ga[2] or '0') - tonumber(ga[3] or '0')
if q > available then
  return {'left', int(math.max(available, 0))}
end
if holder_held() + q > max then
  return {'cap', int(max)}
end
kcall('HINCRBY', K_GA, 'held', q)
kcall('HSET', K_QTY, id, q)
return record_hold(id, holder, '', q, ttl)
