-- leave(visitor) -> {had_place, 0} | {had_place, 1, passes_expiring_by_ms}: a live session's
-- passes are revoked (logged like an admin revocation).
local visitor = ARGV[1]
local s = load_settings()
if not s then
  return no_room()
end
local now = now_ms()
local had, live = drop_visitor(visitor, now)
local reply = {had and 1 or 0, 0}
if live then
  local cutoff = now + s.session_ms
  log_revocation(visitor, cutoff)
  reply = {reply[1], 1, cutoff}
end
return reply
