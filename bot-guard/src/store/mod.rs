//! Shared counters of the guard, behind one trait: every check of one request is one store
//! round trip (one Lua script on Redis, hash-tagged `bg:{ROOM}:…` keys so a room's counters
//! live on one Redis Cluster shard).

use anteroom_admission::VisitorId;
use async_trait::async_trait;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum GuardStoreError {
    #[error("guard store unavailable: {0}")]
    Unavailable(String),
    #[error("guard store protocol error: {0}")]
    Protocol(String),
}

/// One velocity limit to count a request against: at most `limit` requests per `window_ms`
/// for `subject` (e.g. `ip:203.0.113.9`, `net:203.0.113.0/24`, `fp:<hex>`, `vid:<hex>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VelocityCheck {
    pub subject: String,
    pub limit: u32,
    pub window_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VelocityResult {
    /// Requests counted in the window, this one included.
    pub count: u32,
    /// Over the limit: how long until a request would be allowed again.
    pub retry_after_ms: Option<u64>,
}

/// At most `max_per_subject` distinct visitors may hold places under each of `subjects`
/// (the IP, the fingerprint) in the room; a holder is forgotten `hold_ms` after it was last
/// counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceCheck {
    pub visitor: VisitorId,
    pub subjects: Vec<String>,
    pub max_per_subject: u32,
    pub hold_ms: u64,
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
    /// The visitor holds (or now took) a place under every subject within the maximum.
    pub place_allowed: bool,
}

#[async_trait]
pub trait GuardStore: Send + Sync + 'static {
    /// Count one request against every check, in one round trip.
    async fn check(&self, room: &str, check: &GuardCheck) -> Result<GuardCounts, GuardStoreError>;

    /// Redeem a solved challenge once: true for exactly one caller per `challenge_id`
    /// (remembered `ttl_ms`, at least until the challenge expires).
    async fn redeem(
        &self,
        room: &str,
        challenge_id: &str,
        ttl_ms: u64,
    ) -> Result<bool, GuardStoreError>;

    /// Shadow a visitor until `until_ms` (store clock), or lift the shadow with `None`.
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
