-- restore_revocations(grace_ms, visitor, cutoff, ...) -> number logged. After a flush: put
-- back the revocations a gateway still knows; those that refuse nothing any more are skipped.
local s = load_settings()
if not s then
  return no_room()
end
local now = now_ms()
local grace = tonumber(ARGV[1])
local logged = 0
for i = 2, #ARGV - 1, 2 do
  local cutoff = tonumber(ARGV[i + 1])
  if cutoff and cutoff + grace > now then
    log_revocation(ARGV[i], cutoff)
    logged = logged + 1
  end
end
return logged
