-- join(visitor) -> {1, position, waiting, ticket, new} | {2, expires_at_ms, new} | {4, 0} closed |
-- {5, 0} sold out; new = 1 when this call took the place (or admitted straight through)
local visitor = ARGV[1]
local s = load_settings()
if not s then
  return no_room()
end
if s.mode == 'closed' then
  return {4, 0}
end
if s.sold_out then
  return {5, 0}
end
local now = now_ms()

local expires = redis.call('ZSCORE', K_ACTIVE, visitor)
if expires then
  expires = tonumber(expires)
  if expires > now then
    return {2, expires, 0}
  end
  redis.call('ZREM', K_ACTIVE, visitor)
end

local rank = redis.call('ZRANK', K_QUEUE, visitor)
if rank then
  redis.call('ZADD', K_SEEN, room_now(now), visitor)
  return {1, rank + 1, redis.call('ZCARD', K_QUEUE), tonumber(redis.call('ZSCORE', K_QUEUE, visitor)), 0}
end

local waiting = redis.call('ZCARD', K_QUEUE)
local straight_in = false
if s.mode == 'passthrough' then
  straight_in = true
elseif s.mode == 'safety-net' and waiting == 0 and not s.paused then
  local active = redis.call('ZCARD', K_ACTIVE)
  straight_in = bucket_take(now, s.rate, s.max_active, active, 1) == 1
end

redis.call('HINCRBY', K_STATS, 'joins_total', 1)
if straight_in then
  expires = now + s.session_ms
  redis.call('ZADD', K_ACTIVE, expires, visitor)
  redis.call('HINCRBY', K_STATS, 'admitted_total', 1)
  return {2, expires, 1}
end

if waiting == 0 then
  frontier_changed(now) -- a new head
end
local ticket = redis.call('INCR', K_SEQ)
redis.call('ZADD', K_QUEUE, ticket, visitor)
redis.call('ZADD', K_SEEN, room_now(now), visitor)
return {1, waiting + 1, waiting + 1, ticket, 1}
