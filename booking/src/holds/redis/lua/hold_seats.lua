-- ARGV: prefix, holder, ttl_ms, max_per_holder, hold_id, seat...
-- -> {'ok', expires, fence} | {'taken', seat...} | {'cap', max}
local holder, ttl, max, id = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
reclaim()
local seats, taken = {}, {}
for i = 6, #ARGV do
  local seat = ARGV[i]
  seats[#seats + 1] = seat
  if redis.call('SISMEMBER', K_BOOKED, seat) == 1 or redis.call('EXISTS', seat_key(seat)) == 1 then
    taken[#taken + 1] = seat
  end
end
if #taken > 0 then
  table.insert(taken, 1, 'taken')
  return taken
end
if holder_held(holder) + #seats > max then
  return {'cap', int(max)}
end
for _, seat in ipairs(seats) do
  redis.call('SET', seat_key(seat), id, 'PX', ttl)
end
return record_hold(id, holder, table.concat(seats, ','), #seats, ttl)
