//! The ledger conformance suite: every `Ledger` implementation must pass all of it.
//! `ledger_sqlite.rs` and `ledger_postgres.rs` each provide a fixture (a fresh, migrated
//! ledger plus a raw connection to look into its database) and expand
//! `ledger_conformance_tests!(fixture)` into one `#[tokio::test]` per check below.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use anteroom_admission::VisitorId;
use anteroom_booking::ledger::{Canceller, Ledger, LedgerError};
use anteroom_booking::{new_id, Booking, EventSpec, Hold, Inventory};
use async_trait::async_trait;

/// Direct access to the backend's database, to check what was really written.
#[async_trait]
pub trait Db: Send + Sync {
    /// Run a query returning one integer (e.g. `SELECT count(*) ...`).
    async fn scalar(&self, sql: &str) -> i64;

    /// Run a statement; the database's refusal as text.
    async fn execute(&self, sql: &str) -> Result<u64, String>;
}

pub struct Fixture {
    pub ledger: Arc<dyn Ledger>,
    pub db: Box<dyn Db>,
    /// Keeps the server / temp directory alive while the test runs.
    pub guard: Box<dyn std::any::Any + Send + Sync>,
}

/// One `#[tokio::test]` per conformance check, against the fixture `$fixture().await`.
macro_rules! ledger_conformance_tests {
    ($fixture:path) => {
        ledger_conformance_tests!(@each $fixture;
            migrate_twice_is_a_noop,
            create_event_is_idempotent_and_conflicts_otherwise,
            events_are_listed_and_validated,
            confirm_seated_hold_books_its_seats,
            booked_seat_refused_to_a_newer_hold_and_nothing_written,
            stale_fencing_token_is_refused,
            same_key_sequentially_returns_the_same_booking,
            same_key_ten_concurrent_confirms_make_one_booking,
            same_key_other_hold_is_reused_key,
            ga_confirm_counts_and_sells_out,
            ga_never_oversold_under_concurrent_confirms,
            one_confirmed_booking_per_seat_under_contention,
            unknown_event_and_foreign_seats_are_refused,
            one_hold_one_booking_whatever_the_keys,
            cancel_releases_seats_in_the_same_transaction,
            cancel_releases_general_admission_places,
            cancel_is_idempotent_and_only_for_the_holder_or_operator,
            the_audit_log_is_append_only,
        );
    };
    (@each $fixture:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let fixture = $fixture().await;
                ledger_conformance::$name(&fixture).await;
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------
// helpers

pub fn seated(id: &str, seats: &[&str]) -> EventSpec {
    EventSpec {
        id: id.to_string(),
        room: Some(format!("room-{id}")),
        inventory: Inventory::Seats(seats.iter().map(|s| s.to_string()).collect()),
    }
}

pub fn ga(id: &str, capacity: u64) -> EventSpec {
    EventSpec {
        id: id.to_string(),
        room: None,
        inventory: Inventory::Capacity(capacity),
    }
}

pub fn seat_names(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}{i}")).collect()
}

pub fn hold(event: &str, holder: VisitorId, seats: &[&str], token: u64) -> Hold {
    let mut seats: Vec<String> = seats.iter().map(|s| s.to_string()).collect();
    seats.sort();
    Hold {
        hold_id: format!("{}.{event}", new_id()),
        event: event.to_string(),
        holder,
        quantity: seats.len() as u64,
        seats,
        expires_at_ms: u64::MAX,
        fencing_token: token,
    }
}

pub fn ga_hold(event: &str, holder: VisitorId, quantity: u64, token: u64) -> Hold {
    Hold {
        hold_id: format!("{}.{event}", new_id()),
        event: event.to_string(),
        holder,
        seats: vec![],
        quantity,
        expires_at_ms: u64::MAX,
        fencing_token: token,
    }
}

fn key() -> String {
    new_id()
}

// ---------------------------------------------------------------------------------------
// checks

pub async fn migrate_twice_is_a_noop(f: &Fixture) {
    // The fixture migrated once already.
    let applied = f.db.scalar("SELECT count(*) FROM schema_migrations").await;
    assert!(applied >= 3, "every migration applied: {applied}");
    assert!(f.ledger.create_event(&seated("m1", &["A1"])).await.unwrap());
    let h = hold("m1", VisitorId::random(), &["A1"], 1);
    let booking = f.ledger.confirm(&key(), &h).await.unwrap();

    f.ledger.migrate().await.expect("second migrate");
    f.ledger.migrate().await.expect("third migrate");

    assert_eq!(
        f.db.scalar("SELECT count(*) FROM schema_migrations").await,
        applied,
        "no migration applied twice"
    );
    assert_eq!(
        f.ledger.event("m1").await.unwrap(),
        Some(seated("m1", &["A1"])),
        "data survives migrate"
    );
    assert_eq!(
        f.ledger.booking(&booking.booking_id).await.unwrap(),
        Some(booking)
    );
}

pub async fn create_event_is_idempotent_and_conflicts_otherwise(f: &Fixture) {
    let spec = seated("ev1", &["A1", "A2", "B1"]);
    assert!(f.ledger.create_event(&spec).await.unwrap(), "created");
    assert!(
        !f.ledger.create_event(&spec).await.unwrap(),
        "identical spec again: Ok(false)"
    );
    assert_eq!(
        f.ledger.create_event(&seated("ev1", &["A1", "A2"])).await,
        Err(LedgerError::EventConflict),
        "other seats"
    );
    let mut other_room = spec.clone();
    other_room.room = Some("elsewhere".into());
    assert_eq!(
        f.ledger.create_event(&other_room).await,
        Err(LedgerError::EventConflict),
        "other room"
    );
    assert_eq!(
        f.ledger.create_event(&ga("ev1", 3)).await,
        Err(LedgerError::EventConflict),
        "GA over seated"
    );
    assert_eq!(f.ledger.event("ev1").await.unwrap(), Some(spec.clone()));
    assert_eq!(
        f.db.scalar("SELECT count(*) FROM event_seats WHERE event = 'ev1'")
            .await,
        3,
        "the conflicting specs wrote nothing"
    );

    let gen = ga("ga1", 500);
    assert!(f.ledger.create_event(&gen).await.unwrap());
    assert!(!f.ledger.create_event(&gen).await.unwrap());
    assert_eq!(
        f.ledger.create_event(&ga("ga1", 501)).await,
        Err(LedgerError::EventConflict)
    );
    assert_eq!(f.ledger.event("ga1").await.unwrap(), Some(gen));

    // Concurrent identical creations: exactly one reports "created".
    let spec = seated("ev-race", &["A1", "A2"]);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let ledger = f.ledger.clone();
            let spec = spec.clone();
            tokio::spawn(async move { ledger.create_event(&spec).await })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        if t.await.unwrap().expect("create_event") {
            created += 1;
        }
    }
    assert_eq!(created, 1);
    assert_eq!(
        f.db.scalar("SELECT count(*) FROM event_seats WHERE event = 'ev-race'")
            .await,
        2
    );
}

