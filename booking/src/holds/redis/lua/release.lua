-- KEYS: event keys, hold, holder. ARGV: hold_id, holder
-- -> 1 released | 0 not a live hold of this holder
local id, holder = ARGV[1], ARGV[2]
local h = kcall('HMGET', K_HOLD, 'holder', 'expires')
if not h[1] or h[1] ~= holder or tonumber(h[2]) <= NOW then
  return 0
end
drop_hold(id)
return 1
