-- One request counted against every check of the guard: `guard_check(kbase, abase)`, shared
-- by the check script (`check.lua`) and the check folded into the join
-- (`check_and_join.lua`). Atomic as part of its script. Time is Redis' own (TIME), so every
-- gateway instance reads one clock.
--
-- KEYS after kbase: n velocity counters (`bg:{ROOM}:v:<window_ms>:<subject>`, a string
--       holding the GCRA tat in µs, PX until it passes; every request pays, refused ones
--       too), then one zset per place subject (`bg:{ROOM}:p:<subject>`, visitor id -> last
--       seen ms, PEXPIRE hold_ms), the last keys of the script.
-- ARGV after abase: n, then limit and window_ms for each counter, then, with a place check:
--       visitor, max_per_subject, hold_ms (the caller clamps windows and holds to
--       [1, MAX_WINDOW_MS]).
-- Appends to `reply` count and retry_after_ms (-1: allowed) per counter, then the place
-- flag (1 allowed, 0 refused, -1 no place check) and the holders per subject; returns
-- whether the request is clean: every counter allowed and the place not refused.
-- The velocity arithmetic is `gcra.rs` line for line; every value stays below 2^53.

-- MAX_DEBT_LIMITS in gcra.rs: every request pays an interval, refused ones too, up to this
-- many times the limit.
local MAX_DEBT_LIMITS = 10

-- Every value written is a whole number below 2^53 (see gcra.rs): '%d' prints it exactly,
-- and costs a fraction of '%.0f', which goes through glibc's multi-precision printf.
local function int(x) return string.format('%d', x) end

local function guard_check(kbase, abase, reply)
  local t = redis.call('TIME')
  local NOW_US = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local NOW_MS = math.floor(NOW_US / 1000)

  local n = tonumber(ARGV[abase + 1])
  local clean = true

  -- Every counter read in one command (one slot: the keys share the room's hash tag); a
  -- counter named twice in one check reads what its first mention wrote, as one at a time.
  local tats, written = {}, {}
  if n > 0 then
    tats = redis.call('MGET', unpack(KEYS, kbase + 1, kbase + n))
  end
  for i = 1, n do
    local key = KEYS[kbase + i]
    local limit = tonumber(ARGV[abase + 2 * i])
    local window_us = tonumber(ARGV[abase + 2 * i + 1]) * 1000
    local interval = math.max(math.floor(window_us / math.max(limit, 1)), 1)
    local burst = interval * limit
    local cap = math.max(burst * MAX_DEBT_LIMITS, interval)
    local base = math.max(tonumber(written[key] or tats[i] or NOW_US), NOW_US)
    local ahead = math.min(base + interval - NOW_US, cap)
    written[key] = int(NOW_US + ahead)
    redis.call('SET', key, written[key], 'PX', int(math.ceil(ahead / 1000)))
    reply[#reply + 1] = math.ceil(ahead / interval)
    if ahead <= burst then
      reply[#reply + 1] = -1
    else
      reply[#reply + 1] = math.max(math.ceil((ahead + interval - burst) / 1000), 1)
      clean = false
    end
  end

  local p = abase + 2 * n + 2
  if ARGV[p] == nil then
    reply[#reply + 1] = -1
    return clean
  end
  local visitor, max, hold = ARGV[p], tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2])

  -- Forget stale holders everywhere first, then decide for all subjects at once: a visitor
  -- is taken under every subject or under none. A subject nobody holds (most are new) costs
  -- one command: trimming or searching an empty set changes and finds nothing.
  local allowed, held, holders = 1, {}, {}
  for k = kbase + n + 1, #KEYS do
    holders[k] = redis.call('ZCARD', KEYS[k])
    if holders[k] > 0 then
      holders[k] = holders[k] - redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', int(NOW_MS - hold))
    end
    held[k] = holders[k] > 0 and redis.call('ZSCORE', KEYS[k], visitor) ~= false
    if not held[k] and holders[k] >= max then
      allowed = 0
    end
  end
  reply[#reply + 1] = allowed
  for k = kbase + n + 1, #KEYS do
    if allowed == 1 then
      redis.call('ZADD', KEYS[k], int(NOW_MS), visitor)
      redis.call('PEXPIRE', KEYS[k], int(hold))
      if not held[k] then
        holders[k] = holders[k] + 1
      end
    end
    reply[#reply + 1] = holders[k]
  end
  return clean and allowed == 1
end