pub async fn events_are_listed_and_validated(f: &Fixture) {
    assert_eq!(f.ledger.events().await.unwrap(), vec![]);
    // Seat order is kept as listed (not sorted).
    let b = seated("b-event", &["Z9", "A1", "M5"]);
    let a = ga("a-event", 10);
    f.ledger.create_event(&b).await.unwrap();
    f.ledger.create_event(&a).await.unwrap();
    assert_eq!(f.ledger.events().await.unwrap(), vec![a, b.clone()]);
    assert_eq!(f.ledger.event("b-event").await.unwrap(), Some(b));
    assert_eq!(f.ledger.event("nope").await.unwrap(), None);

    for bad in [
        seated("bad id", &["A1"]),
        seated("", &["A1"]),
        seated("dup", &["A1", "A1"]),
        seated("empty", &[]),
        seated("blank", &[""]),
        ga("zero", 0),
        ga("huge", u64::MAX),
    ] {
        assert!(
            matches!(
                f.ledger.create_event(&bad).await,
                Err(LedgerError::Invalid(_))
            ),
            "{bad:?} must be Invalid"
        );
    }
    assert_eq!(f.db.scalar("SELECT count(*) FROM events").await, 2);
}

pub async fn confirm_seated_hold_books_its_seats(f: &Fixture) {
    f.ledger
        .create_event(&seated("show", &["A1", "A2", "A3", "A4"]))
        .await
        .unwrap();
    let holder = VisitorId::random();
    let h = hold("show", holder, &["A3", "A1"], 42);
    let k = key();
    let booking = f.ledger.confirm(&k, &h).await.expect("confirm");
    assert_eq!(booking.booking_id.len(), 32);
    assert!(booking
        .booking_id
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(booking.event, "show");
    assert_eq!(booking.holder, holder);
    assert_eq!(booking.seats, vec!["A1", "A3"]);
    assert_eq!(booking.quantity, 2);
    assert_eq!(booking.status, "confirmed");
    assert!(booking.created_at_ms > 1_600_000_000_000);

    assert_eq!(
        f.ledger.booking(&booking.booking_id).await.unwrap(),
        Some(booking.clone())
    );
    assert_eq!(
        f.ledger.find_by_idempotency_key(&k, holder).await.unwrap(),
        Some(booking.clone())
    );
    assert_eq!(
        f.ledger
            .find_by_idempotency_key(&k, VisitorId::random())
            .await
            .unwrap(),
        None,
        "keys are per holder"
    );
    assert_eq!(f.ledger.booking(&new_id()).await.unwrap(), None);
    assert_eq!(
        f.ledger.booked_seats("show").await.unwrap(),
        vec!["A1", "A3"]
    );
    assert_eq!(f.ledger.sold("show").await.unwrap(), 2);

    let id = &booking.booking_id;
    assert_eq!(
        f.db.scalar(&format!(
            "SELECT count(*) FROM booking_seats WHERE booking_id = '{id}' AND status = 'confirmed'"
        ))
        .await,
        2
    );
    assert_eq!(
        f.db.scalar("SELECT count(*) FROM seat_fences WHERE event = 'show' AND token = 42")
            .await,
        2,
        "fences recorded for both seats"
    );
    assert_eq!(
        f.db.scalar(&format!(
            "SELECT count(*) FROM idempotency_keys WHERE key = '{k}' AND booking_id = '{id}'"
        ))
        .await,
        1
    );
}

/// Also: the hold store (Redis) was flushed and granted a booked seat to someone else —
/// its token is newer, the ledger still refuses. The database wins.
pub async fn booked_seat_refused_to_a_newer_hold_and_nothing_written(f: &Fixture) {
    f.ledger
        .create_event(&seated("gig", &["A1", "A2", "A3"]))
        .await
        .unwrap();
    let first = f
        .ledger
        .confirm(&key(), &hold("gig", VisitorId::random(), &["A1"], 10))
        .await
        .unwrap();

    let intruder = VisitorId::random();
    let late = hold("gig", intruder, &["A1", "A2"], 20);
    let k = key();
    assert_eq!(
        f.ledger.confirm(&k, &late).await,
        Err(LedgerError::SeatsAlreadyBooked(vec!["A1".into()]))
    );
    // Nothing written: no booking, no seat row, no fence moved, no key.
    assert_eq!(f.db.scalar("SELECT count(*) FROM bookings").await, 1);
    assert_eq!(f.db.scalar("SELECT count(*) FROM booking_seats").await, 1);
    assert_eq!(
        f.db.scalar("SELECT count(*) FROM idempotency_keys").await,
        1
    );
    assert_eq!(
        f.db.scalar("SELECT count(*) FROM seat_fences WHERE seat = 'A1' AND token = 10")
            .await,
        1,
        "A1's fence unchanged"
    );
    assert_eq!(
        f.db.scalar("SELECT count(*) FROM seat_fences WHERE seat = 'A2'")
            .await,
        0,
        "A2's fence rolled back"
    );
    assert_eq!(
        f.ledger
            .find_by_idempotency_key(&k, intruder)
            .await
            .unwrap(),
        None
    );
    assert_eq!(f.ledger.booked_seats("gig").await.unwrap(), vec!["A1"]);

    // Same seat again with a different key: still refused.
    assert_eq!(
        f.ledger
            .confirm(&key(), &hold("gig", intruder, &["A1"], 30))
            .await,
        Err(LedgerError::SeatsAlreadyBooked(vec!["A1".into()]))
    );
    // The free seat is still bookable, with a token lower than the refused attempts'.
    let second = f
        .ledger
        .confirm(&key(), &hold("gig", intruder, &["A2"], 15))
        .await
        .expect("A2 is free");
    assert_ne!(second.booking_id, first.booking_id);
    assert_eq!(
        f.ledger.booked_seats("gig").await.unwrap(),
        vec!["A1", "A2"]
    );
    assert_eq!(f.ledger.sold("gig").await.unwrap(), 2);
}

pub async fn stale_fencing_token_is_refused(f: &Fixture) {
    f.ledger
        .create_event(&seated("fence", &["A1", "A2", "A3"]))
        .await
        .unwrap();
    f.ledger
        .confirm(&key(), &hold("fence", VisitorId::random(), &["A1"], 100))
        .await
        .unwrap();
    let stale = VisitorId::random();
    assert_eq!(
        f.ledger
            .confirm(&key(), &hold("fence", stale, &["A1"], 50))
            .await,
        Err(LedgerError::StaleFence),
        "lower token"
    );
    assert_eq!(
        f.ledger
            .confirm(&key(), &hold("fence", stale, &["A1"], 100))
            .await,
        Err(LedgerError::StaleFence),
        "equal token"
    );
    // A multi-seat hold with one stale seat books none of them.
    assert_eq!(
        f.ledger
            .confirm(&key(), &hold("fence", stale, &["A1", "A2"], 99))
            .await,
        Err(LedgerError::StaleFence)
    );
    assert_eq!(f.ledger.booked_seats("fence").await.unwrap(), vec!["A1"]);
    assert_eq!(
        f.db.scalar("SELECT count(*) FROM seat_fences WHERE seat = 'A2'")
            .await,
        0
    );
    assert_eq!(
        f.db.scalar("SELECT count(*) FROM seat_fences WHERE seat = 'A1' AND token = 100")
            .await,
        1
    );
    assert_eq!(f.db.scalar("SELECT count(*) FROM bookings").await, 1);
    assert_eq!(
        f.db.scalar("SELECT count(*) FROM idempotency_keys").await,
        1
    );
}

pub async fn same_key_sequentially_returns_the_same_booking(f: &Fixture) {
    f.ledger
        .create_event(&seated("seq", &["A1", "A2"]))
        .await
        .unwrap();
    let holder = VisitorId::random();
    let h = hold("seq", holder, &["A1", "A2"], 7);
    let k = key();
    let first = f.ledger.confirm(&k, &h).await.unwrap();
    for _ in 0..3 {
        assert_eq!(f.ledger.confirm(&k, &h).await.unwrap(), first);
    }
    assert_eq!(
        f.db.scalar(&format!(
            "SELECT count(*) FROM bookings WHERE hold_id = '{}'",
            h.hold_id
        ))
        .await,
        1
    );
    assert_eq!(f.db.scalar("SELECT count(*) FROM booking_seats").await, 2);
    // The same key string from another holder is another request.
    f.ledger
        .create_event(&seated("seq2", &["B1"]))
        .await
        .unwrap();
    let other = f
        .ledger
        .confirm(&k, &hold("seq2", VisitorId::random(), &["B1"], 1))
        .await
        .expect("other holder, same key string");
    assert_ne!(other.booking_id, first.booking_id);
}

pub async fn same_key_ten_concurrent_confirms_make_one_booking(f: &Fixture) {
    f.ledger
        .create_event(&seated("burst", &["A1", "A2", "A3"]))
        .await
        .unwrap();
    for round in 0..3 {
        let seat = format!("A{}", round + 1);
        let h = hold("burst", VisitorId::random(), &[seat.as_str()], 5 + round);
        let k = key();
        let barrier = Arc::new(tokio::sync::Barrier::new(10));
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let (ledger, h, k, barrier) =
                    (f.ledger.clone(), h.clone(), k.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    ledger.confirm(&k, &h).await
                })
            })
            .collect();
        let mut answers: Vec<Booking> = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap().expect("every twin succeeds"));
        }
        assert!(
            answers.iter().all(|a| *a == answers[0]),
            "ten identical answers: {answers:?}"
        );
        assert_eq!(answers[0].seats, vec![seat.clone()]);
        assert_eq!(
            f.db.scalar(&format!(
                "SELECT count(*) FROM bookings WHERE hold_id = '{}'",
                h.hold_id
            ))
            .await,
            1,
            "one booking row"
        );
        assert_eq!(
            f.db.scalar(&format!(
                "SELECT count(*) FROM idempotency_keys WHERE key = '{k}'"
            ))
            .await,
            1
        );
        assert_eq!(
            f.db.scalar(&format!(
                "SELECT count(*) FROM booking_seats WHERE seat = '{seat}'"
            ))
            .await,
            1
        );
    }
    assert_eq!(f.ledger.sold("burst").await.unwrap(), 3);
}

