-- revocations() -> flat {visitor, revoked_at_ms, ...} of revocations still in force
local s = load_settings()
if not s then
  return no_room()
end
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', K_REVOKED, '-inf', now - s.session_ms)
-- Bounded reply; far more revocations than one session's worth would be an abuse anyway.
return redis.call('ZRANGE', K_REVOKED, 0, 9999, 'WITHSCORES')
