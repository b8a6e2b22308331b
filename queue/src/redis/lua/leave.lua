-- leave(visitor) -> 1 if the visitor had a place or an active session, else 0
local visitor = ARGV[1]
if redis.call('EXISTS', K_SETTINGS) == 0 then
  return no_room()
end
local now = now_ms()
local had = redis.call('ZREM', K_QUEUE, visitor)
local expires = redis.call('ZSCORE', K_ACTIVE, visitor)
if expires then
  redis.call('ZREM', K_ACTIVE, visitor)
  if tonumber(expires) > now then
    had = 1
  end
end
redis.call('ZREM', K_SEEN, visitor)
return had
