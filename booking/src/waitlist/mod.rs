//! The waitlist after sell-out: fans join a sold-out event's line (one entry per visitor per
//! event, enforced by the database), released places (cancellations) are offered to the
//! next waiting fan in join order with a deadline, and an accepted offer books the place
//! through the same ledger constraints as any booking. Every transition is appended to the
//! audit log; every offer gets an outbox row for the webhook relay, in the offer's
//! transaction.
//!
//! `Waitlist` lives next to the ledger (same database: an acceptance and its booking are
//! one transaction); both ledgers implement it (`ledger::PostgresWaitlist`,
//! `ledger::SqliteWaitlist`, sharing their decisions in `ledger::waitlist_common`) and pass
//! one conformance suite (`booking/tests/waitlist_conformance`). Promotion is serialised
//! per event (docs/adr/0006-waitlist-promotion.md).

pub mod offer_token;
mod position;

pub use offer_token::TokenRefusal;
pub use position::{band, Position, BAND_WIDTH};

use anteroom_admission::{Keyring, VisitorId};
use async_trait::async_trait;
use serde::Serialize;
use thiserror::Error;

use crate::ledger::LedgerError;
use crate::Booking;

/// An entry's state (`docs/booking.md`): `waiting` until offered a place; then `accepted`,
/// `declined` or `expired`; `left` when the fan gives up their place (also while offered).
pub const ENTRY_STATES: [&str; 6] = [
    "waiting", "offered", "accepted", "declined", "expired", "left",
];

/// One fan's place on an event's waitlist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub entry_id: String,
    pub event: String,
    #[serde(skip)]
    pub visitor: VisitorId,
    pub state: String,
    /// 1 = next to be offered a place; only while waiting.
    pub position: Option<u64>,
    pub joined_at_ms: u64,
    /// The open offer (state "offered"), or the last one.
    pub offer: Option<Offer>,
}

/// A released place offered to one fan until `expires_at_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Offer {
    pub offer_id: String,
    pub entry_id: String,
    pub event: String,
    /// The seat, or None for a general-admission place.
    pub seat: Option<String>,
    /// open | accepted | declined | expired | withdrawn
    pub state: String,
    pub released_at_ms: u64,
    pub offered_at_ms: u64,
    pub expires_at_ms: u64,
    pub booking_id: Option<String>,
    /// The signed offer token (`offer_token::presented`): needed to accept; only while open.
    pub token: Option<String>,
}

/// What one promotion pass did for an event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Promotion {
    /// New offers, in join order of their fans.
    pub offered: Vec<Offer>,
    /// Open offers past their deadline, closed (their places offered again).
    pub expired: u64,
    /// Places nobody was waiting for, back on public sale: seats, or a GA quantity.
    pub returned_seats: Vec<String>,
    pub returned_quantity: u64,
}

/// The operator's view of an event's waitlist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Overview {
    pub event: String,
    /// Entries waiting (the depth).
    pub waiting: u64,
    pub open_offers: u64,
    pub accepted: u64,
    pub declined: u64,
    pub expired: u64,
    pub left: u64,
    /// Released places not offered yet.
    pub unoffered_places: u64,
    /// How long the oldest unoffered place has waited for an offer (ms), 0 if none.
    pub promotion_lag_ms: u64,
    /// Outbox messages not delivered yet.
    pub outbox_backlog: u64,
}

/// One transition, as the audit log recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    pub seq: u64,
    /// booking | entry | offer | unit
    pub subject: String,
    pub subject_id: String,
    pub from: Option<String>,
    pub to: String,
    pub reason: String,
    pub at_ms: u64,
}

/// A notification waiting for the webhook; `message_id` is stable across retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub message_id: String,
    pub payload: String,
    pub attempts: u32,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum WaitlistError {
    /// The line is at `[waitlist] max_depth`.
    #[error("the waitlist is full ({0} waiting)")]
    Full(u64),
    #[error("unknown waitlist entry")]
    UnknownEntry,
    /// Expired, already answered, withdrawn, or not this fan's.
    #[error("this offer is no longer open to you")]
    OfferClosed,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// Promotion limits for one pass, and the keys its offers' tokens are signed with.
#[derive(Debug, Clone)]
pub struct PromotionRules {
    pub offer_ttl_ms: u64,
    /// At most this many offers per event in any second (waves), over every instance.
    pub notify_per_second: u64,
    /// Signs each new offer's token, written into its outbox message (the webhook's copy)
    /// in the offer's transaction.
    pub keyring: Keyring,
}

#[async_trait]
pub trait Waitlist: Send + Sync + 'static {
    /// Join (or find again) `visitor`'s entry for `event`: Ok((entry, true)) when created.
    /// `Full` when `max_depth` entries are already waiting or offered.
    async fn join(
        &self,
        event: &str,
        visitor: VisitorId,
        max_depth: u64,
    ) -> Result<(Entry, bool), WaitlistError>;

    async fn entry(&self, entry_id: &str) -> Result<Option<Entry>, WaitlistError>;

    async fn offer(&self, offer_id: &str) -> Result<Option<Offer>, WaitlistError>;

    /// The visitor leaves (waiting or offered: an open offer is withdrawn and its place
    /// offered to the next fan). Leaving twice answers the same.
    async fn leave(&self, entry_id: &str, visitor: VisitorId) -> Result<Entry, WaitlistError>;

    /// One promotion pass for `event`, serialised with every other pass for it whatever
    /// the instance: expire overdue offers, offer free places to the next waiting fans in
    /// join order (at most `notify_per_second` offers in the last second), return places
    /// nobody waits for to sale. Each offer's row, entry, place, outbox and audit rows are
    /// one transaction.
    async fn promote(
        &self,
        event: &str,
        rules: &PromotionRules,
    ) -> Result<Promotion, WaitlistError>;

    /// Events with promotion work: unoffered places or overdue offers.
    async fn events_to_promote(&self) -> Result<Vec<String>, WaitlistError>;

    /// Book the offered place (idempotent by (key, visitor); one booking per offer whatever
    /// the keys): the booking, and whether this call made it (false: a repeat).
    /// `OfferClosed` if expired, answered otherwise, or not the visitor's.
    async fn accept(
        &self,
        offer_id: &str,
        idempotency_key: &str,
        visitor: VisitorId,
    ) -> Result<(Booking, bool), WaitlistError>;

    async fn decline(&self, offer_id: &str, visitor: VisitorId) -> Result<Entry, WaitlistError>;

    async fn overview(&self, event: &str) -> Result<Overview, WaitlistError>;

    /// Every transition of the entry, its offers and the booking its offer became.
    async fn audit(&self, entry_id: &str) -> Result<Vec<AuditRecord>, WaitlistError>;

    /// Undelivered outbox messages due now, oldest first.
    async fn due_messages(&self, limit: u32) -> Result<Vec<OutboxMessage>, WaitlistError>;

    /// Delivered: never sent again.
    async fn delivered(&self, message_id: &str) -> Result<(), WaitlistError>;

    /// Not delivered: try again after `retry_in_ms`.
    async fn failed(&self, message_id: &str, retry_in_ms: u64) -> Result<(), WaitlistError>;
}
