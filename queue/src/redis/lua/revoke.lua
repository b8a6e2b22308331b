-- revoke(visitor) -> 1 if the visitor had a place or an active session, else 0.
-- The revocation is remembered for session_seconds (no pass issued before it outlives that).
local visitor = ARGV[1]
local s = load_settings()
if not s then
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
redis.call('ZADD', K_REVOKED, now, visitor)
redis.call('ZREMRANGEBYSCORE', K_REVOKED, '-inf', now - s.session_ms)
return had
