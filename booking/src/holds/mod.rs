//! Seat holds: `HoldStore` and its two implementations, one conformance suite for both.
//!
//! Redis model (hash tag per event so Cluster keeps an event on one shard; every key a
//! script touches is declared in its KEYS, see `redis/lua/common.lua`):
//! `bk:{EVENT}:hold:<id>` = the hold record, TTL = the hold's; `bk:{EVENT}:holder:<visitor>`
//! = zset of the holder's holds scored by expiry, pruned on every call (the cap per visitor
//! counts live holds only); `bk:{EVENT}:live` = zset of every hold scored by expiry;
//! `bk:{EVENT}:seats` = hash seat -> hold id (the seat is held while that hold is live:
//! all-or-nothing for multi-seat holds in one script); `bk:{EVENT}:hseats` = hash hold id ->
//! its seats; `bk:{EVENT}:booked` = set of seats known booked; `bk:{EVENT}:fence` = fencing
//! counter; GA: `bk:{EVENT}:ga` capacity/held/consumed + `bk:{EVENT}:qty` (quantities of
//! live GA holds); expired holds reclaimed lazily inside every script (no cleanup job
//! needed for correctness); `bk:{EVENT}:consumed` = ids of consumed holds (consume is
//! idempotent). `bk:intact` = the sentinel a flush removes (see `HoldStore::intact`).

mod memory;
mod redis;

pub use memory::MemoryHolds;
pub use redis::RedisHolds;

use anteroom_admission::VisitorId;
use async_trait::async_trait;
use thiserror::Error;

use crate::Hold;

/// Most seats one request may name.
pub const MAX_SEATS_PER_REQUEST: usize = 100;

/// Seat ids are `[A-Za-z0-9_-]{1,32}` (they become key names and comma-joined lists);
/// returns them deduplicated and sorted.
pub fn validate_seats(seats: &[String]) -> Result<Vec<String>, HoldError> {
    if seats.is_empty() {
        return Err(HoldError::Invalid("name at least one seat".into()));
    }
    if seats.len() > MAX_SEATS_PER_REQUEST {
        return Err(HoldError::Invalid(format!(
            "at most {MAX_SEATS_PER_REQUEST} seats per request"
        )));
    }
    for seat in seats {
        let ok = !seat.is_empty()
            && seat.len() <= 32
            && seat
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            return Err(HoldError::Invalid(format!(
                "seat `{seat}`: use 1-32 characters of [A-Za-z0-9_-]"
            )));
        }
    }
    let mut seats = seats.to_vec();
    seats.sort();
    seats.dedup();
    Ok(seats)
}

/// Event ids are `[A-Za-z0-9_-]{1,64}` (they sit inside key names and hold ids).
pub fn validate_event(event: &str) -> Result<(), HoldError> {
    let ok = !event.is_empty()
        && event.len() <= 64
        && event
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(HoldError::Invalid(format!(
            "event id `{event}`: use 1-64 characters of [A-Za-z0-9_-]"
        )))
    }
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum HoldError {
    /// Some requested seats are held by someone else or booked; nothing was held.
    #[error("seats taken: {0:?}")]
    SeatTaken(Vec<String>),
    /// The holder would exceed the per-visitor cap.
    #[error("at most {limit} seats per visitor")]
    TooManySeats { limit: u64 },
    /// General admission: fewer places left than asked for.
    #[error("only {available} left")]
    NotEnoughLeft { available: u64 },
    #[error("hold store unavailable: {0}")]
    Unavailable(String),
    #[error("invalid hold request: {0}")]
    Invalid(String),
}

/// A capacity the stores can record: at least 1, and no more sold than there is.
pub(crate) fn check_capacity(capacity: u64, sold: u64) -> Result<(), HoldError> {
    if capacity == 0 {
        return Err(HoldError::Invalid("capacity must be at least 1".into()));
    }
    if sold > capacity {
        return Err(HoldError::Invalid(format!(
            "{sold} sold is more than the capacity {capacity}"
        )));
    }
    Ok(())
}

#[async_trait]
pub trait HoldStore: Send + Sync + 'static {
    /// GA: record the capacity of a new event (no-op if already recorded with the same
    /// value; `Invalid` if recorded with another).
    async fn init_capacity(&self, event: &str, capacity: u64) -> Result<(), HoldError> {
        self.seed_capacity(event, capacity, 0).await
    }

    /// GA: record the capacity with `sold` places already consumed (the ledger's count,
    /// after the store lost the event: a flush). An event already recorded is left as it
    /// is (its own count is at least as fresh), with the same `Invalid` on another capacity.
    async fn seed_capacity(&self, event: &str, capacity: u64, sold: u64) -> Result<(), HoldError>;

    /// Whether the store still has what it was taught since [`HoldStore::mark_intact`]: a
    /// sentinel that a flush (or a restart without persistence) takes with everything else.
    async fn intact(&self) -> Result<bool, HoldError>;

    /// Set the sentinel, after the store was taught the ledger's state (reconcile).
    async fn mark_intact(&self) -> Result<(), HoldError>;

    /// Hold every named seat for `holder`, or none (one atomic step). Seats are deduplicated
    /// and sorted. Fails with SeatTaken listing every unavailable seat (held by anyone, the
    /// holder included, or booked), TooManySeats if the holder's live held seats + these
    /// would exceed `max_per_holder`.
    async fn hold_seats(
        &self,
        event: &str,
        seats: &[String],
        holder: VisitorId,
        ttl_ms: u64,
        max_per_holder: u64,
    ) -> Result<Hold, HoldError>;

    /// GA: take `quantity` places from the event's counter, never below zero.
    async fn hold_quantity(
        &self,
        event: &str,
        quantity: u64,
        holder: VisitorId,
        ttl_ms: u64,
        max_per_holder: u64,
    ) -> Result<Hold, HoldError>;

    /// A live hold; None once expired, released or consumed.
    async fn get(&self, event: &str, hold_id: &str) -> Result<Option<Hold>, HoldError>;

    /// Release a live hold if `holder` holds it; true if it was released.
    async fn release(
        &self,
        event: &str,
        hold_id: &str,
        holder: VisitorId,
    ) -> Result<bool, HoldError>;

    /// After the ledger confirmed the hold: its seats become booked (never holdable again,
    /// without TTL) and GA places are consumed for good. Idempotent.
    async fn consume(&self, hold: &Hold) -> Result<(), HoldError>;

    /// Mark seats booked (rebuilding from the ledger after the hold store lost its data).
    async fn mark_booked(&self, event: &str, seats: &[String]) -> Result<(), HoldError>;

    /// Places a cancellation gave back and no waitlisted fan took go on sale again: the
    /// seats stop being booked, or (general admission, `seats` empty) `quantity` places
    /// leave the consumed count, never below zero.
    async fn return_to_sale(
        &self,
        event: &str,
        seats: &[String],
        quantity: u64,
    ) -> Result<(), HoldError>;

    /// Seats currently held (not booked) in an event, for the seat map.
    async fn held_seats(&self, event: &str) -> Result<Vec<String>, HoldError>;

    /// GA: places neither held nor consumed.
    async fn available(&self, event: &str) -> Result<u64, HoldError>;
}
