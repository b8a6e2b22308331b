-- Shared prelude of every hold script. KEYS[1] is the event's fence key: it carries the
-- event's hash tag so Redis Cluster routes the script to the event's shard; every other key
-- is built from the prefix ARGV[1] = 'bk:{EVENT}:' and shares that tag (one slot).
local P = ARGV[1]
local K_FENCE = KEYS[1]
local K_LIVE = P .. 'live'          -- zset hold_id -> expires_ms (every live hold)
local K_BOOKED = P .. 'booked'      -- set of seats booked for good
local K_GA = P .. 'ga'              -- hash capacity, held, consumed (general admission)
local K_QTY = P .. 'qty'            -- hash hold_id -> quantity of live GA holds
local K_CONSUMED = P .. 'consumed'  -- set of hold ids already consumed (idempotence)

-- Integral numbers as digits (tostring would print big ones as 1.7e+15).
local function int(n) return string.format('%.0f', n) end

local function hold_key(id) return P .. 'hold:' .. id end
local function seat_key(seat) return P .. 'seat:' .. seat end
local function holder_key(holder) return P .. 'holder:' .. holder end

local t = redis.call('TIME')
local NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local NOW_US = tonumber(t[1]) * 1000000 + tonumber(t[2])

-- Expired holds vanish by their keys' TTL; what they counted against general admission is
-- given back here, lazily, so correctness needs no cleanup job. Bounded per call.
local function reclaim()
  local expired = redis.call('ZRANGEBYSCORE', K_LIVE, '-inf', NOW, 'LIMIT', 0, 1000)
  for _, id in ipairs(expired) do
    local q = redis.call('HGET', K_QTY, id)
    if q then
      redis.call('HINCRBY', K_GA, 'held', -tonumber(q))
      redis.call('HDEL', K_QTY, id)
    end
    redis.call('ZREM', K_LIVE, id)
  end
end

-- Places the holder holds right now (the per-visitor cap).
local function holder_held(holder)
  local k = holder_key(holder)
  redis.call('ZREMRANGEBYSCORE', k, '-inf', NOW)
  local total = 0
  for _, id in ipairs(redis.call('ZRANGE', k, 0, -1)) do
    total = total + tonumber(redis.call('HGET', hold_key(id), 'quantity') or '0')
  end
  return total
end

-- Monotonic per event, floored by the clock in microseconds so it keeps growing even after
-- the counter is lost (FLUSHALL, a restart without persistence).
local function next_fence()
  local f = redis.call('INCR', K_FENCE)
  if f < NOW_US then
    redis.call('SET', K_FENCE, int(NOW_US))
    f = NOW_US
  end
  return f
end

local function record_hold(id, holder, seats_csv, quantity, ttl)
  local expires = NOW + ttl
  local fence = next_fence()
  redis.call('HSET', hold_key(id), 'holder', holder, 'seats', seats_csv,
    'quantity', int(quantity), 'expires', int(expires), 'fence', int(fence))
  redis.call('PEXPIRE', hold_key(id), ttl)
  local k = holder_key(holder)
  redis.call('ZADD', k, expires, id)
  -- The index must outlive the holder's longest hold (TTLs may differ from call to call):
  -- only ever extend it. PTTL is -1 for the zset just created, -2 never happens after ZADD.
  if redis.call('PTTL', k) < ttl then
    redis.call('PEXPIRE', k, ttl)
  end
  redis.call('ZADD', K_LIVE, expires, id)
  return {'ok', int(expires), int(fence)}
end

-- Undo a live hold: seat keys (only if still this hold's), GA count, indexes.
local function drop_hold(id, holder, seats_csv)
  if seats_csv and seats_csv ~= '' then
    for seat in string.gmatch(seats_csv, '[^,]+') do
      if redis.call('GET', seat_key(seat)) == id then
        redis.call('DEL', seat_key(seat))
      end
    end
  end
  local q = redis.call('HGET', K_QTY, id)
  if q then
    redis.call('HINCRBY', K_GA, 'held', -tonumber(q))
    redis.call('HDEL', K_QTY, id)
  end
  redis.call('DEL', hold_key(id))
  redis.call('ZREM', K_LIVE, id)
  if holder then
    redis.call('ZREM', holder_key(holder), id)
  end
end
