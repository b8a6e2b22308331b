-- KEYS: event keys, hold, holder. ARGV: holder, ttl_ms, max_per_holder, hold_id, seat...
-- -> {'ok', expires, fence} | {'taken', seat...} | {'cap', max}
local holder, ttl, max, id = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
reclaim()
local seats, taken = {}, {}
for i = 5, #ARGV do
  local seat = ARGV[i]
  seats[#seats + 1] = seat
  local by = kcall('HGET', K_SEATS, seat)
  if kcall('SISMEMBER', K_BOOKED, seat) == 1 or (by and live(by)) then
    taken[#taken + 1] = seat
  end
end
if #taken > 0 then
  table.insert(taken, 1, 'taken')
  return taken
end
if holder_held() + #seats > max then
  return {'cap', int(max)}
end
for _, seat in ipairs(seats) do
  kcall('HSET', K_SEATS, seat, id)
end
local csv = table.concat(seats, ',')
kcall('HSET', K_HSEATS, id, csv)
return record_hold(id, holder, csv, #seats, ttl)