pub async fn same_key_other_hold_is_reused_key(f: &Fixture) {
    f.ledger
        .create_event(&seated("reuse", &["A1", "A2"]))
        .await
        .unwrap();
    let holder = VisitorId::random();
    let k = key();
    let first = f
        .ledger
        .confirm(&k, &hold("reuse", holder, &["A1"], 1))
        .await
        .unwrap();
    assert_eq!(
        f.ledger
            .confirm(&k, &hold("reuse", holder, &["A2"], 2))
            .await,
        Err(LedgerError::IdempotencyKeyReused)
    );
    assert_eq!(f.ledger.booked_seats("reuse").await.unwrap(), vec!["A1"]);
    assert_eq!(f.db.scalar("SELECT count(*) FROM bookings").await, 1);
    assert_eq!(
        f.ledger.find_by_idempotency_key(&k, holder).await.unwrap(),
        Some(first)
    );
}

pub async fn ga_confirm_counts_and_sells_out(f: &Fixture) {
    f.ledger.create_event(&ga("fest", 5)).await.unwrap();
    let holder = VisitorId::random();
    let b = f
        .ledger
        .confirm(&key(), &ga_hold("fest", holder, 3, 1))
        .await
        .unwrap();
    assert_eq!(b.quantity, 3);
    assert!(b.seats.is_empty());
    assert_eq!(f.ledger.sold("fest").await.unwrap(), 3);
    assert_eq!(
        f.ledger.booked_seats("fest").await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        f.ledger
            .confirm(&key(), &ga_hold("fest", VisitorId::random(), 3, 2))
            .await,
        Err(LedgerError::SoldOut),
        "3 more than the 2 left"
    );
    assert_eq!(f.ledger.sold("fest").await.unwrap(), 3, "unchanged");
    f.ledger
        .confirm(&key(), &ga_hold("fest", VisitorId::random(), 2, 3))
        .await
        .expect("exactly the rest");
    assert_eq!(f.ledger.sold("fest").await.unwrap(), 5);
    assert_eq!(
        f.ledger
            .confirm(&key(), &ga_hold("fest", VisitorId::random(), 1, 4))
            .await,
        Err(LedgerError::SoldOut)
    );
    assert_eq!(
        f.db.scalar("SELECT sold FROM ga_inventory WHERE event = 'fest'")
            .await,
        5
    );
    assert_eq!(f.db.scalar("SELECT count(*) FROM bookings").await, 2);
}

