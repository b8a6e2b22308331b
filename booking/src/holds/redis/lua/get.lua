-- KEYS: event keys, hold. ARGV: none -> {holder, seats, quantity, expires, fence} | {}
local h = kcall('HMGET', K_HOLD, 'holder', 'seats', 'quantity', 'expires', 'fence')
if not h[1] or tonumber(h[4]) <= NOW then
  return {}
end
return h
