-- ARGV: prefix, seat... -> seats newly marked (rebuilding from the ledger)
local added = 0
for i = 2, #ARGV do
  added = added + redis.call('SADD', K_BOOKED, ARGV[i])
end
return added
