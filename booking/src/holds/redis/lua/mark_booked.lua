-- KEYS: the 8 event keys. ARGV: seat... -> seats newly marked (rebuilding from the ledger)
local added = 0
for i = 1, #ARGV do
  added = added + kcall('SADD', K_BOOKED, ARGV[i])
end
return added
