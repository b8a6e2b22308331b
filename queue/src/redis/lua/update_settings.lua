-- update_settings(n_set, field, value, ... (n_set pairs), field_to_delete, ...) -> HGETALL settings
if redis.call('EXISTS', K_SETTINGS) == 0 then
  return no_room()
end
local n_set = tonumber(ARGV[1])
if n_set > 0 then
  redis.call('HSET', K_SETTINGS, unpack(ARGV, 2, 1 + 2 * n_set))
end
for i = 2 + 2 * n_set, #ARGV do
  redis.call('HDEL', K_SETTINGS, ARGV[i])
end
return redis.call('HGETALL', K_SETTINGS)
