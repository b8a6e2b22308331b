-- Shared by every Anteroom queue script (prepended to each). KEYS, in order:
-- 1 queue (zset visitor -> sequence), 2 seq (counter), 3 active (zset visitor -> expires_at_ms),
-- 4 seen (zset visitor -> last seen ms, queued visitors only), 5 settings (hash),
-- 6 bucket (hash tokens, updated_ms), 7 stats (hash), 8 revoked (zset visitor -> revoked_at_ms).
local K_QUEUE, K_SEQ, K_ACTIVE, K_SEEN = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_SETTINGS, K_BUCKET, K_STATS, K_REVOKED = KEYS[5], KEYS[6], KEYS[7], KEYS[8]

-- Most members one call touches: ZREM/ZADD take them as arguments and Lua 5.1's unpack
-- stops at a few thousand; the Rust side's MAX_WORK_PER_TICK is the same number.
local MAX_WORK = 1000

-- Redis' clock, so every gateway instance reads the same time.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function load_settings()
  local v = redis.call('HMGET', K_SETTINGS, 'mode', 'admit_per_second', 'max_active',
    'session_seconds', 'abandon_after_seconds', 'paused', 'sold_out')
  if not v[1] then
    return nil
  end
  return {
    mode = v[1],
    rate = tonumber(v[2]),
    max_active = tonumber(v[3]),
    session_ms = tonumber(v[4]) * 1000,
    abandon_ms = tonumber(v[5]) * 1000,
    paused = v[6] == '1',
    sold_out = v[7] == '1',
  }
end

local function no_room()
  return redis.error_reply('ANTEROOM_NO_ROOM room is not initialised')
end

-- The token bucket of anteroom_admission::Bucket (admission/src/bucket.rs), step for step;
-- keep the two identical:
--   capacity = max(1, rate), or 1 for an unusable rate; a new room starts full;
--   corrupt tokens (NaN, infinite, < 0) count as 0;
--   an unusable rate (NaN, infinite, <= 0) refills nothing and admits nobody;
--   tokens = min(capacity, tokens + elapsed_ms * rate / 1000), elapsed saturating at 0;
--   updated_ms = max(updated_ms, now);
--   n = min(floor(tokens), max_active - active (saturating), wanted); tokens -= n.
local function usable(x)
  return x ~= nil and x == x and x > 0 and x < math.huge
end

local function bucket_take(now, rate, max_active, active, wanted)
  local cap = 1
  if usable(rate) then
    cap = math.max(1, rate * 1.0)
  end
  local b = redis.call('HMGET', K_BUCKET, 'tokens', 'updated_ms')
  local tokens, updated
  if not b[1] then
    tokens, updated = cap, now
  else
    tokens, updated = tonumber(b[1]), tonumber(b[2]) or now
  end
  if not (tokens and tokens == tokens and tokens >= 0 and tokens < math.huge) then
    tokens = 0
  end
  local n = 0
  if usable(rate) then
    local elapsed = math.max(0, now - updated)
    tokens = math.min(cap, tokens + elapsed * rate / 1000)
    local room = math.max(0, max_active - active)
    n = math.max(0, math.min(math.floor(tokens), room, wanted))
    tokens = tokens - n
  end
  updated = math.max(updated, now)
  redis.call('HSET', K_BUCKET, 'tokens', string.format('%.17g', tokens),
    'updated_ms', string.format('%d', updated))
  return n
end

-- Remove members in slices small enough for unpack.
local function zrem_all(key, members)
  local removed = 0
  for i = 1, #members, 500 do
    removed = removed + redis.call('ZREM', key, unpack(members, i, math.min(i + 499, #members)))
  end
  return removed
end
