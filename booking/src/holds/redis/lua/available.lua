-- ARGV: prefix -> GA places neither held nor consumed | -1 unknown event
reclaim()
local ga = redis.call('HMGET', K_GA, 'capacity', 'held', 'consumed')
if not ga[1] then
  return -1
end
return math.max(tonumber(ga[1]) - tonumber(ga[2] or '0') - tonumber(ga[3] or '0'), 0)
