-- settings() -> HGETALL settings
if redis.call('EXISTS', K_SETTINGS) == 0 then
  return no_room()
end
return redis.call('HGETALL', K_SETTINGS)
