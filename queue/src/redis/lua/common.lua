-- Shared by every Anteroom queue script (prepended to each). KEYS, in order:
-- 1 queue (zset visitor -> sequence), 2 seq (counter), 3 active (zset visitor -> expires_at_ms),
-- 4 seen (zset visitor -> last seen ms, queued visitors only), 5 settings (hash),
-- 6 bucket (hash tokens, updated_ms), 7 stats (hash), 8 revocations (stream of v=visitor,
-- c=passes_expiring_by_ms), 9 clock (hash room_ms, wall_ms: the abandonment clock, ADR 0004),
-- 10 gaps (zset ticket -> ticket: queue scores removed out of order, not yet trimmed),
-- 11 gaplog (zset ticket -> log entry: the same gaps in the order they were made),
-- 12 frontier (hash epoch, gap_entry = last log entry, changed_ms; ADR 0005).
-- "seen" scores are abandonment-clock readings, not wall time.
local K_QUEUE, K_SEQ, K_ACTIVE, K_SEEN = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_SETTINGS, K_BUCKET, K_STATS, K_REVOKED = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local K_CLOCK, K_GAPS, K_GAPLOG, K_FRONTIER = KEYS[9], KEYS[10], KEYS[11], KEYS[12]

-- Most members one call touches: ZREM/ZADD take them as arguments and Lua 5.1's unpack
-- stops at a few thousand; the Rust side's MAX_WORK_PER_TICK is the same number.
local MAX_WORK = 1000

-- Remove members in slices small enough for unpack.
local function zrem_all(key, members)
  local removed = 0
  for i = 1, #members, 500 do
    removed = removed + redis.call('ZREM', key, unpack(members, i, math.min(i + 499, #members)))
  end
  return removed
end

-- Redis' clock, so every gateway instance reads the same time; read once per script (it
-- runs atomically: one now for all of it, and a script that joins after the bot guard's
-- check reads TIME once, not twice).
local script_time = nil
local function redis_time()
  if not script_time then
    script_time = redis.call('TIME')
  end
  return script_time
end

local function now_ms()
  local t = redis_time()
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- ABANDON_CLOCK_MAX_STEP_MS on the Rust side: the most one tick advances the abandonment
-- clock, so time while no tick could run (the store unreachable) does not count.
local CLOCK_MAX_STEP = 500

-- The abandonment clock's reading now: the last tick's reading plus the time since, capped
-- as a tick caps it (a visitor seen now is never ahead of the next tick's reading).
local function room_now(now)
  local c = redis.call('HMGET', K_CLOCK, 'room_ms', 'wall_ms')
  local room, wall = tonumber(c[1]), tonumber(c[2])
  if not (room and wall) then
    return now
  end
  return room + math.min(math.max(0, now - wall), CLOCK_MAX_STEP)
end

local function advance_room_clock(now)
  local room = room_now(now)
  redis.call('HSET', K_CLOCK, 'room_ms', string.format('%d', room), 'wall_ms',
    string.format('%d', now))
  return room
end

-- Revocations: a pass of the visitor that expires by `cutoff` (store clock) is refused.
-- Every pass so far came from a session that ends by now + session; a later one ends later.
local function log_revocation(visitor, cutoff)
  redis.call('XADD', K_REVOKED, '*', 'v', visitor, 'c', string.format('%d', cutoff))
end

-- Drop log entries made more than session + grace ago: they refuse no valid pass any more.
local function trim_revocations(now, session_ms, grace_ms)
  local min_ms = now - session_ms - grace_ms
  if min_ms > 0 then
    redis.call('XTRIM', K_REVOKED, 'MINID', string.format('%d', min_ms))
  end
end

-- Position fan-out (ADR 0005). Admission pops only the head, so a ticket (queue score)
-- between the head's and a visitor's that is gone was removed out of order: such gaps are
-- logged here, and a gateway's LineView counts them to know every position.
local function frontier_changed(now)
  redis.call('HSET', K_FRONTIER, 'changed_ms', string.format('%d', now))
end

-- A new line: tickets restart, so every view of the old one must be dropped.
local function new_epoch()
  local t = redis.call('TIME')
  redis.call('HSET', K_FRONTIER, 'epoch', t[1] .. '.' .. t[2])
end

local function ticket_text(score)
  return string.format('%d', tonumber(score))
end

-- Log queue scores (ticket texts) just removed out of order.
local function log_gaps(tickets, now)
  if #tickets == 0 then
    return
  end
  local last = redis.call('HINCRBY', K_FRONTIER, 'gap_entry', #tickets)
  local first = last - #tickets
  for i = 1, #tickets, 500 do
    local by_ticket, by_entry = {}, {}
    for j = i, math.min(i + 499, #tickets) do
      by_ticket[#by_ticket + 1] = tickets[j]
      by_ticket[#by_ticket + 1] = tickets[j]
      by_entry[#by_entry + 1] = first + j
      by_entry[#by_entry + 1] = tickets[j]
    end
    redis.call('ZADD', K_GAPS, unpack(by_ticket))
    redis.call('ZADD', K_GAPLOG, unpack(by_entry))
  end
  frontier_changed(now)
end

-- Forget up to MAX_WORK gaps at or below the head: no view counts them any more.
local function trim_gaps()
  local head = redis.call('ZRANGE', K_QUEUE, 0, 0, 'WITHSCORES')
  local floor = head[2] or '+inf'
  local stale = redis.call('ZRANGEBYSCORE', K_GAPS, '-inf', floor, 'LIMIT', 0, MAX_WORK)
  if #stale > 0 then
    zrem_all(K_GAPS, stale)
    zrem_all(K_GAPLOG, stale)
  end
end

-- Remove the visitor's place and session: had a place or a live session, had a live session.
local function drop_visitor(visitor, now)
  local ticket = redis.call('ZSCORE', K_QUEUE, visitor)
  local had = false
  if ticket then
    redis.call('ZREM', K_QUEUE, visitor)
    log_gaps({ticket_text(ticket)}, now)
    had = true
  end
  local live = false
  local expires = redis.call('ZSCORE', K_ACTIVE, visitor)
  if expires then
    redis.call('ZREM', K_ACTIVE, visitor)
    live = tonumber(expires) > now
  end
  redis.call('ZREM', K_SEEN, visitor)
  return had or live, live
end

-- Write settings stamped with digest ARGV[1]: the field/value pairs ARGV[first..last], and
-- the message ARGV[3] when ARGV[2] is '1' (init_room and restore_room share this layout).
local function seed_settings(first, last, with_message)
  local fields = {'digest', ARGV[1]}
  for i = first, last do
    fields[#fields + 1] = ARGV[i]
  end
  if with_message and ARGV[2] == '1' then
    fields[#fields + 1] = 'message'
    fields[#fields + 1] = ARGV[3]
  end
  redis.call('HSET', K_SETTINGS, unpack(fields))
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
