-- One request counted against every check of the guard: `guard_check(kbase, abase, reply,
-- time)`, shared by the check script (`check.lua`) and the check folded into the join
-- (`check_and_join.lua`). Atomic as part of its script. `time` is Redis' own TIME, so every
-- gateway instance reads one clock (the join reads the same reading). Layout: ADR 0010.
--
-- KEYS after kbase: m subject records (`bg:{ROOM}:u:<subject>`, one string per subject: its
--       GCRA tat per window and, while there are at most INLINE_HOLDERS of them, the
--       visitors holding places under it), then one spill zset per place subject
--       (`bg:{ROOM}:p:<subject>`, visitor id -> last seen ms), used only once a subject has
--       more holders than fit inline; the last keys of the script.
-- ARGV after abase: the layout, then, with a place check, the visitor. The layout is the
--       check's numbers as little-endian f64s, read with one `struct.unpack` (one argument,
--       not sixteen: each costs the gateway an encoded bulk string and Redis a Lua string;
--       parsing decimal text in Lua costs more than either): m, n, then record index
--       (1-based), limit and window_ms for each of the n counters, then, with a place check,
--       max_per_subject, hold_ms and the record index of each place subject (the caller
--       clamps windows and holds to [1, MAX_WINDOW_MS]; every number is whole and below 2^53,
--       exact in a double).
-- Appends to `reply` count and retry_after_ms (-1: allowed) per counter, then the place
-- flag (1 allowed, 0 refused, -1 no place check) and the holders per subject; returns
-- whether the request is clean: every counter allowed and the place not refused.
-- The velocity arithmetic is `gcra.rs` line for line; every value stays below 2^53.
--
-- A record: `<window_ms>=<tat µs>` per counter, `,`-separated; then, once it has held
-- places, `|<hold_ms>|` and its holders as `<visitor>=<seen ms>`, `,`-separated, or `*` once
-- they live in the spill zset. `hold_ms` is the last place check's, which a check without
-- places keeps. Entries that have passed (tat <= now, seen <= now - hold) are dropped when
-- the record is written back; it lives (PX) as long as its longest entry, a spilled one at
-- least as long as its zset. Every call runs for a new fan, and interpreted Lua, not Redis'
-- commands, is most of a check's cost (callgrind, docs/benchmarks.md): the common path makes
-- few tables and strings, and calls no `math` function.

-- MAX_DEBT_LIMITS in gcra.rs: every request pays an interval, refused ones too, up to this
-- many times the limit.
local MAX_DEBT_LIMITS = 10
-- INLINE_HOLDERS in redis.rs: the most holders a record keeps inline.
local INLINE_HOLDERS = 8

-- Every value written is a whole number below 2^53 (see gcra.rs): '%d' prints it exactly,
-- and costs a fraction of '%.0f', which goes through glibc's multi-precision printf.
local function int(x) return string.format('%d', x) end

-- x / y rounded up and down, for whole x >= 0 and y > 0 (no `math` call: each costs as much
-- as a dozen arithmetic operations here).
local function ceil_div(x, y)
  local r = x % y
  if r == 0 then
    return x / y
  end
  return (x - r) / y + 1
end
local function floor_div(x, y) return (x - x % y) / y end

-- Each window's text, made once per script however many counters and records use it.
local window_texts = {}
local function window_text(window)
  local text = window_texts[window]
  if not text then
    text = int(window)
    window_texts[window] = text
  end
  return text
end

-- A record's text as tables: `t`, tats (µs) by window; `h`, holders' seen ms (as text) by
-- visitor; `hold`/`hold_text`; `spilled`; `existed`.
local function decode(text)
  if not text then
    return {t = {}, h = {}}
  end
  local record = {t = {}, h = {}, existed = true}
  local bar = string.find(text, '|', 1, true)
  local counters = text
  if bar then
    counters = string.sub(text, 1, bar - 1)
    local second = string.find(text, '|', bar + 1, true)
    if second then
      record.hold_text = string.sub(text, bar + 1, second - 1)
      record.hold = tonumber(record.hold_text)
      local holders = string.sub(text, second + 1)
      if holders == '*' then
        record.spilled = true
      else
        for visitor, seen in string.gmatch(holders, '([^=,]+)=([^,]+)') do
          record.h[visitor] = seen
        end
      end
    end
  end
  for window, tat in string.gmatch(counters, '([^=,]+)=([^,]+)') do
    record.t[tonumber(window)] = tonumber(tat)
  end
  return record
end

