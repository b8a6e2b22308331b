-- KEYS: the 8 event keys. ARGV: capacity, sold
-- -> 1 recorded | 0 same capacity already | -existing on conflict
local capacity = tonumber(ARGV[1])
local existing = kcall('HGET', K_GA, 'capacity')
if existing then
  if tonumber(existing) == capacity then
    return 0
  end
  return -tonumber(existing)
end
kcall('HSET', K_GA, 'capacity', capacity, 'held', 0, 'consumed', ARGV[2])
return 1