pub async fn ga_never_oversold_under_concurrent_confirms(f: &Fixture) {
    const CAPACITY: u64 = 20;
    f.ledger.create_event(&ga("rush", CAPACITY)).await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = (0..50u64)
        .map(|i| {
            let (ledger, barrier) = (f.ledger.clone(), barrier.clone());
            tokio::spawn(async move {
                let h = ga_hold("rush", VisitorId::random(), 1 + i % 2, i + 1);
                barrier.wait().await;
                (h.quantity, ledger.confirm(&new_id(), &h).await)
            })
        })
        .collect();
    let mut sold = 0;
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            (quantity, Ok(booking)) => {
                assert_eq!(booking.quantity, quantity);
                sold += quantity;
                ok += 1;
            }
            (_, Err(LedgerError::SoldOut)) => {}
            (_, Err(e)) => panic!("unexpected {e:?}"),
        }
    }
    // 25 buyers of one place each cannot all succeed, and one fails only when nothing is
    // left: the event sells out exactly.
    assert_eq!(sold, CAPACITY, "sold {sold} of {CAPACITY}");
    assert_eq!(f.ledger.sold("rush").await.unwrap(), sold);
    assert_eq!(
        f.db.scalar("SELECT sold FROM ga_inventory WHERE event = 'rush'")
            .await,
        sold as i64
    );
    assert_eq!(
        f.db.scalar("SELECT coalesce(sum(quantity), 0) FROM bookings WHERE event = 'rush'")
            .await,
        sold as i64
    );
    assert_eq!(
        f.db.scalar("SELECT count(*) FROM bookings WHERE event = 'rush'")
            .await,
        ok
    );
}

