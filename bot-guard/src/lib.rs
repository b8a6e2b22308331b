//! The bot guard: signals about a request in, a verdict out — `allow`, `challenge` (a
//! proof-of-work priced by demand and suspicion), `shadow` (a waiting room that never admits,
//! with a way back) or `block` — each with a reason from a bounded set. The verdict engine,
//! fingerprints and the challenge codec are pure and need no server; the shared counters
//! (velocity, places per fingerprint and per IP, one-time redemption, shadows) sit behind one
//! trait, `GuardStore`, with a Redis and a memory implementation and one conformance suite.
//! The gateway and the booking service both consult it.

pub mod store;

pub use store::{
    GuardCheck, GuardCounts, GuardStore, GuardStoreError, PlaceCheck, VelocityCheck, VelocityResult,
};
pub use store::{MemoryGuardStore, RedisGuardStore, CHECK_LUA, MAX_WINDOW_MS};
