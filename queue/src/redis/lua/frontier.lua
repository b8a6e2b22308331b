-- frontier(cursor, page) -> {epoch, head ticket or '', waiting, changed_ms, cursor, more,
-- gap, ...}: the line for position fan-out (ADR 0005), with the gaps logged after `cursor`
-- (0 = from the start), at most `page` of them, oldest first.
if redis.call('EXISTS', K_SETTINGS) == 0 then
  return no_room()
end
local cursor = tonumber(ARGV[1])
local page = tonumber(ARGV[2])
local f = redis.call('HMGET', K_FRONTIER, 'epoch', 'gap_entry')
if not f[1] or cursor > (tonumber(f[2]) or 0) then
  -- No epoch yet, or a cursor past the end of the log: the store went back to an older copy
  -- of the line, so views built on the newer one must start over.
  new_epoch()
end
f = redis.call('HMGET', K_FRONTIER, 'epoch', 'changed_ms')
local head = redis.call('ZRANGE', K_QUEUE, 0, 0, 'WITHSCORES')
local entries = redis.call('ZRANGEBYSCORE', K_GAPLOG, '(' .. ARGV[1], '+inf', 'WITHSCORES',
  'LIMIT', 0, page + 1)
local out = {f[1], '', tostring(redis.call('ZCARD', K_QUEUE)), f[2] or '0', ARGV[1], '0'}
if head[2] then
  out[2] = ticket_text(head[2])
end
for i = 1, #entries, 2 do
  if (i + 1) / 2 > page then
    out[6] = '1'
    break
  end
  out[#out + 1] = entries[i]
  out[5] = ticket_text(entries[i + 1])
end
return out
