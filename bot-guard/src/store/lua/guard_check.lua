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
-- ARGV after abase: the layout, then, with a place check, the visitor. The layout is one
--       text of numbers separated by spaces (one argument, not twenty: each costs the
--       gateway an encoded bulk string and Redis a parsed one): m, n, then record index
--       (1-based), limit and window_ms for each of the n counters, then, with a place check,
--       max_per_subject, hold_ms and the record index of each place subject (the caller
--       clamps windows and holds to [1, MAX_WINDOW_MS]).
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
-- least as long as its zset. Every call runs for a new fan, so the common path builds few
-- strings: Lua string building, not Redis, is most of a check's cost.

-- MAX_DEBT_LIMITS in gcra.rs: every request pays an interval, refused ones too, up to this
-- many times the limit.
local MAX_DEBT_LIMITS = 10
-- INLINE_HOLDERS in redis.rs: the most holders a record keeps inline.
local INLINE_HOLDERS = 8

-- Every value written is a whole number below 2^53 (see gcra.rs): '%d' prints it exactly,
-- and costs a fraction of '%.0f', which goes through glibc's multi-precision printf.
local function int(x) return string.format('%d', x) end

-- A record's text as tables: tats by window text, holders' seen ms (as text) by visitor.
local function decode(text)
  local record = {tats = {}, holders = {}, existed = text ~= false}
  if not text then
    return record
  end
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
          record.holders[visitor] = seen
        end
      end
    end
  end
  for window, tat in string.gmatch(counters, '([^=,]+)=([^,]+)') do
    record.tats[window] = tonumber(tat)
  end
  return record
end

-- Write a record back (or delete it when nothing in it is live) as of now_us / now_ms, the
-- whole text built with one concat.
local function store(key, record, now_us, now_ms, now_ms_text)
  local out, ttl, ttl_text = {}, 0, nil
  for window, tat in pairs(record.tats) do
    if tat > now_us then
      if #out > 0 then
        out[#out + 1] = ','
      end
      out[#out + 1] = window
      out[#out + 1] = '='
      out[#out + 1] = int(tat)
      ttl = math.max(ttl, math.ceil((tat - now_us) / 1000))
    end
  end
  local hold = record.hold
  if hold then
    local mark = #out
    out[#out + 1] = '|'
    out[#out + 1] = record.hold_text
    out[#out + 1] = '|'
    local live = false
    if record.spilled then
      out[#out + 1] = '*'
      live = true
      if hold >= ttl then
        ttl, ttl_text = hold, record.hold_text
      end
    else
      for visitor, seen in pairs(record.holders) do
        local left = (seen == now_ms_text and now_ms or tonumber(seen)) + hold - now_ms
        if left > 0 then
          if live then
            out[#out + 1] = ','
          end
          out[#out + 1] = visitor
          out[#out + 1] = '='
          out[#out + 1] = seen
          live = true
          if left > ttl then
            ttl, ttl_text = left, (left == hold and record.hold_text or nil)
          end
        end
      end
    end
    if not live then
      for i = #out, mark + 1, -1 do
        out[i] = nil
      end
    end
  end
  if #out == 0 or ttl <= 0 then
    if record.existed then
      redis.call('DEL', key)
    end
  else
    redis.call('SET', key, table.concat(out), 'PX', ttl_text or int(ttl))
  end
end

local function guard_check(kbase, abase, reply, t)
  local NOW_US = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local NOW_MS = math.floor(NOW_US / 1000)
  local NOW_MS_TEXT = int(NOW_MS)

  local layout = {}
  for field in string.gmatch(ARGV[abase + 1], '%d+') do
    layout[#layout + 1] = field
  end
  local m, n = tonumber(layout[1]), tonumber(layout[2])
  local clean = true

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
    local record, limit = records[tonumber(layout[a])], tonumber(layout[a + 1])
    local window = layout[a + 2]
    local window_us = tonumber(window) * 1000
    local interval = math.max(math.floor(window_us / math.max(limit, 1)), 1)
    local burst = interval * limit
    local cap = math.max(burst * MAX_DEBT_LIMITS, interval)
    local base = math.max(record.tats[window] or NOW_US, NOW_US)
    local ahead = math.min(base + interval - NOW_US, cap)
    record.tats[window] = NOW_US + ahead
    reply[#reply + 1] = math.ceil(ahead / interval)
    if ahead <= burst then
      reply[#reply + 1] = -1
    else
      reply[#reply + 1] = math.max(math.ceil((ahead + interval - burst) / 1000), 1)
      clean = false
    end
  end

  local p = 3 * n + 3
  local visitor = ARGV[abase + 2]
  if visitor == nil then
    reply[#reply + 1] = -1
  else
    local max, hold_text = tonumber(layout[p]), layout[p + 1]
    local hold = tonumber(hold_text)
    local stale = NOW_MS - hold
    local first_spill = kbase + m
    local subjects = #KEYS - first_spill

    -- Forget stale holders everywhere first, then decide for all subjects at once: a
    -- visitor is taken under every subject or under none. Inline holders cost no command;
    -- a spilled subject is counted in its zset.
    local allowed, held, holders, place_records = 1, {}, {}, {}
    for s = 1, subjects do
      local record = records[tonumber(layout[p + 1 + s])]
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
        for holder, seen in pairs(record.holders) do
          if tonumber(seen) > stale then
            count = count + 1
          else
            record.holders[holder] = nil
          end
        end
        holders[s] = count
        held[s] = record.holders[visitor] ~= nil
      end
      if not held[s] and holders[s] >= max then
        allowed = 0
      end
    end
    reply[#reply + 1] = allowed
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
          record.holders[visitor] = NOW_MS_TEXT
          if holders[s] > INLINE_HOLDERS then
            -- Too many to keep inline: every holder moves to the zset, for good (until the
            -- record expires), so a big shared subject costs log(n), not n, per check.
            local members = {}
            for holder, seen in pairs(record.holders) do
              members[#members + 1] = seen
              members[#members + 1] = holder
            end
            redis.call('ZADD', zset, unpack(members))
            redis.call('PEXPIRE', zset, hold_text)
            record.holders = {}
            record.spilled = true
          end
        end
      end
      reply[#reply + 1] = holders[s]
    end
    clean = clean and allowed == 1
  end

  for i = 1, m do
    store(KEYS[kbase + i], records[i], NOW_US, NOW_MS, NOW_MS_TEXT)
  end
  return clean
end
