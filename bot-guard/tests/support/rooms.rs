//! A queue room for the guard's tests that join (`check_and_join`).

use anteroom_config::RoomMode;
use anteroom_queue::RoomSettings;

/// Queue-all and paused: every join queues, nobody is admitted.
pub fn waiting_room() -> RoomSettings {
    RoomSettings {
        mode: RoomMode::QueueAll,
        admit_per_second: 1.0,
        max_active: 10,
        session_seconds: 600,
        abandon_after_seconds: 120,
        paused: true,
        sold_out: false,
        message: None,
    }
}
