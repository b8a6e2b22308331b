-- KEYS: the 8 event keys. ARGV: none -> seats held by live holds
reclaim()
local out = {}
for _, id in ipairs(kcall('ZRANGEBYSCORE', K_LIVE, NOW + 1, '+inf')) do
  for seat in string.gmatch(kcall('HGET', K_HSEATS, id) or '', '[^,]+') do
    out[#out + 1] = seat
  end
end
return out
