//! What both waitlist implementations (PostgreSQL, SQLite) share: input checks, the
//! decisions taken on rows they have read (may this fan accept this offer? what does
//! leaving do?), the offers and outbox messages a pass writes, and the audit rows of each
//! transition. Each backend only runs the SQL.

use anteroom_admission::{Keyring, VisitorId};

use super::common::is_record_id;
use super::{LedgerError, MAX_IDEMPOTENCY_KEY_LEN};
use crate::waitlist::{offer_token, Offer, WaitlistError};

pub(crate) const REASON_JOINED: &str = "joined";
pub(crate) const REASON_RELEASED: &str = "place released";
pub(crate) const REASON_EXPIRED: &str = "offer expired";
pub(crate) const REASON_DECLINED: &str = "offer declined";
pub(crate) const REASON_ACCEPTED: &str = "offer accepted";
pub(crate) const REASON_LEFT: &str = "fan left";
pub(crate) const REASON_RETURNED: &str = "nobody waiting: back on sale";

/// The `hold_id` of the booking an accepted offer becomes (UNIQUE: one booking per offer).
pub(crate) fn offer_hold_id(offer_id: &str) -> String {
    format!("offer:{offer_id}")
}

/// An accept's inputs: a key of 1-255 bytes (`Invalid`), an offer id of 32 lowercase hex
/// (anything else is no offer of the caller's: `OfferClosed`, without a database read).
pub(crate) fn check_accept_input(offer_id: &str, key: &str) -> Result<(), WaitlistError> {
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(WaitlistError::Ledger(LedgerError::Invalid(format!(
            "idempotency key must be 1-{MAX_IDEMPOTENCY_KEY_LEN} bytes"
        ))));
    }
    check_offer_id(offer_id)
}

pub(crate) fn check_offer_id(offer_id: &str) -> Result<(), WaitlistError> {
    if is_record_id(offer_id) {
        Ok(())
    } else {
        Err(WaitlistError::OfferClosed)
    }
}

pub(crate) fn check_entry_id(entry_id: &str) -> Result<(), WaitlistError> {
    if is_record_id(entry_id) {
        Ok(())
    } else {
        Err(WaitlistError::UnknownEntry)
    }
}

/// An offer row as an accept reads it (locked, in the accept's transaction).
pub(crate) struct OfferRow<'a> {
    pub state: &'a str,
    pub expires_at_ms: i64,
    pub booking_id: Option<&'a str>,
    /// The entry's visitor (hex).
    pub owner: &'a str,
}

/// What an accept does with the offer it read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AcceptStep {
    /// Book it now.
    Book,
    /// Accepted already (another key, a double tap): answer with this booking.
    Repeat(String),
}

/// Another fan's offer, or one expired, answered or withdrawn: `OfferClosed`.
pub(crate) fn accept_step(
    row: &OfferRow<'_>,
    holder: &str,
    now: i64,
) -> Result<AcceptStep, WaitlistError> {
    if row.owner != holder {
        return Err(WaitlistError::OfferClosed);
    }
    if let (Some(existing), "accepted") = (row.booking_id, row.state) {
        return Ok(AcceptStep::Repeat(existing.to_string()));
    }
    if row.state != "open" || row.expires_at_ms <= now {
        return Err(WaitlistError::OfferClosed);
    }
    Ok(AcceptStep::Book)
}

/// An open offer the caller may decline or withdraw: theirs, open, before its deadline.
pub(crate) fn may_close(
    state: &str,
    expires_at_ms: i64,
    owner: &str,
    visitor: VisitorId,
    now: i64,
) -> Result<(), WaitlistError> {
    if owner != visitor.to_hex() || state != "open" || expires_at_ms <= now {
        return Err(WaitlistError::OfferClosed);
    }
    Ok(())
}

/// What a fan closes: an offer (decline) or their entry (leave).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Close<'a> {
    Decline(&'a str),
    Leave(&'a str),
}

/// What leaving does to an entry in `state`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LeaveStep {
    /// Waiting: the entry becomes `left`.
    Waiting,
    /// Offered: the open offer is withdrawn (its place goes to the next fan).
    Offered,
    /// Already over (accepted, declined, expired, left): the same answer, nothing changes.
    Over,
}

pub(crate) fn leave_step(state: &str) -> LeaveStep {
    match state {
        "waiting" => LeaveStep::Waiting,
        "offered" => LeaveStep::Offered,
        _ => LeaveStep::Over,
    }
}

/// How many offers a pass may make: `notify_per_second` minus those made in the last second.
pub(crate) fn wave_budget(notify_per_second: u64, offered_last_second: i64) -> i64 {
    (i64::try_from(notify_per_second).unwrap_or(i64::MAX) - offered_last_second).max(0)
}

/// A fresh open offer of the place `unit` to `entry_id`'s fan, signed for them, and its
/// outbox message (id = the offer id; the payload the webhook receives).
pub(crate) struct NewOffer {
    pub offer: Offer,
    pub payload: String,
}

pub(crate) struct Unit {
    pub unit_id: i64,
    pub seat: Option<String>,
    pub released_at_ms: i64,
}

