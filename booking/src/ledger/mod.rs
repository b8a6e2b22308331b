//! The bookings ledger: `Ledger` and its two implementations, PostgreSQL (production) and
//! embedded SQLite (single node, the demo). (SKELETON: the trait is fixed.)
//!
//! Schema (booking/migrations/, applied at start): events; seats; bookings with a partial
//! UNIQUE index on (event, seat) over confirmed rows — the final guard against selling a
//! seat twice; seat_fences (event, seat, last fencing token) — a confirmation whose token is
//! not newer than the last one recorded for any of its seats is refused; ga_inventory
//! (event, capacity, sold) with CHECK (sold <= capacity); idempotency_keys (key, holder) →
//! booking, written in the same transaction as the booking.
//!
//! Layout: one `bookings` row per booking (holder, hold id, quantity, status, fencing
//! token) and, for seated events, one `booking_seats` row per seat carrying a copy of the
//! status — the partial unique index `booking_seats_one_confirmed` on (event, seat) WHERE
//! status = 'confirmed' lives there. Migrations are per backend
//! (`booking/migrations/{postgres,sqlite}/NNNN_*.sql`), embedded in the binary and recorded
//! in `schema_migrations`.
//!
//! A confirmation runs, in one transaction: the idempotency-key row (first, so a concurrent
//! twin waits on it and then answers with the winner's booking), the event lookup
//! (UnknownEvent), the hold's booking if it already has one (UNIQUE on bookings.hold_id: one
//! hold, one booking — a second key answers with that booking and is recorded for it), the
//! seats' membership (Invalid), the fences (StaleFence), the booking rows (SeatsAlreadyBooked
//! on the unique index) or the GA counter (SoldOut on the CHECK).

use anteroom_admission::VisitorId;
use async_trait::async_trait;
use thiserror::Error;

use crate::{Booking, EventSpec, Hold};

mod common;
mod postgres;
mod postgres_waitlist;
mod sqlite;
mod sqlite_waitlist;
mod waitlist_common;

pub use common::{
    is_record_id, MAX_HOLD_ID_LEN, MAX_IDEMPOTENCY_KEY_LEN, MAX_ROOM_LEN, MAX_SEAT_LEN,
};
pub use postgres::{PostgresLedger, PostgresOptions};
pub use postgres_waitlist::PostgresWaitlist;
pub use sqlite::SqliteLedger;
pub use sqlite_waitlist::SqliteWaitlist;

/// Open the ledger a `[database] url` names and apply the migrations:
/// `postgres://…` / `postgresql://…` → [`PostgresLedger`] (default [`PostgresOptions`]);
/// `sqlite://FILE` (relative, or `sqlite:///abs/path`), `sqlite:FILE` or `sqlite::memory:`
/// → [`SqliteLedger`]. A bad or unsupported URL is `Invalid`; an unreachable database is
/// `Unavailable`.
pub async fn open_url(url: &str) -> Result<std::sync::Arc<dyn Ledger>, LedgerError> {
    let ledger: std::sync::Arc<dyn Ledger> =
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            std::sync::Arc::new(PostgresLedger::connect(url, PostgresOptions::default()).await?)
        } else if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path == ":memory:" {
                std::sync::Arc::new(SqliteLedger::open_in_memory()?)
            } else if path.is_empty() {
                return Err(LedgerError::Invalid(format!(
                    "{url:?} names no file; use sqlite://FILE"
                )));
            } else {
                std::sync::Arc::new(SqliteLedger::open(path)?)
            }
        } else {
            return Err(LedgerError::Invalid(format!(
                "unsupported database URL {url:?}: use postgres://... or sqlite://FILE"
            )));
        };
    ledger.migrate().await?;
    Ok(ledger)
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LedgerError {
    /// The database already has confirmed bookings for these seats.
    #[error("seats already booked: {0:?}")]
    SeatsAlreadyBooked(Vec<String>),
    /// A newer hold's fencing token was already recorded for one of the seats.
    #[error("stale fencing token")]
    StaleFence,
    /// General admission: confirming would sell more than the capacity.
    #[error("sold out")]
    SoldOut,
    /// The idempotency key was used by this holder for a different hold.
    #[error("idempotency key reused for a different request")]
    IdempotencyKeyReused,
    #[error("unknown event")]
    UnknownEvent,
    /// An event with this id exists with a different inventory.
    #[error("event exists with a different inventory")]
    EventConflict,
    /// The database is unreachable or failed; callers answer 503 + Retry-After.
    #[error("ledger unavailable: {0}")]
    Unavailable(String),
    #[error("invalid ledger request: {0}")]
    Invalid(String),
    /// No booking with this id (or not the caller's).
    #[error("unknown booking")]
    UnknownBooking,
}

