-- admit_tick() -> {admitted, waiting, active, abandoned}
local s = load_settings()
if not s then
  return no_room()
end
local now = now_ms()

local expired = redis.call('ZRANGEBYSCORE', K_ACTIVE, '-inf', now, 'LIMIT', 0, MAX_WORK)
zrem_all(K_ACTIVE, expired)

-- Abandonment is measured on the room's abandonment clock (ADR 0004), not wall time.
local room_clock = advance_room_clock(now)
local stale = redis.call('ZRANGEBYSCORE', K_SEEN, '-inf', room_clock - s.abandon_ms, 'LIMIT', 0,
  MAX_WORK)
local abandoned = 0
if #stale > 0 then
  local gaps = {}
  for i = 1, #stale, 500 do
    local scores = redis.call('ZMSCORE', K_QUEUE, unpack(stale, i, math.min(i + 499, #stale)))
    for j = 1, #scores do
      if scores[j] then
        gaps[#gaps + 1] = ticket_text(scores[j])
      end
    end
  end
  abandoned = zrem_all(K_QUEUE, stale)
  zrem_all(K_SEEN, stale)
  log_gaps(gaps, now)
end

local waiting = redis.call('ZCARD', K_QUEUE)
local active = redis.call('ZCARD', K_ACTIVE)
local admitted = 0
if s.mode ~= 'closed' and s.mode ~= 'passthrough' and not s.paused and not s.sold_out then
  local n = bucket_take(now, s.rate, s.max_active, active, math.min(waiting, MAX_WORK))
  if n > 0 then
    local popped = redis.call('ZPOPMIN', K_QUEUE, n)
    local expires = now + s.session_ms
    local members = {}
    for i = 1, #popped, 2 do
      members[#members + 1] = popped[i]
    end
    for i = 1, #members, 500 do
      local zargs = {}
      for j = i, math.min(i + 499, #members) do
        zargs[#zargs + 1] = expires
        zargs[#zargs + 1] = members[j]
      end
      redis.call('ZADD', K_ACTIVE, unpack(zargs))
    end
    zrem_all(K_SEEN, members)
    admitted = #members
    redis.call('HINCRBY', K_STATS, 'admitted_total', admitted)
    waiting = waiting - admitted
    active = active + admitted
    frontier_changed(now)
  end
end
trim_gaps()
return {admitted, waiting, active, abandoned}
