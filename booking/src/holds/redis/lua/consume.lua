-- KEYS: event keys, hold, holder. ARGV: hold_id, quantity, seat...  (after the ledger
-- confirmed the hold) -> 1 consumed now | 0 already consumed. Works even if the hold
-- expired meanwhile: the ledger's word is final.
local id, q = ARGV[1], tonumber(ARGV[2])
if kcall('SADD', K_CONSUMED, id) == 0 then
  return 0
end
for i = 3, #ARGV do
  kcall('SADD', K_BOOKED, ARGV[i])
end
drop_hold(id)
if #ARGV == 2 and q > 0 then
  kcall('HINCRBY', K_GA, 'consumed', q)
end
return 1
