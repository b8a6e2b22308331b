-- revocations(cursor, grace_ms, page) -> {cursor, more, visitor, cutoff, ...}: the log after
-- `cursor` ("" = from the oldest kept), at most `page` entries, oldest first.
local s = load_settings()
if not s then
  return no_room()
end
local now = now_ms()
trim_revocations(now, s.session_ms, tonumber(ARGV[2]))
local page = tonumber(ARGV[3])
local start = '-'
if ARGV[1] ~= '' then
  start = '(' .. ARGV[1]
end
local entries = redis.call('XRANGE', K_REVOKED, start, '+', 'COUNT', page + 1)
local out = {ARGV[1], '0'}
for i, entry in ipairs(entries) do
  if i > page then
    out[2] = '1'
    break
  end
  local fields = entry[2]
  local visitor, cutoff
  for j = 1, #fields, 2 do
    if fields[j] == 'v' then
      visitor = fields[j + 1]
    elseif fields[j] == 'c' then
      cutoff = fields[j + 1]
    end
  end
  out[1] = entry[1]
  out[#out + 1] = visitor or ''
  out[#out + 1] = cutoff or '0'
end
return out
