-- ARGV: prefix -> seats held by live holds
reclaim()
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K_LIVE, NOW + 1, '+inf')) do
  local seats = redis.call('HGET', hold_key(id), 'seats')
  if seats then
    for seat in string.gmatch(seats, '[^,]+') do
      out[#out + 1] = seat
    end
  end
end
return out
