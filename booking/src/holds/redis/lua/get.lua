-- ARGV: prefix, hold_id -> {holder, seats, quantity, expires, fence} | {}
local h = redis.call('HMGET', hold_key(ARGV[2]), 'holder', 'seats', 'quantity', 'expires', 'fence')
if not h[1] or tonumber(h[4]) <= NOW then
  return {}
end
return h
