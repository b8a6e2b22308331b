-- status(visitor) -> {1, position, waiting, ticket} | {2, expires_at_ms} | {3} absent | {4} | {5}
local visitor = ARGV[1]
local s = load_settings()
if not s then
  return no_room()
end
if s.mode == 'closed' then
  return {4}
end
local now = now_ms()

local expires = redis.call('ZSCORE', K_ACTIVE, visitor)
if expires and tonumber(expires) > now then
  return {2, tonumber(expires)}
end

local rank = redis.call('ZRANK', K_QUEUE, visitor)
if rank then
  -- Polling is what keeps a place: the abandonment clock restarts.
  redis.call('ZADD', K_SEEN, room_now(now), visitor)
  if s.sold_out then
    return {5}
  end
  return {1, rank + 1, redis.call('ZCARD', K_QUEUE),
    tonumber(redis.call('ZSCORE', K_QUEUE, visitor))}
end
if s.sold_out then
  return {5}
end
return {3}