/// Who cancels: the booking's holder (their pass), or the operator (the admin token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canceller {
    Holder(VisitorId),
    Operator,
}

/// A cancelled booking and the places it released (in the cancellation's transaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancellation {
    /// The booking, status "cancelled".
    pub booking: Booking,
    /// The released seats (sorted), empty for general admission.
    pub seats: Vec<String>,
    /// Places released.
    pub quantity: u64,
    /// Nobody was waiting for them: they went straight back on public sale (the hold store
    /// must stop calling them booked). Otherwise they wait for the waitlist's promotion.
    pub returned_to_sale: bool,
    pub cancelled_at_ms: u64,
}

#[async_trait]
pub trait Ledger: Send + Sync + 'static {
    /// Apply the migrations (idempotent).
    async fn migrate(&self) -> Result<(), LedgerError>;

    /// Create an event; Ok(false) if the identical event exists, EventConflict if different.
    async fn create_event(&self, spec: &EventSpec) -> Result<bool, LedgerError>;

    async fn event(&self, id: &str) -> Result<Option<EventSpec>, LedgerError>;

    async fn events(&self) -> Result<Vec<EventSpec>, LedgerError>;

    /// The booking this holder already made with this idempotency key, if any.
    async fn find_by_idempotency_key(
        &self,
        key: &str,
        holder: VisitorId,
    ) -> Result<Option<Booking>, LedgerError>;

    /// Confirm a hold in ONE transaction: idempotency key row, fencing check, booking row(s)
    /// (or GA sold += quantity). The same (key, holder) again — also concurrently, ten at
    /// once — returns the same booking; the same key with another hold →
    /// IdempotencyKeyReused. Another key for a hold already confirmed → that hold's booking
    /// (one hold, one booking, enforced by a unique index). Constraint violations map to SeatsAlreadyBooked / SoldOut.
    async fn confirm(&self, idempotency_key: &str, hold: &Hold) -> Result<Booking, LedgerError>;

    async fn booking(&self, booking_id: &str) -> Result<Option<Booking>, LedgerError>;

    /// The booking a hold became, if it was confirmed (at most one: UNIQUE on hold_id).
    async fn booking_of_hold(&self, hold_id: &str) -> Result<Option<Booking>, LedgerError>;

    /// Seats not for sale: confirmed bookings, and seats released to the waitlist and not
    /// back on sale yet.
    async fn booked_seats(&self, event: &str) -> Result<Vec<String>, LedgerError>;

    /// Places sold: confirmed seats, or GA quantity sold.
    async fn sold(&self, event: &str) -> Result<u64, LedgerError>;

    /// Cancel a confirmed booking in ONE transaction: the booking (and its seats) become
    /// "cancelled", the places are released (seat rows stop counting for the unique index,
    /// GA `sold -= quantity`), one `capacity_released` row per place and an audit row are
    /// appended. Released places are reserved for the event's waitlist when someone is
    /// waiting, else returned to sale. Cancelling again (any key) answers with the same
    /// cancellation. A holder's call for another holder's booking → UnknownBooking.
    async fn cancel(
        &self,
        booking_id: &str,
        idempotency_key: &str,
        by: Canceller,
    ) -> Result<Cancellation, LedgerError>;

    /// The waitlist kept in this database (same database: an acceptance and its booking
    /// are one transaction). Both backends keep one; one conformance suite
    /// (`booking/tests/waitlist_conformance`) runs against each.
    fn waitlist(&self) -> std::sync::Arc<dyn crate::waitlist::Waitlist>;
}
