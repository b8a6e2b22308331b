//! Shared counters of the guard, behind one trait: every check of one request is one store
//! round trip (one Lua script on Redis, hash-tagged `bg:{ROOM}:…` keys so a room's counters
//! live on one Redis Cluster shard). `MemoryGuardStore` (one node) and `RedisGuardStore`
//! (every instance on one Redis) pass one conformance suite (`bot-guard/tests/conformance`).
//!
//! Velocity is GCRA (see `gcra`): `limit` requests at once, then one every
//! `window_ms / limit`; refused requests are counted too, so a subject that keeps pushing stays
//! refused and its count shows how hard it pushes. Rooms need no set-up: a room's counters
//! exist from its first check.

mod gcra;
pub mod keys;
mod memory;
mod redis;

pub use memory::MemoryGuardStore;
pub use redis::{check_and_join_lua, RedisGuardStore, CHECK_LUA};

use anteroom_admission::VisitorId;
use anteroom_queue::{Joined, StoreError};
use async_trait::async_trait;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum GuardStoreError {
    #[error("guard store unavailable: {0}")]
    Unavailable(String),
    #[error("guard store protocol error: {0}")]
    Protocol(String),
}

/// One velocity limit to count a request against: `limit` requests per `window_ms` for
/// `subject` (e.g. `ip:203.0.113.9`, `net:203.0.113.0/24`, `fp:<hex>`, `vid:<hex>`), as a
/// GCRA: a burst of `limit` at once, then one every `window_ms / limit`; after `window_ms`
/// without requests the whole burst is back. Refused requests count too (up to
/// 10 × `limit`): a subject is let in again only once it slows below the rate, and after at
/// most 10 windows of silence. The counter is per (subject, window): the same
/// subject under two windows (10 s and 1 min) counts twice, independently. `limit` 0 refuses
/// everything; `window_ms` is at least 1 ms and at most `MAX_WINDOW_MS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VelocityCheck {
    pub subject: String,
    pub limit: u32,
    pub window_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VelocityResult {
    /// Requests counted in the window, this one included — refused ones too — as requests
    /// not yet paid off at the rate; saturates at 10 × `limit`. `count > limit` exactly when
    /// the request is refused, and a subject making 200 requests at once against a limit of
    /// 20 reads 200 (what the verdict engine calls heavy).
    pub count: u32,
    /// Over the limit (this request was refused): how long until a request would be allowed
    /// again if the subject makes none meanwhile, at least 1 ms.
    pub retry_after_ms: Option<u64>,
}

/// Longest velocity window, place hold or redemption ttl (about 115 days); longer ones are
/// cut to it, and 0 counts as 1 ms.
pub const MAX_WINDOW_MS: u64 = 10_000_000_000;

/// A window, hold or ttl as both stores use it: within `[1, MAX_WINDOW_MS]`.
pub(crate) fn span_ms(ms: u64) -> u64 {
    ms.clamp(1, MAX_WINDOW_MS)
}

/// At most `max` distinct visitors may hold places under each subject (the IP, the
/// fingerprint, each with its own maximum) in the room; a holder is forgotten `hold_ms` after
/// it was last counted. A visitor already holding under a subject is refreshed, not counted
/// again; a visitor is taken under all its subjects or none (no partial holds). `hold_ms` is
/// meant to be one per room (config): a check with a shorter one forgets older holders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceCheck {
    pub visitor: VisitorId,
    pub subjects: Vec<PlaceSubject>,
    pub hold_ms: u64,
}

/// One subject places are counted under, and how many distinct visitors it may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceSubject {
    pub subject: String,
    pub max: u32,
}

impl PlaceSubject {
    pub fn new(subject: impl Into<String>, max: u32) -> PlaceSubject {
        PlaceSubject {
            subject: subject.into(),
            max,
        }
    }
}

/// Everything one request is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GuardCheck {
    pub velocity: Vec<VelocityCheck>,
    pub places: Option<PlaceCheck>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GuardCounts {
    /// One per `GuardCheck::velocity`, in order.
    pub velocity: Vec<VelocityResult>,
    /// One per `PlaceCheck::subjects`, in order: distinct holders counting this visitor, if
    /// it was admitted as a holder; `None` overall without a place check.
    pub holders: Option<Vec<u32>>,
    /// The visitor holds (or now took) a place under every subject within the maximum; true
    /// without a place check (nothing refused it).
    pub place_allowed: bool,
}

impl GuardCounts {
    /// Nothing refused the request: every velocity counter within its limit and the place
    /// check (if any) allowed. The verdict engine then reads no count (`decide` with clean
    /// counts is `decide` with `Counts::default()`), which is what lets `check_and_join`
    /// join in the same round trip.
    pub fn is_clean(&self) -> bool {
        self.place_allowed
            && self
                .velocity
                .iter()
                .all(|result| result.retry_after_ms.is_none())
    }
}

/// What `GuardStore::check_and_join` found and did.
#[derive(Debug)]
pub struct CheckedJoin {
    /// The request's counts, exactly as `check` gives them.
    pub counts: GuardCounts,
    /// The visitor asked about is shadowed now (false when not asked).
    pub shadowed: bool,
    /// The join, when one was asked for and the request was clean (`GuardCounts::is_clean`,
    /// not shadowed): what `QueueStore::join` would have answered. `None`: no place taken.
    pub joined: Option<Result<Joined, StoreError>>,
}

#[async_trait]
pub trait GuardStore: Send + Sync + 'static {
    /// Count one request against every check, in one round trip.
    async fn check(&self, room: &str, check: &GuardCheck) -> Result<GuardCounts, GuardStoreError>;

    /// `check`, and in the same round trip (one Lua script on Redis, ADR 0007): whether
    /// `shadow_of` is shadowed (as `is_shadowed`), and — when `join` names a visitor and the
    /// request is clean (`GuardCounts::is_clean`, and not shadowed) — that visitor's join of
    /// the room's queue (as `QueueStore::join` on the queue this store joins into: the
    /// queue's own Redis for `RedisGuardStore`, the queue given to
    /// `MemoryGuardStore::joining`). A request that is not clean takes no place: the verdict
    /// engine decides on the counts as it does after `check`.
    async fn check_and_join(
        &self,
        room: &str,
        check: &GuardCheck,
        shadow_of: Option<VisitorId>,
        join: Option<VisitorId>,
    ) -> Result<CheckedJoin, GuardStoreError>;

    /// Redeem a solved challenge once: true for exactly one caller per `challenge_id`
    /// (remembered `ttl_ms`, at least until the challenge expires).
    async fn redeem(
        &self,
        room: &str,
        challenge_id: &str,
        ttl_ms: u64,
    ) -> Result<bool, GuardStoreError>;

    /// Shadow a visitor until `until_ms` (store clock: Redis `TIME`, the system clock in
    /// memory; a time already past lifts it), or lift the shadow with `None`.
    async fn set_shadow(
        &self,
        room: &str,
        visitor: VisitorId,
        until_ms: Option<u64>,
    ) -> Result<(), GuardStoreError>;

    /// Whether the visitor is shadowed now.
    async fn is_shadowed(&self, room: &str, visitor: VisitorId) -> Result<bool, GuardStoreError>;

    /// The room's live guard rules as the admin API last set them (JSON), if any.
    async fn rules(&self, room: &str) -> Result<Option<String>, GuardStoreError>;

    async fn set_rules(&self, room: &str, rules_json: &str) -> Result<(), GuardStoreError>;
}
