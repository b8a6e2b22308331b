-- restore_room(digest, has_message, message, field, value, ...) -> {restored, HGETALL...}
-- After the store lost the room: seed the settings a gateway last saw, stamped with the
-- configured digest. A room that exists (restored by another instance first) is kept.
local restored = '0'
if redis.call('EXISTS', K_SETTINGS) == 0 then
  seed_settings(4, #ARGV, true)
  new_epoch()
  restored = '1'
end
local out = {restored}
for _, v in ipairs(redis.call('HGETALL', K_SETTINGS)) do
  out[#out + 1] = v
end
return out