pub async fn one_confirmed_booking_per_seat_under_contention(f: &Fixture) {
    const SEATS: usize = 50;
    const PER_SEAT: usize = 4;
    let seats = seat_names("S", SEATS);
    let refs: Vec<&str> = seats.iter().map(String::as_str).collect();
    f.ledger.create_event(&seated("race", &refs)).await.unwrap();

    // Every seat: PER_SEAT single-seat holders, plus a pair hold over it and its neighbour;
    // tokens all distinct, as the hold store hands them out.
    let mut holds = Vec::new();
    let mut token = 1;
    for i in 0..SEATS {
        for _ in 0..PER_SEAT {
            holds.push(hold("race", VisitorId::random(), &[refs[i]], token));
            token += 1;
        }
        let j = (i + 1) % SEATS;
        holds.push(hold(
            "race",
            VisitorId::random(),
            &[refs[i], refs[j]],
            token,
        ));
        token += 1;
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(holds.len()));
    let tasks: Vec<_> = holds
        .into_iter()
        .map(|h| {
            let (ledger, barrier) = (f.ledger.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                ledger.confirm(&new_id(), &h).await
            })
        })
        .collect();
    let mut booked: BTreeMap<String, usize> = BTreeMap::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(b) => {
                for seat in b.seats {
                    *booked.entry(seat).or_default() += 1;
                }
            }
            Err(LedgerError::SeatsAlreadyBooked(_)) | Err(LedgerError::StaleFence) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(booked.len(), SEATS, "every seat booked: {booked:?}");
    assert!(
        booked.values().all(|n| *n == 1),
        "one success per seat: {booked:?}"
    );
    assert_eq!(
        f.db.scalar(
            "SELECT count(*) FROM booking_seats WHERE event = 'race' AND status = 'confirmed'"
        )
        .await,
        SEATS as i64
    );
    assert_eq!(
        f.db.scalar(
            "SELECT count(*) FROM (SELECT seat FROM booking_seats WHERE event = 'race' \
             AND status = 'confirmed' GROUP BY seat HAVING count(*) > 1) AS doubles"
        )
        .await,
        0
    );
    assert_eq!(
        f.db.scalar(
            "SELECT count(*) FROM bookings b WHERE event = 'race' AND quantity <> \
             (SELECT count(*) FROM booking_seats s WHERE s.booking_id = b.booking_id)"
        )
        .await,
        0,
        "every booking has all its seats"
    );
    assert_eq!(f.ledger.sold("race").await.unwrap(), SEATS as u64);
    assert_eq!(f.ledger.booked_seats("race").await.unwrap().len(), SEATS);
}

