-- restore_room(digest, has_message, message, field, value, ...) -> {restored, HGETALL...}
-- After the store lost the room: seed the settings a gateway last saw, stamped with the
-- configured digest. A room that exists (restored by another instance first) is kept.
if redis.call('EXISTS', K_SETTINGS) == 1 then
  local out = {'0'}
  for _, v in ipairs(redis.call('HGETALL', K_SETTINGS)) do
    out[#out + 1] = v
  end
  return out
end
local fields = {'digest', ARGV[1]}
for i = 4, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
if ARGV[2] == '1' then
  fields[#fields + 1] = 'message'
  fields[#fields + 1] = ARGV[3]
end
redis.call('HSET', K_SETTINGS, unpack(fields))
local out = {'1'}
for _, v in ipairs(redis.call('HGETALL', K_SETTINGS)) do
  out[#out + 1] = v
end
return out
