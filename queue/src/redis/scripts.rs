//! The Lua scripts, each one whole operation in one round trip. Every script is the shared
//! prelude (`common.lua`) followed by its body, so all of them read settings, time and the
//! token bucket the same way.

use fred::types::scripts::Script;

macro_rules! script {
    ($file:literal) => {
        concat!(include_str!("lua/common.lua"), "\n", include_str!($file))
    };
}

pub const JOIN_LUA: &str = script!("lua/join.lua");
/// The shared prelude and the join as a function, `join_place()`, for a script that joins
/// after work of its own in the same round trip (the bot guard's `check_and_join`). It reads
/// the room's twelve keys as `KEYS[1..12]` and the visitor as `ARGV[1]`, like `JOIN_LUA`, and
/// returns the join's reply, or an error table (`.err`) when the room is not initialised.
pub const JOIN_FUNCTION_LUA: &str = concat!(
    include_str!("lua/common.lua"),
    "\nlocal function join_place()\n",
    include_str!("lua/join.lua"),
    "\nend\n"
);
const STATUS_LUA: &str = script!("lua/status.lua");
const LEAVE_LUA: &str = script!("lua/leave.lua");
const RENEW_LUA: &str = script!("lua/renew.lua");
const REVOKE_LUA: &str = script!("lua/revoke.lua");
const REVOCATIONS_LUA: &str = script!("lua/revocations.lua");
const RESTORE_REVOCATIONS_LUA: &str = script!("lua/restore_revocations.lua");
const RESTORE_ROOM_LUA: &str = script!("lua/restore_room.lua");
const ADMIT_TICK_LUA: &str = script!("lua/admit_tick.lua");
const STATS_LUA: &str = script!("lua/stats.lua");
const INIT_ROOM_LUA: &str = script!("lua/init_room.lua");
const UPDATE_SETTINGS_LUA: &str = script!("lua/update_settings.lua");
const SETTINGS_LUA: &str = script!("lua/settings.lua");
const FRONTIER_LUA: &str = script!("lua/frontier.lua");
const TOUCH_LUA: &str = script!("lua/touch.lua");

pub(crate) struct Scripts {
    pub join: Script,
    pub status: Script,
    pub leave: Script,
    pub renew: Script,
    pub revoke: Script,
    pub revocations: Script,
    pub restore_revocations: Script,
    pub restore_room: Script,
    pub admit_tick: Script,
    pub stats: Script,
    pub init_room: Script,
    pub update_settings: Script,
    pub settings: Script,
    pub frontier: Script,
    pub touch: Script,
}

impl Scripts {
    pub fn new() -> Scripts {
        Scripts {
            join: Script::from_lua(JOIN_LUA),
            status: Script::from_lua(STATUS_LUA),
            leave: Script::from_lua(LEAVE_LUA),
            renew: Script::from_lua(RENEW_LUA),
            revoke: Script::from_lua(REVOKE_LUA),
            revocations: Script::from_lua(REVOCATIONS_LUA),
            restore_revocations: Script::from_lua(RESTORE_REVOCATIONS_LUA),
            restore_room: Script::from_lua(RESTORE_ROOM_LUA),
            admit_tick: Script::from_lua(ADMIT_TICK_LUA),
            stats: Script::from_lua(STATS_LUA),
            init_room: Script::from_lua(INIT_ROOM_LUA),
            update_settings: Script::from_lua(UPDATE_SETTINGS_LUA),
            settings: Script::from_lua(SETTINGS_LUA),
            frontier: Script::from_lua(FRONTIER_LUA),
            touch: Script::from_lua(TOUCH_LUA),
        }
    }

    pub fn all(&self) -> [&Script; 15] {
        [
            &self.join,
            &self.status,
            &self.leave,
            &self.renew,
            &self.revoke,
            &self.revocations,
            &self.restore_revocations,
            &self.restore_room,
            &self.admit_tick,
            &self.stats,
            &self.init_room,
            &self.update_settings,
            &self.settings,
            &self.frontier,
            &self.touch,
        ]
    }
}

#[cfg(test)]
mod tests {
    use crate::store::ABANDON_CLOCK_MAX_STEP_MS;
    use crate::MAX_WORK_PER_TICK;

    #[test]
    fn scripts_share_the_rust_constants() {
        let prelude = include_str!("lua/common.lua");
        assert!(prelude.contains(&format!("local MAX_WORK = {MAX_WORK_PER_TICK}\n")));
        assert!(prelude.contains(&format!(
            "local CLOCK_MAX_STEP = {ABANDON_CLOCK_MAX_STEP_MS}\n"
        )));
    }
}
