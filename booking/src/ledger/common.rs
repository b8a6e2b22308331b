//! What both ledger backends share: input validation and the checked request they execute.

use std::collections::BTreeSet;

use anteroom_admission::VisitorId;

use super::LedgerError;
use crate::{Booking, EventSpec, Hold, Inventory};

/// Longest idempotency key accepted (bytes).
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;
/// Longest hold id accepted (bytes): `<32 hex>.<event id up to 64>` with room to spare.
pub const MAX_HOLD_ID_LEN: usize = 128;
/// Longest seat name accepted (bytes).
pub const MAX_SEAT_LEN: usize = 64;
/// Longest room name accepted (bytes).
pub const MAX_ROOM_LEN: usize = 128;

pub(crate) const STATUS_CONFIRMED: &str = "confirmed";
pub(crate) const STATUS_CANCELLED: &str = "cancelled";
pub(crate) const KIND_SEATS: &str = "seats";
pub(crate) const KIND_GA: &str = "ga";

/// A confirmation, checked and in the shape the databases store.
#[derive(Debug, Clone)]
pub(crate) struct ConfirmRequest {
    pub key: String,
    pub hold_id: String,
    pub event: String,
    pub holder: VisitorId,
    /// Sorted, distinct; empty for general admission.
    pub seats: Vec<String>,
    pub quantity: i64,
    pub token: i64,
}

impl ConfirmRequest {
    pub fn booking(&self, booking_id: String, created_at_ms: i64) -> Booking {
        Booking {
            booking_id,
            event: self.event.clone(),
            holder: self.holder,
            seats: self.seats.clone(),
            quantity: self.quantity as u64,
            status: STATUS_CONFIRMED.to_string(),
            created_at_ms: created_at_ms as u64,
        }
    }
}

pub(crate) fn invalid(text: impl Into<String>) -> LedgerError {
    LedgerError::Invalid(text.into())
}

pub(crate) fn valid_event_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_event_id(id: &str) -> Result<(), LedgerError> {
    if valid_event_id(id) {
        Ok(())
    } else {
        Err(invalid(format!(
            "event id must be 1-64 of [A-Za-z0-9_-], got {id:?}"
        )))
    }
}

fn check_seat(seat: &str) -> Result<(), LedgerError> {
    if seat.is_empty() || seat.len() > MAX_SEAT_LEN || seat.chars().any(char::is_control) {
        return Err(invalid(format!(
            "seat names are 1-{MAX_SEAT_LEN} bytes without control characters, got {seat:?}"
        )));
    }
    Ok(())
}

/// An event spec the ledger can store: valid id, room, non-empty distinct seat names or a
/// capacity that fits the database (1 ..= i64::MAX).
pub(crate) fn validate_event(spec: &EventSpec) -> Result<(), LedgerError> {
    check_event_id(&spec.id)?;
    if let Some(room) = &spec.room {
        if room.is_empty() || room.len() > MAX_ROOM_LEN || room.chars().any(char::is_control) {
            return Err(invalid(format!(
                "room must be 1-{MAX_ROOM_LEN} bytes without control characters"
            )));
        }
    }
    match &spec.inventory {
        Inventory::Seats(seats) => {
            if seats.is_empty() {
                return Err(invalid("an event needs at least one seat"));
            }
            if seats.len() > i32::MAX as usize {
                return Err(invalid("too many seats"));
            }
            let mut seen = BTreeSet::new();
            for seat in seats {
                check_seat(seat)?;
                if !seen.insert(seat.as_str()) {
                    return Err(invalid(format!("seat {seat:?} listed twice")));
                }
            }
        }
        Inventory::Capacity(capacity) => {
            if *capacity == 0 || i64::try_from(*capacity).is_err() {
                return Err(invalid(format!(
                    "capacity must be between 1 and {}, got {capacity}",
                    i64::MAX
                )));
            }
        }
    }
    Ok(())
}

/// Check a confirmation's inputs (the database checks the rest: event, seats, fences).
pub(crate) fn validate_confirm(key: &str, hold: &Hold) -> Result<ConfirmRequest, LedgerError> {
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(invalid(format!(
            "idempotency key must be 1-{MAX_IDEMPOTENCY_KEY_LEN} bytes"
        )));
    }
    if hold.hold_id.is_empty() || hold.hold_id.len() > MAX_HOLD_ID_LEN {
        return Err(invalid(format!(
            "hold id must be 1-{MAX_HOLD_ID_LEN} bytes"
        )));
    }
    check_event_id(&hold.event)?;
    let mut seats = hold.seats.clone();
    seats.sort();
    let before = seats.len();
    seats.dedup();
    if seats.len() != before {
        return Err(invalid("a seat is listed twice in the hold"));
    }
    for seat in &seats {
        check_seat(seat)?;
    }
    if !seats.is_empty() && hold.quantity != seats.len() as u64 {
        return Err(invalid(format!(
            "hold quantity {} does not match its {} seats",
            hold.quantity,
            seats.len()
        )));
    }
    if hold.quantity == 0 {
        return Err(invalid("hold quantity must be at least 1"));
    }
    let quantity =
        i64::try_from(hold.quantity).map_err(|_| invalid("hold quantity out of range"))?;
    let token =
        i64::try_from(hold.fencing_token).map_err(|_| invalid("fencing token out of range"))?;
    Ok(ConfirmRequest {
        key: key.to_string(),
        hold_id: hold.hold_id.clone(),
        event: hold.event.clone(),
        holder: hold.holder,
        seats,
        quantity,
        token,
    })
}

