-- ARGV: prefix, hold_id, holder, quantity, seat...  (after the ledger confirmed the hold)
-- -> 1 consumed now | 0 already consumed. Works even if the hold expired meanwhile: the
-- ledger's word is final.
local id, holder, q = ARGV[2], ARGV[3], tonumber(ARGV[4])
if redis.call('SADD', K_CONSUMED, id) == 0 then
  return 0
end
local seats = {}
for i = 5, #ARGV do
  seats[#seats + 1] = ARGV[i]
  redis.call('SADD', K_BOOKED, ARGV[i])
end
drop_hold(id, holder, table.concat(seats, ','))
if #seats == 0 and q > 0 then
  redis.call('HINCRBY', K_GA, 'consumed', q)
end
return 1
