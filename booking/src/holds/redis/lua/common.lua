-- Shared prelude of every hold script. Every key a script touches is declared in KEYS (Redis
-- Cluster requires it) and carries the event's hash tag `bk:{EVENT}:` (one slot):
--   KEYS[1..8]  the event's fixed keys below, in this order, for every script;
--   KEYS[9]     `hold:<id>` and KEYS[10] `holder:<visitor>`, for scripts about one hold.
-- Keys are only ever reached through kcall, which refuses any key not declared, so an
-- undeclared key fails every test instead of failing only in production on a cluster.
local K_FENCE = KEYS[1]     -- fencing counter
local K_LIVE = KEYS[2]      -- zset hold_id -> expires_ms (every live hold)
local K_BOOKED = KEYS[3]    -- set of seats booked for good
local K_GA = KEYS[4]        -- hash capacity, held, consumed (general admission)
local K_QTY = KEYS[5]       -- hash hold_id -> quantity of live GA holds
local K_CONSUMED = KEYS[6]  -- set of hold ids already consumed (idempotence)
local K_SEATS = KEYS[7]     -- hash seat -> id of the hold holding it (live if in K_LIVE)
local K_HSEATS = KEYS[8]    -- hash hold_id -> seats csv of live seated holds
local K_HOLD = KEYS[9]      -- the hold record (hash, same TTL as the hold)
local K_HOLDER = KEYS[10]   -- zset of the holder's holds scored by expiry

local DECLARED = {}
for _, key in ipairs(KEYS) do
  DECLARED[key] = true
end

local function kcall(command, key, ...)
  if not DECLARED[key] then
    return error('hold script touched undeclared key ' .. tostring(key))
  end
  return redis.call(command, key, ...)
end

-- Integral numbers as digits (tostring would print big ones as 1.7e+15).
local function int(n) return string.format('%.0f', n) end

local t = redis.call('TIME')
local NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local NOW_US = tonumber(t[1]) * 1000000 + tonumber(t[2])

local function live(id)
  local expires = kcall('ZSCORE', K_LIVE, id)
  return expires and tonumber(expires) > NOW
end

-- A hold's traces in the event's indexes (seats, GA count, live index); its record and the
-- holder's index expire or are removed by the caller.
local function forget(id)
  local seats = kcall('HGET', K_HSEATS, id)
  if seats then
    for seat in string.gmatch(seats, '[^,]+') do
      if kcall('HGET', K_SEATS, seat) == id then
        kcall('HDEL', K_SEATS, seat)
      end
    end
    kcall('HDEL', K_HSEATS, id)
  end
  local q = kcall('HGET', K_QTY, id)
  if q then
    kcall('HINCRBY', K_GA, 'held', -tonumber(q))
    kcall('HDEL', K_QTY, id)
  end
  kcall('ZREM', K_LIVE, id)
end

-- Expired holds are forgotten here, lazily, so correctness needs no cleanup job (a seat
-- whose hold is no longer live is free even before this runs). Bounded per call.
local function reclaim()
  for _, id in ipairs(kcall('ZRANGEBYSCORE', K_LIVE, '-inf', NOW, 'LIMIT', 0, 1000)) do
    forget(id)
  end
end

-- Places a live hold counts: its GA quantity or its number of seats.
local function size(id)
  local q = kcall('HGET', K_QTY, id)
  if q then
    return tonumber(q)
  end
  local n = 0
  for _ in string.gmatch(kcall('HGET', K_HSEATS, id) or '', '[^,]+') do
    n = n + 1
  end
  return n
end

-- Places the holder holds right now (the per-visitor cap).
local function holder_held()
  kcall('ZREMRANGEBYSCORE', K_HOLDER, '-inf', NOW)
  local total = 0
  for _, id in ipairs(kcall('ZRANGE', K_HOLDER, 0, -1)) do
    total = total + size(id)
  end
  return total
end

-- Monotonic per event, floored by the clock in microseconds so it keeps growing even after
-- the counter is lost (FLUSHALL, a restart without persistence).
local function next_fence()
  local f = kcall('INCR', K_FENCE)
  if f < NOW_US then
    kcall('SET', K_FENCE, int(NOW_US))
    f = NOW_US
  end
  return f
end

local function record_hold(id, holder, seats_csv, quantity, ttl)
  local expires = NOW + ttl
  local fence = next_fence()
  kcall('HSET', K_HOLD, 'holder', holder, 'seats', seats_csv,
    'quantity', int(quantity), 'expires', int(expires), 'fence', int(fence))
  kcall('PEXPIRE', K_HOLD, ttl)
  kcall('ZADD', K_HOLDER, expires, id)
  -- The index must outlive the holder's longest hold (TTLs may differ from call to call):
  -- only ever extend it. PTTL is -1 for the zset just created, -2 never happens after ZADD.
  if kcall('PTTL', K_HOLDER) < ttl then
    kcall('PEXPIRE', K_HOLDER, ttl)
  end
  kcall('ZADD', K_LIVE, expires, id)
  return {'ok', int(expires), int(fence)}
end

-- Undo a live hold: its traces, its record, the holder's index.
local function drop_hold(id)
  forget(id)
  kcall('DEL', K_HOLD)
  kcall('ZREM', K_HOLDER, id)
end