/// A cancellation's inputs: a booking id of 32 lowercase hex (anything else is unknown
/// without a database read), a key of 1-255 bytes.
pub(crate) fn validate_cancel(booking_id: &str, key: &str) -> Result<(), LedgerError> {
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(invalid(format!(
            "idempotency key must be 1-{MAX_IDEMPOTENCY_KEY_LEN} bytes"
        )));
    }
    if !is_record_id(booking_id) {
        return Err(LedgerError::UnknownBooking);
    }
    Ok(())
}

/// Booking, entry and offer ids: 32 lowercase hex.
pub fn is_record_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// How the audit log and the cancellations table name who cancelled.
pub(crate) fn canceller_name(by: super::Canceller) -> String {
    match by {
        super::Canceller::Holder(visitor) => visitor.to_hex(),
        super::Canceller::Operator => "operator".to_string(),
    }
}

/// Whether `by` may cancel a booking held by `holder`.
pub(crate) fn may_cancel(by: super::Canceller, holder: VisitorId) -> bool {
    match by {
        super::Canceller::Holder(visitor) => visitor == holder,
        super::Canceller::Operator => true,
    }
}

/// Seats of `wanted` missing from `known` (sorted).
pub(crate) fn missing_seats(wanted: &[String], known: &[String]) -> Vec<String> {
    let known: BTreeSet<&str> = known.iter().map(String::as_str).collect();
    wanted
        .iter()
        .filter(|s| !known.contains(s.as_str()))
        .cloned()
        .collect()
}

pub(crate) fn parse_holder(hex: &str) -> Result<VisitorId, LedgerError> {
    VisitorId::from_hex(hex)
        .ok_or_else(|| LedgerError::Unavailable(format!("corrupt holder {hex:?} in the ledger")))
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(seats: &[&str], quantity: u64) -> Hold {
        Hold {
            hold_id: format!("{}.ev", crate::new_id()),
            event: "ev".into(),
            holder: VisitorId::random(),
            seats: seats.iter().map(|s| s.to_string()).collect(),
            quantity,
            expires_at_ms: 0,
            fencing_token: 7,
        }
    }

    #[test]
    fn confirm_inputs_are_checked() {
        let ok = validate_confirm("k", &hold(&["B2", "A1"], 2)).expect("valid");
        assert_eq!(ok.seats, vec!["A1", "B2"], "seats sorted");
        assert!(validate_confirm("", &hold(&["A1"], 1)).is_err());
        assert!(validate_confirm(&"k".repeat(256), &hold(&["A1"], 1)).is_err());
        assert!(validate_confirm("k", &hold(&["A1", "A1"], 2)).is_err());
        assert!(validate_confirm("k", &hold(&["A1"], 2)).is_err());
        assert!(validate_confirm("k", &hold(&[], 0)).is_err());
        assert!(
            validate_confirm("k", &hold(&[], 3)).is_ok(),
            "general admission"
        );
        let mut big = hold(&["A1"], 1);
        big.fencing_token = u64::MAX;
        assert!(validate_confirm("k", &big).is_err());
    }

    #[test]
    fn event_specs_are_checked() {
        let seats = |s: &[&str]| Inventory::Seats(s.iter().map(|x| x.to_string()).collect());
        let spec = |id: &str, inventory| EventSpec {
            id: id.into(),
            room: None,
            inventory,
        };
        assert!(validate_event(&spec("ev-1", seats(&["A1", "A2"]))).is_ok());
        assert!(validate_event(&spec("ev 1", seats(&["A1"]))).is_err());
        assert!(validate_event(&spec("ev", seats(&[]))).is_err());
        assert!(validate_event(&spec("ev", seats(&["A1", "A1"]))).is_err());
        assert!(validate_event(&spec("ev", seats(&[""]))).is_err());
        assert!(validate_event(&spec("ev", Inventory::Capacity(0))).is_err());
        assert!(validate_event(&spec("ev", Inventory::Capacity(u64::MAX))).is_err());
        assert!(validate_event(&spec("ev", Inventory::Capacity(10))).is_ok());
    }
}
