//! The booking domain's plain data. (SKELETON: fixed, other modules code against it.)

use anteroom_admission::VisitorId;
use serde::{Deserialize, Serialize};

/// What an event sells: named seats, or a number of general-admission places.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Inventory {
    Seats(Vec<String>),
    Capacity(u64),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSpec {
    /// [A-Za-z0-9_-]{1,64}
    pub id: String,
    /// The gateway room to mark `sold_out` when nothing is left.
    pub room: Option<String>,
    pub inventory: Inventory,
}

/// A live hold: seats (or a GA quantity) reserved for one holder until `expires_at_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// `<32 lowercase hex>.<event id>`: the event rides along so every call can find the
    /// event's keys (one hash tag) from the id alone (`DELETE /v1/holds/{hold_id}`).
    pub hold_id: String,
    pub event: String,
    pub holder: VisitorId,
    /// Named seats, sorted; empty for general admission.
    pub seats: Vec<String>,
    /// Number of places: seats.len() for seated events, the quantity for GA.
    pub quantity: u64,
    /// Unix ms, hold-store clock.
    pub expires_at_ms: u64,
    /// Monotonic per event, also across a hold-store restart (floored by the store's clock in
    /// microseconds), so a stale holder can never confirm over a newer one.
    pub fencing_token: u64,
}

/// A confirmed booking, as the ledger records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Booking {
    /// 32 lowercase hex
    pub booking_id: String,
    pub event: String,
    #[serde(serialize_with = "serialize_visitor")]
    pub holder: VisitorId,
    pub seats: Vec<String>,
    pub quantity: u64,
    /// "confirmed"
    pub status: String,
    /// Unix ms
    pub created_at_ms: u64,
}

fn serialize_visitor<S: serde::Serializer>(id: &VisitorId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&id.to_hex())
}

/// A random 128-bit id as 32 lowercase hex (hold and booking ids).
pub fn new_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    anteroom_admission::hex_lower(&bytes)
}

/// The event id inside a hold id (`<hex>.<event>`), if well formed.
pub fn event_of_hold(hold_id: &str) -> Option<&str> {
    let (hex, event) = hold_id.split_once('.')?;
    let hex_ok = hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    let event_ok = !event.is_empty()
        && event.len() <= 64
        && event
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    (hex_ok && event_ok).then_some(event)
}
