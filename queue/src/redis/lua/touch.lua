-- touch(visitor, ...) -> how many were still queued. An open stream keeps its place: the
-- queued ones among the visitors are marked seen at the abandonment clock's reading now.
if redis.call('EXISTS', K_SETTINGS) == 0 then
  return no_room()
end
local seen_at = room_now(now_ms())
local queued = 0
for i = 1, #ARGV, 500 do
  local last = math.min(i + 499, #ARGV)
  local scores = redis.call('ZMSCORE', K_SEEN, unpack(ARGV, i, last))
  local zargs = {}
  for j = 1, #scores do
    if scores[j] then
      zargs[#zargs + 1] = seen_at
      zargs[#zargs + 1] = ARGV[i + j - 1]
    end
  end
  if #zargs > 0 then
    redis.call('ZADD', K_SEEN, 'XX', unpack(zargs))
    queued = queued + #zargs / 2
  end
end
return queued