pub async fn unknown_event_and_foreign_seats_are_refused(f: &Fixture) {
    f.ledger
        .create_event(&seated("known", &["A1", "A2"]))
        .await
        .unwrap();
    f.ledger.create_event(&ga("known-ga", 10)).await.unwrap();
    let v = VisitorId::random();
    assert_eq!(
        f.ledger
            .confirm(&key(), &hold("nowhere", v, &["A1"], 1))
            .await,
        Err(LedgerError::UnknownEvent)
    );
    assert_eq!(
        f.ledger.confirm(&key(), &ga_hold("nowhere", v, 1, 1)).await,
        Err(LedgerError::UnknownEvent)
    );
    let bad = [
        hold("known", v, &["A1", "Z9"], 1), // seat not in the event
        ga_hold("known", v, 1, 1),          // quantity on a seated event
        hold("known-ga", v, &["A1"], 1),    // seats on a GA event
    ];
    for h in bad {
        assert!(
            matches!(
                f.ledger.confirm(&key(), &h).await,
                Err(LedgerError::Invalid(_))
            ),
            "{h:?} must be Invalid"
        );
    }
    let mut wrong_quantity = hold("known", v, &["A1"], 1);
    wrong_quantity.quantity = 2;
    assert!(matches!(
        f.ledger.confirm(&key(), &wrong_quantity).await,
        Err(LedgerError::Invalid(_))
    ));
    assert!(matches!(
        f.ledger.confirm("", &hold("known", v, &["A1"], 1)).await,
        Err(LedgerError::Invalid(_))
    ));
    assert_eq!(
        f.ledger.sold("nowhere").await,
        Err(LedgerError::UnknownEvent)
    );
    assert_eq!(
        f.ledger.booked_seats("nowhere").await,
        Err(LedgerError::UnknownEvent)
    );
    // Nothing was written by any of the refusals.
    assert_eq!(f.db.scalar("SELECT count(*) FROM bookings").await, 0);
    assert_eq!(
        f.db.scalar("SELECT count(*) FROM idempotency_keys").await,
        0
    );
    assert_eq!(f.db.scalar("SELECT count(*) FROM seat_fences").await, 0);
    assert_eq!(f.ledger.sold("known").await.unwrap(), 0);
    assert_eq!(f.ledger.sold("known-ga").await.unwrap(), 0);
}

