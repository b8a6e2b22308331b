//! The queue: one fair, first-come-first-served line per room, admission of its head at the
//! room's rate and cap, active sessions with expiry, and each room's live settings.
//! `QueueStore` is the one trait; `MemoryStore` (single node) and `RedisStore` (shared by every
//! gateway instance; fred + Lua, keys `ar:{room}:…`) implement it and pass one conformance suite.

mod clock;
pub mod keys;
mod line_view;
mod memory;
mod redis;
mod settings;
mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use line_view::LineView;
pub use memory::MemoryStore;
pub use redis::{
    connect_pool, decode_join_reply, is_transient_redis_error, run_script, unknown_room,
    RedisOptions, RedisStore, JOIN_FUNCTION_LUA, JOIN_LUA,
};
pub use settings::settings_digest;
pub use store::*;

/// Most places an admission tick frees for expiry or for abandonment, and most visitors it
/// admits, in one call: a tick's cost stays bounded whatever the size of the room; the rest
/// is picked up by the next tick.
pub const MAX_WORK_PER_TICK: u64 = 1000;
