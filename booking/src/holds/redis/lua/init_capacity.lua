-- ARGV: prefix, capacity -> 1 recorded | 0 same capacity already | -existing on conflict
local capacity = tonumber(ARGV[2])
local existing = redis.call('HGET', K_GA, 'capacity')
if existing then
  if tonumber(existing) == capacity then
    return 0
  end
  return -tonumber(existing)
end
redis.call('HSET', K_GA, 'capacity', capacity, 'held', 0, 'consumed', 0)
return 1
