use anteroom_admission::VisitorId;
use anteroom_config::RoomMode;
use async_trait::async_trait;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// The store could not be reached or timed out; callers answer 503 and retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store answered something unexpected.
    #[error("store protocol error: {0}")]
    Protocol(String),
    #[error("invalid store request: {0}")]
    Invalid(String),
}

/// A room's live settings, shared by every instance.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomSettings {
    pub mode: RoomMode,
    pub admit_per_second: f64,
    pub max_active: u64,
    pub session_seconds: u64,
    pub abandon_after_seconds: u64,
    /// Joins still queue, nobody is admitted.
    pub paused: bool,
    /// Nothing left to sell: admit nobody, tell the queue at once.
    pub sold_out: bool,
    /// Operator message shown to the queue.
    pub message: Option<String>,
}

/// A partial change of settings (admin PATCH). `message: Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettingsPatch {
    pub mode: Option<RoomMode>,
    pub admit_per_second: Option<f64>,
    pub max_active: Option<u64>,
    pub paused: Option<bool>,
    pub sold_out: Option<bool>,
    pub message: Option<Option<String>>,
}

/// Where a visitor stands in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// In the line. position 1 = next to be admitted; waiting = line length.
    Waiting { position: u64, waiting: u64 },
    /// Holds an active session until `expires_at_ms` (unix ms, store clock).
    Admitted { expires_at_ms: u64 },
    /// Neither queued nor active (status only; join never returns it).
    Absent,
    /// The room is closed: nobody joins.
    Closed,
    /// The room is sold out: nobody joins, waiting visitors are told.
    SoldOut,
}

/// What one admission tick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TickOutcome {
    pub admitted: u64,
    /// line length after the tick
    pub waiting: u64,
    /// active sessions after the tick
    pub active: u64,
    /// places freed because their visitor stopped polling
    pub abandoned: u64,
}

/// Live figures of a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RoomStats {
    pub waiting: u64,
    pub active: u64,
    pub admitted_total: u64,
    pub joins_total: u64,
}

#[async_trait]
pub trait QueueStore: Send + Sync + 'static {
    /// Register a room with its configured settings. If the configured settings differ from
    /// those last seeded (a config edit), they replace the live ones; otherwise live runtime
    /// changes (admin PATCH) are kept. Returns the live settings.
    async fn init_room(
        &self,
        room: &str,
        configured: &RoomSettings,
    ) -> Result<RoomSettings, StoreError>;

    async fn settings(&self, room: &str) -> Result<RoomSettings, StoreError>;

    async fn update_settings(
        &self,
        room: &str,
        patch: &SettingsPatch,
    ) -> Result<RoomSettings, StoreError>;

    /// Take (or find) this visitor's place; idempotent per visitor. One atomic round trip.
    /// safety-net with an empty line, a token and room under the cap → Admitted at once.
    /// Marks the visitor seen (abandonment clock).
    async fn join(&self, room: &str, visitor: VisitorId) -> Result<Placement, StoreError>;

    /// Where the visitor stands, without joining. Marks a queued visitor seen.
    async fn status(&self, room: &str, visitor: VisitorId) -> Result<Placement, StoreError>;

    /// Give up the place or the active session. True if there was one.
    async fn leave(&self, room: &str, visitor: VisitorId) -> Result<bool, StoreError>;

    /// Sliding renewal: extend an active session by session_seconds from now.
    /// None if the visitor has no active session (expired or revoked).
    async fn renew(&self, room: &str, visitor: VisitorId) -> Result<Option<u64>, StoreError>;

    /// End the visitor's place and session; remembered so passes issued before now are refused.
    async fn revoke(&self, room: &str, visitor: VisitorId) -> Result<bool, StoreError>;

    /// Revocations still in force: (visitor, revoked_at_ms). Gateways poll this.
    async fn revocations(&self, room: &str) -> Result<Vec<(VisitorId, u64)>, StoreError>;

    /// One admission step: expire sessions, free abandoned places, refill the room's token
    /// bucket from the store clock and admit min(tokens, cap room, waiting) from the head.
    /// Safe to call from any number of instances at once: the rate is global.
    async fn admit_tick(&self, room: &str) -> Result<TickOutcome, StoreError>;

    async fn stats(&self, room: &str) -> Result<RoomStats, StoreError>;
}
