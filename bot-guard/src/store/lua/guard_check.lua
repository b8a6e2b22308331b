-- One request counted against every check of the guard: `guard_check(kbase, abase, reply,
-- time)`, shared by the check script (`check.lua`) and the check folded into the join
-- (`check_and_join.lua`). Atomic as part of its script. `time` is Redis' own TIME, so every
-- gateway instance reads one clock (the join reads the same reading). ADR 0010.
--
-- KEYS after kbase: n velocity counters (`bg:{ROOM}:v:<window_ms>:<subject>`, a string
--       holding the GCRA tat in µs, PX until it passes; every request pays, refused ones
--       too), then one zset per place subject (`bg:{ROOM}:p:<subject>`, visitor id -> last
--       seen ms, PEXPIRE hold_ms), the last keys of the script.
-- ARGV after abase: the layout, then, with a place check, the visitor. The layout is the
--       check's numbers as little-endian f64s, read with one `struct.unpack` (one argument,
--       not a dozen: each costs the gateway an encoded bulk string and Redis a Lua string,
--       and parsing decimal text in Lua costs more than either): n, limit and window_ms for
--       each counter, then, with a place check, hold_ms and the maximum of each place
--       subject, in the order of their keys (the caller clamps windows and holds to
--       [1, MAX_WINDOW_MS]; every number is whole and below 2^53, exact in a double).
-- Appends to `reply` count and retry_after_ms (-1: allowed) per counter, then the place
-- flag (1 allowed, 0 refused, -1 no place check) and the holders per subject; returns
-- whether the request is clean: every counter allowed and the place not refused.
-- The velocity arithmetic is `gcra.rs` line for line; every value stays below 2^53.
-- Interpreted Lua, more than Redis' commands, is what a check costs (ADR 0010): the script
-- makes few tables and strings and calls no `math` function.

-- MAX_DEBT_LIMITS in gcra.rs: every request pays an interval, refused ones too, up to this
-- many times the limit.
local MAX_DEBT_LIMITS = 10

-- Every value written is a whole number below 2^53 (see gcra.rs): '%d' prints it exactly,
-- and costs a fraction of '%.0f', which goes through glibc's multi-precision printf.
local function int(x) return string.format('%d', x) end

-- x / y rounded up, for whole x >= 0 and y > 0 (no `math` call: each costs as much as a
-- dozen arithmetic operations here).
local function ceil_div(x, y)
  local r = x % y
  if r == 0 then
    return x / y
  end
  return (x - r) / y + 1
end

local function guard_check(kbase, abase, reply, t)
  local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local blob = ARGV[abase + 1]
  local layout = {struct.unpack('<' .. string.rep('d', #blob / 8), blob)}
  local n = layout[1]
  local clean = true
  local r = #reply

  -- Every counter read in one command (one slot: the keys share the room's hash tag); a
  -- counter named twice in one check reads what its first mention wrote, as one at a time.
  local tats, written = {}, {}
  if n > 0 then
    tats = redis.call('MGET', unpack(KEYS, kbase + 1, kbase + n))
  end
  for i = 1, n do
    local key, limit, window = KEYS[kbase + i], layout[2 * i], layout[2 * i + 1]
    local interval = window * 1000
    if limit > 1 then
      interval = (interval - interval % limit) / limit
    end
    if interval < 1 then
      interval = 1
    end
    local burst = interval * limit
    local cap = burst * MAX_DEBT_LIMITS
    if cap < interval then
      cap = interval
    end
    local base = written[key] or tonumber(tats[i]) or now_us
    if base < now_us then
      base = now_us
    end
    local ahead = base + interval - now_us
    if ahead > cap then
      ahead = cap
    end
    written[key] = now_us + ahead
    redis.call('SET', key, int(now_us + ahead), 'PX', int(ceil_div(ahead, 1000)))
    reply[r + 1] = ceil_div(ahead, interval)
    if ahead <= burst then
      reply[r + 2] = -1
    else
      local retry = ceil_div(ahead + interval - burst, 1000)
      reply[r + 2] = retry > 1 and retry or 1
      clean = false
    end
    r = r + 2
  end

  local visitor = ARGV[abase + 2]
  if visitor == nil then
    reply[r + 1] = -1
    return clean
  end
  -- layout[2n + 2] is the hold; the maximum of the place key KEYS[k] is layout[k - kbase + n + 2].
  local hold, maxima = layout[2 * n + 2], n + 2 - kbase
  local now_ms = (now_us - now_us % 1000) / 1000

  -- Forget stale holders everywhere first, then decide for all subjects at once: a visitor
  -- is taken under every subject or under none. A subject nobody holds (most are new) costs
  -- one command: trimming or searching an empty set changes and finds nothing.
  local allowed, held, holders = 1, {}, {}
  for k = kbase + n + 1, #KEYS do
    local count = redis.call('ZCARD', KEYS[k])
    if count > 0 then
      count = count - redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', int(now_ms - hold))
    end
    holders[k] = count
    held[k] = count > 0 and redis.call('ZSCORE', KEYS[k], visitor) ~= false
    if not held[k] and count >= layout[k + maxima] then
      allowed = 0
    end
  end
  r = r + 1
  reply[r] = allowed
  local now_text, hold_text
  if allowed == 1 then
    now_text, hold_text = int(now_ms), int(hold)
  end
  for k = kbase + n + 1, #KEYS do
    if allowed == 1 then
      redis.call('ZADD', KEYS[k], now_text, visitor)
      redis.call('PEXPIRE', KEYS[k], hold_text)
      if not held[k] then
        holders[k] = holders[k] + 1
      end
    end
    r = r + 1
    reply[r] = holders[k]
  end
  return clean and allowed == 1
end
