-- init_room(digest, has_message, message, n_configured, field, value (n_configured pairs),
--           flag_field, flag_value, ...) -> HGETALL settings
-- A new room is seeded whole. An existing one whose configured settings differ from those
-- seeded last (a config edit) takes the configured fields only: the runtime flags (paused,
-- sold_out, message) stay. Otherwise runtime changes made since (admin PATCH) are kept.
local fresh = redis.call('EXISTS', K_SETTINGS) == 0
if fresh then
  seed_settings(5, #ARGV, true)
elseif redis.call('HGET', K_SETTINGS, 'digest') ~= ARGV[1] then
  seed_settings(5, 4 + 2 * tonumber(ARGV[4]), false)
end
if redis.call('HEXISTS', K_FRONTIER, 'epoch') == 0 then
  new_epoch()
end
return redis.call('HGETALL', K_SETTINGS)
