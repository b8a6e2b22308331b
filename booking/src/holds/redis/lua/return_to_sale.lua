-- KEYS: the 8 event keys. ARGV: quantity, seat...  (places a cancellation gave back, that no
-- waitlisted fan took) -> 1. Seats are no longer booked; GA places leave the consumed count
-- (never below zero). Idempotent for seats; the ledger calls it once per returned place.
local q = tonumber(ARGV[1])
for i = 2, #ARGV do
  kcall('SREM', K_BOOKED, ARGV[i])
end
if #ARGV == 1 and q > 0 then
  local consumed = tonumber(kcall('HGET', K_GA, 'consumed') or '0')
  kcall('HSET', K_GA, 'consumed', int(math.max(consumed - q, 0)))
end
return 1
