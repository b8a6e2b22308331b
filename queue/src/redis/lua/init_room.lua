-- init_room(digest, has_message, message, field, value, ...) -> HGETALL settings
-- The configured settings replace the live ones only when they differ from those seeded last
-- (a config edit); otherwise runtime changes made since (admin PATCH) are kept.
if redis.call('HGET', K_SETTINGS, 'digest') ~= ARGV[1] then
  local fields = {'digest', ARGV[1]}
  for i = 4, #ARGV do
    fields[#fields + 1] = ARGV[i]
  end
  redis.call('HSET', K_SETTINGS, unpack(fields))
  if ARGV[2] == '1' then
    redis.call('HSET', K_SETTINGS, 'message', ARGV[3])
  else
    redis.call('HDEL', K_SETTINGS, 'message')
  end
end
return redis.call('HGETALL', K_SETTINGS)
