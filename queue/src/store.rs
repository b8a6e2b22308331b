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
    /// In the line. position 1 = next to be admitted; waiting = line length; `ticket` = the
    /// visitor's place in the order of joins (the queue score): with a `LineView` fed by
    /// `frontier`, any instance computes this visitor's position without asking the store.
    Waiting {
        position: u64,
        waiting: u64,
        ticket: u64,
    },
    /// Holds an active session until `expires_at_ms` (unix ms, store clock).
    Admitted { expires_at_ms: u64 },
    /// Neither queued nor active (status only; join never returns it).
    Absent,
    /// The room is closed: nobody joins.
    Closed,
    /// The room is sold out: nobody joins, waiting visitors are told.
    SoldOut,
}

/// What `join` found or did: where the visitor stands, and whether this call took a new
/// place (a new place admitted at once is a straight-through admission).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Joined {
    pub placement: Placement,
    /// True when this join created the visitor's place or session; false when it found one.
    pub new_place: bool,
}

/// One revocation: every pass of `visitor` for the room that expires at or before
/// `passes_expiring_by_ms` (unix ms, store clock) is refused. Pass expiries come from the
/// store's session expiries, so the comparison stays in the store's clock: any pass issued
/// before the revocation expires by then, and a session begun after it ends later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Revocation {
    pub visitor: VisitorId,
    pub passes_expiring_by_ms: u64,
}

/// One page of the revocation log, oldest first, from a cursor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RevocationPage {
    pub revocations: Vec<Revocation>,
    /// Where the next call continues (pass it back); unchanged when nothing was new.
    pub cursor: String,
    /// True when the page was full: call again at once for the rest.
    pub more: bool,
}

/// What `leave` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Left {
    /// The visitor had a place or a live session.
    pub had_place: bool,
    /// Recorded when the visitor had a live session: that session's passes stop working.
    pub revocation: Option<Revocation>,
}

/// What `revoke` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revoked {
    pub had_place: bool,
    pub revocation: Revocation,
}

/// The line as seen for position fan-out: from it and a ticket, any instance computes that
/// visitor's exact position without asking the store (see `LineView`, ADR 0005).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    /// Changes when the store lost the line (flush, restore): tickets restart; drop the old view.
    pub epoch: String,
    /// Ticket at the head of the line (position 1); None when the line is empty.
    pub head: Option<u64>,
    /// Line length.
    pub waiting: u64,
    /// Tickets removed out of order (leave, revoke, abandonment) logged after `cursor`, oldest first;
    /// may include tickets already below head (the view ignores them).
    pub gaps: Vec<u64>,
    /// Pass back to continue after these gaps.
    pub cursor: u64,
    /// The page was full: call again at once for the rest.
    pub more: bool,
    /// Store-clock ms of the last change of head or gaps (lag measurement: a stream update
    /// carries how long after this it was written).
    pub changed_at_ms: u64,
}

/// Frontier pages hold at most this many gaps.
pub const FRONTIER_PAGE: usize = 1000;

/// `touch` sends at most this many visitors per round trip.
pub const TOUCH_BATCH: usize = 1000;

/// Revocation pages hold at most this many entries.
pub const REVOCATION_PAGE: usize = 1000;

/// A revocation stays in the store's log this long after no pass it refuses can be valid
/// any more by the store's clock: gateways whose clocks lag the store's by less than this
/// still fetch it in time.
pub const REVOCATION_GRACE_MS: u64 = 60_000;

/// The abandonment clock of a room advances by the time between admission ticks, but by at
/// most this much per tick: while no tick can run (the store unreachable for this room, or
/// no gateway running) it stands still, so an outage never counts toward abandonment.
pub const ABANDON_CLOCK_MAX_STEP_MS: u64 = 500;

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
    /// those last seeded (a config edit), the configured knobs (mode, rate, cap, session,
    /// abandonment) replace the live ones while the runtime flags (`paused`, `sold_out`,
    /// `message`) are kept; otherwise every live runtime change (admin PATCH) is kept.
    /// Returns the live settings.
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

    /// After the store lost the room (a flush, a restart without persistence): seed it with
    /// `live`, the settings this instance last saw (so runtime flags such as `paused` and
    /// `sold_out` survive), stamped as seeded from `configured`. A room that exists is left
    /// as it is (another instance restored it first). Returns the live settings and whether
    /// this call restored the room.
    async fn restore_room(
        &self,
        room: &str,
        configured: &RoomSettings,
        live: &RoomSettings,
    ) -> Result<(RoomSettings, bool), StoreError>;

    /// Take (or find) this visitor's place; idempotent per visitor. One atomic round trip.
    /// safety-net with an empty line, a token and room under the cap → Admitted at once.
    /// Marks the visitor seen (abandonment clock).
    async fn join(&self, room: &str, visitor: VisitorId) -> Result<Joined, StoreError>;

    /// Where the visitor stands, without joining. Marks a queued visitor seen.
    async fn status(&self, room: &str, visitor: VisitorId) -> Result<Placement, StoreError>;

    /// Give up the place or the active session; a live session's passes are revoked.
    async fn leave(&self, room: &str, visitor: VisitorId) -> Result<Left, StoreError>;

    /// Sliding renewal: extend an active session by session_seconds from now.
    /// None if the visitor has no active session (expired or revoked).
    async fn renew(&self, room: &str, visitor: VisitorId) -> Result<Option<u64>, StoreError>;

    /// End the visitor's place and session and revoke every pass issued for it so far.
    async fn revoke(&self, room: &str, visitor: VisitorId) -> Result<Revoked, StoreError>;

    /// The revocation log after `cursor` ("" = from the oldest kept), at most
    /// `REVOCATION_PAGE` entries. Gateways follow it incrementally so none is ever missed.
    async fn revocations_since(
        &self,
        room: &str,
        cursor: &str,
    ) -> Result<RevocationPage, StoreError>;

    /// Put revocations back after the store lost them (a flush), so every instance refuses
    /// those passes again. Entries no longer in force are skipped.
    async fn restore_revocations(
        &self,
        room: &str,
        revocations: &[Revocation],
    ) -> Result<(), StoreError>;

    /// One admission step: expire sessions, free abandoned places, refill the room's token
    /// bucket from the store clock and admit min(tokens, cap room, waiting) from the head.
    /// Safe to call from any number of instances at once: the rate is global.
    async fn admit_tick(&self, room: &str) -> Result<TickOutcome, StoreError>;

    async fn stats(&self, room: &str) -> Result<RoomStats, StoreError>;

    /// The line for position fan-out: epoch, head ticket, length, and the out-of-order
    /// removals logged after `cursor` (0 = from the start), at most `FRONTIER_PAGE` of them.
    /// One round trip, whatever the length of the line; feed it to a `LineView`.
    async fn frontier(&self, room: &str, cursor: u64) -> Result<Frontier, StoreError>;

    /// An open stream keeps its place: mark these visitors seen (abandonment clock) if they are still queued;
    /// one round trip for up to 1000 visitors. Returns how many were still queued.
    async fn touch(&self, room: &str, visitors: &[VisitorId]) -> Result<u64, StoreError>;

    /// One round trip to the store: answers while it is reachable.
    async fn ping(&self) -> Result<(), StoreError>;
}
