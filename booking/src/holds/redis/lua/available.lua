-- KEYS: the 8 event keys. ARGV: none -> GA places neither held nor consumed | -1 unknown
reclaim()
local ga = kcall('HMGET', K_GA, 'capacity', 'held', 'consumed')
if not ga[1] then
  return -1
end
return math.max(tonumber(ga[1]) - tonumber(ga[2] or '0') - tonumber(ga[3] or '0'), 0)