pub(crate) fn new_offer(
    event: &str,
    entry_id: &str,
    visitor: VisitorId,
    unit: &Unit,
    now: i64,
    offer_ttl_ms: u64,
    keyring: &Keyring,
) -> NewOffer {
    let offer_id = crate::new_id();
    let expires = now.saturating_add(i64::try_from(offer_ttl_ms).unwrap_or(i64::MAX / 2));
    let offer = Offer {
        offer_id: offer_id.clone(),
        entry_id: entry_id.to_string(),
        event: event.to_string(),
        seat: unit.seat.clone(),
        state: "open".into(),
        released_at_ms: ms(unit.released_at_ms),
        offered_at_ms: ms(now),
        expires_at_ms: ms(expires),
        booking_id: None,
        token: None,
    };
    let offer = offer_token::presented(&offer, visitor, keyring);
    let payload = serde_json::json!({
        "id": offer_id,
        "type": "waitlist.offer",
        "offer": &offer,
    })
    .to_string();
    NewOffer { offer, payload }
}

pub(crate) fn ms(v: i64) -> u64 {
    v.max(0) as u64
}

/// One audit row of a waitlist transition: `subject` `subject_id` went `from` → `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Transition {
    pub subject: &'static str,
    pub subject_id: String,
    pub from: Option<&'static str>,
    pub to: &'static str,
}

fn step(
    subject: &'static str,
    subject_id: impl Into<String>,
    from: Option<&'static str>,
    to: &'static str,
) -> Transition {
    Transition {
        subject,
        subject_id: subject_id.into(),
        from,
        to,
    }
}

/// A fan joined.
pub(crate) fn joined(entry_id: &str) -> Vec<Transition> {
    vec![step("entry", entry_id, None, "waiting")]
}

/// A place was offered to a waiting fan.
pub(crate) fn offered(offer_id: &str, entry_id: &str, unit_id: i64) -> Vec<Transition> {
    vec![
        step("offer", offer_id, None, "open"),
        step("entry", entry_id, Some("waiting"), "offered"),
        step("unit", unit_id.to_string(), Some("free"), "offered"),
    ]
}

/// An open offer closed (`to`: declined, expired, withdrawn), its entry moved to
/// `entry_to`, its place back in the pool of free places.
pub(crate) fn closed(
    offer_id: &str,
    entry_id: &str,
    unit_id: i64,
    to: &'static str,
    entry_to: &'static str,
) -> Vec<Transition> {
    vec![
        step("offer", offer_id, Some("open"), to),
        step("entry", entry_id, Some("offered"), entry_to),
        step("unit", unit_id.to_string(), Some("offered"), "free"),
    ]
}

/// An offer accepted: its place taken by a new booking.
pub(crate) fn accepted(
    offer_id: &str,
    entry_id: &str,
    unit_id: i64,
    booking_id: &str,
) -> Vec<Transition> {
    vec![
        step("offer", offer_id, Some("open"), "accepted"),
        step("entry", entry_id, Some("offered"), "accepted"),
        step("unit", unit_id.to_string(), Some("offered"), "taken"),
        step("booking", booking_id, None, super::common::STATUS_CONFIRMED),
    ]
}

/// A waiting fan left.
pub(crate) fn left_waiting(entry_id: &str) -> Vec<Transition> {
    vec![step("entry", entry_id, Some("waiting"), "left")]
}

/// A free place nobody waits for went back on public sale.
pub(crate) fn returned(unit_id: i64) -> Transition {
    step("unit", unit_id.to_string(), Some("free"), "returned")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(state: &'a str, booking: Option<&'a str>, owner: &'a str) -> OfferRow<'a> {
        OfferRow {
            state,
            expires_at_ms: 100,
            booking_id: booking,
            owner,
        }
    }

    #[test]
    fn accept_books_an_open_offer_of_the_caller_before_its_deadline() {
        assert_eq!(
            accept_step(&row("open", None, "a"), "a", 99),
            Ok(AcceptStep::Book)
        );
        assert_eq!(
            accept_step(&row("open", None, "a"), "a", 100),
            Err(WaitlistError::OfferClosed),
            "at the deadline"
        );
        assert_eq!(
            accept_step(&row("open", None, "a"), "b", 1),
            Err(WaitlistError::OfferClosed),
            "another fan's"
        );
        assert_eq!(
            accept_step(&row("accepted", Some("bk"), "a"), "a", 1_000),
            Ok(AcceptStep::Repeat("bk".into())),
            "a repeat answers with the booking, also after the deadline"
        );
        for state in ["declined", "expired", "withdrawn"] {
            assert_eq!(
                accept_step(&row(state, None, "a"), "a", 1),
                Err(WaitlistError::OfferClosed)
            );
        }
    }

    #[test]
    fn inputs_and_budgets() {
        let id = crate::new_id();
        assert_eq!(check_accept_input(&id, "k"), Ok(()));
        assert!(matches!(
            check_accept_input(&id, ""),
            Err(WaitlistError::Ledger(LedgerError::Invalid(_)))
        ));
        assert_eq!(
            check_accept_input("nope", "k"),
            Err(WaitlistError::OfferClosed)
        );
        assert_eq!(check_entry_id("x"), Err(WaitlistError::UnknownEntry));
        assert_eq!(wave_budget(10, 3), 7);
        assert_eq!(wave_budget(10, 30), 0);
        assert_eq!(wave_budget(u64::MAX, 0), i64::MAX);
        assert_eq!(leave_step("waiting"), LeaveStep::Waiting);
        assert_eq!(leave_step("offered"), LeaveStep::Offered);
        assert_eq!(leave_step("accepted"), LeaveStep::Over);
    }
}
