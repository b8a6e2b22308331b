-- ARGV: prefix, hold_id, holder -> 1 released | 0 not a live hold of this holder
local id, holder = ARGV[2], ARGV[3]
local h = redis.call('HMGET', hold_key(id), 'holder', 'seats', 'expires')
if not h[1] or h[1] ~= holder or tonumber(h[3]) <= NOW then
  return 0
end
drop_hold(id, holder, h[2])
return 1
