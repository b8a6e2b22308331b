-- revoke(visitor, grace_ms) -> {had_place, passes_expiring_by_ms}
-- Ends the place and the session and logs the revocation; old entries are trimmed.
local visitor = ARGV[1]
local s = load_settings()
if not s then
  return no_room()
end
local now = now_ms()
local had = drop_visitor(visitor, now)
local cutoff = now + s.session_ms
log_revocation(visitor, cutoff)
trim_revocations(now, s.session_ms, tonumber(ARGV[2]))
return {had and 1 or 0, cutoff}
