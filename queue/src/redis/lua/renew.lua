-- renew(visitor) -> {1, expires_at_ms} | {0} without an active session
local visitor = ARGV[1]
local s = load_settings()
if not s then
  return no_room()
end
local now = now_ms()
local expires = redis.call('ZSCORE', K_ACTIVE, visitor)
if not expires then
  return {0}
end
if tonumber(expires) <= now then
  redis.call('ZREM', K_ACTIVE, visitor)
  return {0}
end
expires = now + s.session_ms
redis.call('ZADD', K_ACTIVE, expires, visitor)
return {1, expires}