-- Write a record back (or delete it when nothing in it is live) as of now_us / now_ms, the
-- whole text built with one concat.
local function store(key, record, now_us, now_ms, now_ms_text)
  local out, n, ttl, ttl_text = {}, 0, 0, nil
  for window, tat in pairs(record.t) do
    if tat > now_us then
      if n > 0 then
        n = n + 1
        out[n] = ','
      end
      out[n + 1], out[n + 2], out[n + 3] = window_text(window), '=', int(tat)
      n = n + 3
      local left = ceil_div(tat - now_us, 1000)
      if left > ttl then
        ttl = left
      end
    end
  end
  local hold = record.hold
  if hold then
    local mark = n
    out[n + 1], out[n + 2], out[n + 3] = '|', record.hold_text, '|'
    n = n + 3
    local live = false
    if record.spilled then
      n = n + 1
      out[n] = '*'
      live = true
      if hold >= ttl then
        ttl, ttl_text = hold, record.hold_text
      end
    else
      for visitor, seen in pairs(record.h) do
        local left = (seen == now_ms_text and now_ms or tonumber(seen)) + hold - now_ms
        if left > 0 then
          if live then
            n = n + 1
            out[n] = ','
          end
          out[n + 1], out[n + 2], out[n + 3] = visitor, '=', seen
          n = n + 3
          live = true
          if left > ttl then
            ttl, ttl_text = left, (left == hold and record.hold_text or nil)
          end
        end
      end
    end
    if not live then
      for i = n, mark + 1, -1 do
        out[i] = nil
      end
      n = mark
    end
  end
  if n == 0 or ttl <= 0 then
    if record.existed then
      redis.call('DEL', key)
    end
  else
    redis.call('SET', key, table.concat(out), 'PX', ttl_text or int(ttl))
  end
end

local function guard_check(kbase, abase, reply, t)
  local NOW_US = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local NOW_MS = floor_div(NOW_US, 1000)
  local NOW_MS_TEXT = int(NOW_MS)

  local blob = ARGV[abase + 1]
  local layout = {struct.unpack('<' .. string.rep('d', #blob / 8), blob)}
  local m, n = layout[1], layout[2]
  local clean = true
  local r = #reply

  -- Every record read in one command (one slot: the keys share the room's hash tag); a
  -- counter named twice in one check reads what its first mention wrote, as one at a time.
  local records = {}
  if m > 0 then
    local texts = redis.call('MGET', unpack(KEYS, kbase + 1, kbase + m))
    for i = 1, m do
      records[i] = decode(texts[i])
    end
  end
  for i = 1, n do
    local a = 3 * i
    local tats, limit, window = records[layout[a]].t, layout[a + 1], layout[a + 2]
    local interval = floor_div(window * 1000, limit > 1 and limit or 1)
    if interval < 1 then
      interval = 1
    end
    local burst = interval * limit
    local cap = burst * MAX_DEBT_LIMITS
    if cap < interval then
      cap = interval
    end
    local base = tats[window] or NOW_US
    if base < NOW_US then
      base = NOW_US
    end
    local ahead = base + interval - NOW_US
    if ahead > cap then
      ahead = cap
    end
    tats[window] = NOW_US + ahead
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

  local p = 3 * n + 3
  local visitor = ARGV[abase + 2]
  if visitor == nil then
    reply[r + 1] = -1
  else
    local max, hold = layout[p], layout[p + 1]
    local hold_text = int(hold)
    local stale = NOW_MS - hold
    local first_spill = kbase + m
    local subjects = #KEYS - first_spill

    -- Forget stale holders everywhere first, then decide for all subjects at once: a
    -- visitor is taken under every subject or under none. Inline holders cost no command;
    -- a spilled subject is counted in its zset.
    local allowed, held, holders, place_records = 1, {}, {}, {}
    for s = 1, subjects do
      local record = records[layout[p + 1 + s]]
      place_records[s] = record
      record.hold, record.hold_text = hold, hold_text
      if record.spilled then
        local zset = KEYS[first_spill + s]
        holders[s] = redis.call('ZCARD', zset)
        if holders[s] > 0 then
          holders[s] = holders[s] - redis.call('ZREMRANGEBYSCORE', zset, '-inf', int(stale))
        end
        held[s] = holders[s] > 0 and redis.call('ZSCORE', zset, visitor) ~= false
      else
        local count = 0
        for holder, seen in pairs(record.h) do
          if tonumber(seen) > stale then
            count = count + 1
          else
            record.h[holder] = nil
          end
        end
        holders[s] = count
        held[s] = record.h[visitor] ~= nil
      end
      if not held[s] and holders[s] >= max then
        allowed = 0
      end
    end
    r = r + 1
    reply[r] = allowed
    for s = 1, subjects do
      local record = place_records[s]
      if allowed == 1 then
        if not held[s] then
          holders[s] = holders[s] + 1
        end
        local zset = KEYS[first_spill + s]
        if record.spilled then
          redis.call('ZADD', zset, NOW_MS_TEXT, visitor)
          redis.call('PEXPIRE', zset, hold_text)
        else
          record.h[visitor] = NOW_MS_TEXT
          if holders[s] > INLINE_HOLDERS then
            -- Too many to keep inline: every holder moves to the zset, for good (until the
            -- record expires), so a big shared subject costs log(n), not n, per check.
            local members = {}
            for holder, seen in pairs(record.h) do
              members[#members + 1] = seen
              members[#members + 1] = holder
            end
            redis.call('ZADD', zset, unpack(members))
            redis.call('PEXPIRE', zset, hold_text)
            record.h = {}
            record.spilled = true
          end
        end
      end
      r = r + 1
      reply[r] = holders[s]
    end
    clean = clean and allowed == 1
  end

  for i = 1, m do
    store(KEYS[kbase + i], records[i], NOW_US, NOW_MS, NOW_MS_TEXT)
  end
  return clean
end
