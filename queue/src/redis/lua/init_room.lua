-- init_room(digest, has_message, message, n_configured, field, value (n_configured pairs),
--           flag_field, flag_value, ...) -> HGETALL settings
-- A new room is seeded whole. An existing one whose configured settings differ from those
-- seeded last (a config edit) takes the configured fields only: the runtime flags (paused,
-- sold_out, message) stay. Otherwise runtime changes made since (admin PATCH) are kept.
local fresh = redis.call('EXISTS', K_SETTINGS) == 0
if fresh or redis.call('HGET', K_SETTINGS, 'digest') ~= ARGV[1] then
  local last_configured = 4 + 2 * tonumber(ARGV[4])
  local fields = {'digest', ARGV[1]}
  for i = 5, last_configured do
    fields[#fields + 1] = ARGV[i]
  end
  if fresh then
    for i = last_configured + 1, #ARGV do
      fields[#fields + 1] = ARGV[i]
    end
    if ARGV[2] == '1' then
      fields[#fields + 1] = 'message'
      fields[#fields + 1] = ARGV[3]
    end
  end
  redis.call('HSET', K_SETTINGS, unpack(fields))
end
return redis.call('HGETALL', K_SETTINGS)