/// One hold, one booking: confirming the same hold under other Idempotency-Keys (one after
/// the other, or ten at once) answers with the one booking, records each key for it, and
/// sells the places once — for general admission, which has no per-seat index, too.
pub async fn one_hold_one_booking_whatever_the_keys(f: &Fixture) {
    f.ledger.create_event(&ga("once", 20)).await.unwrap();
    f.ledger
        .create_event(&seated("once-seated", &["A1", "A2"]))
        .await
        .unwrap();
    let holder = VisitorId::random();

    let first = ga_hold("once", holder, 3, 1);
    let booking = f.ledger.confirm("key-a", &first).await.unwrap();
    let again = f.ledger.confirm("key-b", &first).await.unwrap();
    assert_eq!(again, booking, "another key: the same booking");
    assert_eq!(
        f.ledger
            .find_by_idempotency_key("key-b", holder)
            .await
            .unwrap(),
        Some(booking.clone()),
        "the second key is recorded for the booking"
    );
    assert_eq!(
        f.ledger.booking_of_hold(&first.hold_id).await.unwrap(),
        Some(booking.clone())
    );
    assert_eq!(f.ledger.sold("once").await.unwrap(), 3, "sold once");

    let second = ga_hold("once", holder, 4, 2);
    let racers: Vec<_> = (0..10)
        .map(|i| {
            let ledger = f.ledger.clone();
            let hold = second.clone();
            tokio::spawn(async move { ledger.confirm(&format!("race-{i}"), &hold).await })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    for racer in racers {
        ids.insert(racer.await.unwrap().unwrap().booking_id);
    }
    assert_eq!(ids.len(), 1, "ten keys at once: one booking");
    assert_eq!(f.ledger.sold("once").await.unwrap(), 7, "3 + 4, each once");
    assert_eq!(
        f.db.scalar(&format!(
            "SELECT count(*) FROM bookings WHERE hold_id = '{}'",
            second.hold_id
        ))
        .await,
        1
    );
    assert_eq!(
        f.db.scalar("SELECT count(*) FROM bookings WHERE event = 'once'")
            .await,
        2
    );

    let seated_hold = hold("once-seated", holder, &["A1"], 5);
    let booking = f.ledger.confirm("seat-a", &seated_hold).await.unwrap();
    assert_eq!(
        f.ledger.confirm("seat-b", &seated_hold).await.unwrap(),
        booking,
        "a seated hold too: its own token is not stale to itself"
    );
    assert_eq!(
        f.db.scalar("SELECT count(*) FROM booking_seats WHERE event = 'once-seated'")
            .await,
        1
    );
    assert_eq!(
        f.ledger
            .confirm(
                "other-holder",
                &Hold {
                    holder: VisitorId::random(),
                    ..seated_hold.clone()
                }
            )
            .await,
        Err(LedgerError::StaleFence),
        "a hold id confirmed by someone else is not theirs"
    );
}

pub async fn cancel_releases_seats_in_the_same_transaction(f: &Fixture) {
    f.ledger
        .create_event(&seated("cx", &["A1", "A2", "A3"]))
        .await
        .unwrap();
    let fan = VisitorId::random();
    let booking = f
        .ledger
        .confirm(&key(), &hold("cx", fan, &["A1", "A2"], 1))
        .await
        .unwrap();
    let cancelled = f
        .ledger
        .cancel(&booking.booking_id, "c1", Canceller::Holder(fan))
        .await
        .unwrap();
    assert_eq!(cancelled.booking.status, "cancelled");
    assert_eq!(cancelled.seats, vec!["A1", "A2"]);
    assert_eq!(cancelled.quantity, 2);
    assert!(cancelled.returned_to_sale, "nobody waiting: back on sale");
    assert_eq!(f.ledger.sold("cx").await.unwrap(), 0);
    assert!(f.ledger.booked_seats("cx").await.unwrap().is_empty());
    assert_eq!(
        f.ledger
            .booking(&booking.booking_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        "cancelled"
    );
    // The release, the cancellation and the audit row were written together.
    assert_eq!(
        f.db.scalar("SELECT count(*) FROM capacity_released WHERE event = 'cx'")
            .await,
        2
    );
    assert_eq!(
        f.db.scalar(
            "SELECT count(*) FROM audit_log WHERE subject = 'booking' \
             AND from_state = 'confirmed' AND to_state = 'cancelled'"
        )
        .await,
        1
    );
    // The seats sell again, under the same unique index (a newer hold's token).
    let again = f
        .ledger
        .confirm(&key(), &hold("cx", VisitorId::random(), &["A1"], 2))
        .await
        .expect("a released seat is bookable");
    assert_eq!(again.seats, vec!["A1"]);
    assert_eq!(f.ledger.booked_seats("cx").await.unwrap(), vec!["A1"]);
}

pub async fn cancel_releases_general_admission_places(f: &Fixture) {
    f.ledger.create_event(&ga("gx", 4)).await.unwrap();
    let fan = VisitorId::random();
    let booking = f
        .ledger
        .confirm(&key(), &ga_hold("gx", fan, 4, 1))
        .await
        .unwrap();
    assert_eq!(
        f.ledger
            .confirm(&key(), &ga_hold("gx", VisitorId::random(), 1, 2))
            .await,
        Err(LedgerError::SoldOut)
    );
    let cancelled = f
        .ledger
        .cancel(&booking.booking_id, "c1", Canceller::Operator)
        .await
        .unwrap();
    assert_eq!(cancelled.quantity, 4);
    assert!(cancelled.seats.is_empty());
    assert_eq!(f.ledger.sold("gx").await.unwrap(), 0);
    assert_eq!(
        f.db.scalar("SELECT count(*) FROM capacity_released WHERE event = 'gx' AND seat IS NULL")
            .await,
        4
    );
    f.ledger
        .confirm(&key(), &ga_hold("gx", VisitorId::random(), 4, 3))
        .await
        .expect("the places sell again");
}

pub async fn cancel_is_idempotent_and_only_for_the_holder_or_operator(f: &Fixture) {
    f.ledger.create_event(&seated("ci", &["A1"])).await.unwrap();
    let fan = VisitorId::random();
    let booking = f
        .ledger
        .confirm(&key(), &hold("ci", fan, &["A1"], 1))
        .await
        .unwrap();
    assert_eq!(
        f.ledger
            .cancel(
                &booking.booking_id,
                "k",
                Canceller::Holder(VisitorId::random())
            )
            .await,
        Err(LedgerError::UnknownBooking),
        "another visitor's booking is unknown to them"
    );
    assert_eq!(
        f.ledger.cancel(&new_id(), "k", Canceller::Operator).await,
        Err(LedgerError::UnknownBooking)
    );
    assert_eq!(
        f.ledger.cancel("not-an-id", "k", Canceller::Operator).await,
        Err(LedgerError::UnknownBooking)
    );
    assert!(matches!(
        f.ledger
            .cancel(&booking.booking_id, "", Canceller::Operator)
            .await,
        Err(LedgerError::Invalid(_))
    ));
    // Ten at once, with different keys: one cancellation, one release, the same answer.
    let calls: Vec<_> = (0..10)
        .map(|i| {
            let ledger = f.ledger.clone();
            let id = booking.booking_id.clone();
            tokio::spawn(async move {
                ledger
                    .cancel(&id, &format!("k{i}"), Canceller::Holder(fan))
                    .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.unwrap().unwrap());
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    assert_eq!(
        f.db.scalar("SELECT count(*) FROM capacity_released WHERE event = 'ci'")
            .await,
        1,
        "released once"
    );
    assert_eq!(f.db.scalar("SELECT count(*) FROM cancellations").await, 1);
}

pub async fn the_audit_log_is_append_only(f: &Fixture) {
    f.ledger.create_event(&seated("al", &["A1"])).await.unwrap();
    let fan = VisitorId::random();
    let booking = f
        .ledger
        .confirm(&key(), &hold("al", fan, &["A1"], 1))
        .await
        .unwrap();
    f.ledger
        .cancel(&booking.booking_id, "k", Canceller::Operator)
        .await
        .unwrap();
    assert_eq!(f.db.scalar("SELECT count(*) FROM audit_log").await, 1);
    let update =
        f.db.execute("UPDATE audit_log SET reason = 'rewritten'")
            .await;
    assert!(
        update.as_ref().is_err_and(|e| e.contains("append-only")),
        "{update:?}"
    );
    let delete = f.db.execute("DELETE FROM audit_log").await;
    assert!(
        delete.as_ref().is_err_and(|e| e.contains("append-only")),
        "{delete:?}"
    );
    assert_eq!(f.db.scalar("SELECT count(*) FROM audit_log").await, 1);
}
