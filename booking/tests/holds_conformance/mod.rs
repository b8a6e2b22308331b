//! One behavioural suite for every `HoldStore`. Each store's test file provides a `Fixture`
//! (the store, plus whatever server keeps it alive) and invokes `hold_store_suite!`.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anteroom_admission::VisitorId;
use anteroom_booking::holds::{HoldError, HoldStore};

pub type Store = Arc<dyn HoldStore>;

#[macro_export]
macro_rules! hold_store_suite {
    ($fixture:path; $($test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let fixture = <$fixture>::start().await;
                holds_conformance::$test(fixture.store()).await;
            }
        )*
    };
}

pub fn seats(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

const LONG: u64 = 60_000;

/// Poll `check` until it holds or the deadline passes.
async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn a_hold_is_found_again_and_shows_in_the_map(store: Store) {
    let fan = VisitorId::random();
    let hold = store
        .hold_seats("ev1", &seats(&["A2", "A1"]), fan, LONG, 6)
        .await
        .unwrap();
    assert_eq!(hold.seats, seats(&["A1", "A2"]), "sorted");
    assert_eq!(hold.quantity, 2);
    assert!(hold.hold_id.ends_with(".ev1"));
    assert_eq!(anteroom_booking::event_of_hold(&hold.hold_id), Some("ev1"));
    let found = store
        .get("ev1", &hold.hold_id)
        .await
        .unwrap()
        .expect("live hold");
    assert_eq!(found, hold);
    assert_eq!(store.held_seats("ev1").await.unwrap(), seats(&["A1", "A2"]));
    assert_eq!(store.get("ev1", "0123.ev1").await.unwrap(), None);
}

pub async fn multi_seat_holds_are_all_or_nothing(store: Store) {
    let (first, second) = (VisitorId::random(), VisitorId::random());
    store
        .hold_seats("ev1", &seats(&["A2"]), first, LONG, 6)
        .await
        .unwrap();
    let refused = store
        .hold_seats("ev1", &seats(&["A1", "A2", "A3"]), second, LONG, 6)
        .await;
    assert_eq!(refused, Err(HoldError::SeatTaken(seats(&["A2"]))));
    assert_eq!(
        store.held_seats("ev1").await.unwrap(),
        seats(&["A2"]),
        "nothing else held"
    );
    let rest = store
        .hold_seats("ev1", &seats(&["A1", "A3"]), second, LONG, 6)
        .await
        .unwrap();
    assert_eq!(rest.seats, seats(&["A1", "A3"]));
}

pub async fn seats_are_deduplicated_and_validated(store: Store) {
    let fan = VisitorId::random();
    let hold = store
        .hold_seats("ev1", &seats(&["A1", "A1"]), fan, LONG, 6)
        .await
        .unwrap();
    assert_eq!(hold.seats, seats(&["A1"]));
    assert_eq!(hold.quantity, 1);
    for bad in [seats(&["A 1"]), seats(&["A,1"]), seats(&[]), seats(&[""])] {
        assert!(matches!(
            store.hold_seats("ev1", &bad, fan, LONG, 6).await,
            Err(HoldError::Invalid(_))
        ));
    }
    assert!(
        matches!(
            store
                .hold_seats("bad event", &seats(&["A1"]), fan, LONG, 6)
                .await,
            Err(HoldError::Invalid(_))
        ) || store.held_seats("bad event").await.is_ok()
    );
}

pub async fn the_per_visitor_cap_counts_live_holds(store: Store) {
    let fan = VisitorId::random();
    let first = store
        .hold_seats("ev1", &seats(&["A1", "A2"]), fan, LONG, 3)
        .await
        .unwrap();
    assert_eq!(
        store
            .hold_seats("ev1", &seats(&["A3", "A4"]), fan, LONG, 3)
            .await,
        Err(HoldError::TooManySeats { limit: 3 })
    );
    store
        .hold_seats("ev1", &seats(&["A3"]), fan, LONG, 3)
        .await
        .unwrap();
    assert!(store.release("ev1", &first.hold_id, fan).await.unwrap());
    store
        .hold_seats("ev1", &seats(&["A4", "A5"]), fan, LONG, 3)
        .await
        .expect("released seats no longer count");
    // Another visitor has a cap of their own.
    store
        .hold_seats(
            "ev1",
            &seats(&["B1", "B2", "B3"]),
            VisitorId::random(),
            LONG,
            3,
        )
        .await
        .unwrap();
}

pub async fn expiry_frees_the_seat_and_the_cap_without_any_cleanup(store: Store) {
    let fan = VisitorId::random();
    let hold = store
        .hold_seats("ev1", &seats(&["A1"]), fan, 200, 1)
        .await
        .unwrap();
    let other = VisitorId::random();
    assert!(matches!(
        store
            .hold_seats("ev1", &seats(&["A1"]), other, LONG, 1)
            .await,
        Err(HoldError::SeatTaken(_))
    ));
    let store2 = store.clone();
    assert!(
        eventually(Duration::from_secs(3), || {
            let store = store2.clone();
            async move {
                store
                    .hold_seats("ev1", &seats(&["A1"]), other, LONG, 1)
                    .await
                    .is_ok()
            }
        })
        .await,
        "the expired hold never freed its seat"
    );
    assert_eq!(store.get("ev1", &hold.hold_id).await.unwrap(), None);
    // The expired hold no longer counts against its holder's cap.
    store
        .hold_seats("ev1", &seats(&["A9"]), fan, LONG, 1)
        .await
        .expect("cap freed by expiry");
}

pub async fn only_the_holder_releases(store: Store) {
    let (fan, thief) = (VisitorId::random(), VisitorId::random());
    let hold = store
        .hold_seats("ev1", &seats(&["A1"]), fan, LONG, 6)
        .await
        .unwrap();
    assert!(!store.release("ev1", &hold.hold_id, thief).await.unwrap());
    assert_eq!(store.held_seats("ev1").await.unwrap(), seats(&["A1"]));
    assert!(store.release("ev1", &hold.hold_id, fan).await.unwrap());
    assert!(
        !store.release("ev1", &hold.hold_id, fan).await.unwrap(),
        "only once"
    );
    assert!(store.held_seats("ev1").await.unwrap().is_empty());
    store
        .hold_seats("ev1", &seats(&["A1"]), thief, LONG, 6)
        .await
        .expect("free again");
}

pub async fn fencing_tokens_only_grow(store: Store) {
    let mut last = 0;
    for round in 0..5 {
        let fan = VisitorId::random();
        let hold = store
            .hold_seats("ev1", &seats(&["A1"]), fan, LONG, 6)
            .await
            .unwrap();
        assert!(
            hold.fencing_token > last,
            "round {round}: {} <= {last}",
            hold.fencing_token
        );
        last = hold.fencing_token;
        store.release("ev1", &hold.hold_id, fan).await.unwrap();
    }
}

pub async fn consumed_holds_make_seats_booked_for_good(store: Store) {
    let fan = VisitorId::random();
    let hold = store
        .hold_seats("ev1", &seats(&["A1", "A2"]), fan, LONG, 6)
        .await
        .unwrap();
    store.consume(&hold).await.unwrap();
    store.consume(&hold).await.unwrap();
    assert_eq!(store.get("ev1", &hold.hold_id).await.unwrap(), None);
    assert!(
        store.held_seats("ev1").await.unwrap().is_empty(),
        "booked, not held"
    );
    assert_eq!(
        store
            .hold_seats("ev1", &seats(&["A2", "A3"]), VisitorId::random(), LONG, 6)
            .await,
        Err(HoldError::SeatTaken(seats(&["A2"])))
    );
    store.mark_booked("ev1", &seats(&["A3"])).await.unwrap();
    assert_eq!(
        store
            .hold_seats("ev1", &seats(&["A3"]), VisitorId::random(), LONG, 6)
            .await,
        Err(HoldError::SeatTaken(seats(&["A3"])))
    );
}

pub async fn general_admission_never_goes_below_zero(store: Store) {
    store.init_capacity("ga1", 10).await.unwrap();
    store
        .init_capacity("ga1", 10)
        .await
        .expect("same capacity again is fine");
    assert!(matches!(
        store.init_capacity("ga1", 11).await,
        Err(HoldError::Invalid(_))
    ));
    let mut attempts = Vec::new();
    for _ in 0..200 {
        let store = store.clone();
        attempts.push(tokio::spawn(async move {
            store
                .hold_quantity("ga1", 1, VisitorId::random(), LONG, 6)
                .await
        }));
    }
    let mut granted = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(hold) => {
                assert_eq!(hold.quantity, 1);
                granted += 1;
            }
            Err(HoldError::NotEnoughLeft { available }) => assert_eq!(available, 0),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(granted, 10);
    assert_eq!(store.available("ga1").await.unwrap(), 0);
    assert_eq!(
        store
            .hold_quantity("ga1", 1, VisitorId::random(), LONG, 6)
            .await,
        Err(HoldError::NotEnoughLeft { available: 0 })
    );
}

pub async fn general_admission_places_come_back_on_expiry_but_not_after_consume(store: Store) {
    store.init_capacity("ga2", 3).await.unwrap();
    let fan = VisitorId::random();
    let sold = store.hold_quantity("ga2", 1, fan, LONG, 6).await.unwrap();
    store.consume(&sold).await.unwrap();
    store
        .hold_quantity("ga2", 2, VisitorId::random(), 200, 6)
        .await
        .unwrap();
    assert_eq!(store.available("ga2").await.unwrap(), 0);
    let store2 = store.clone();
    assert!(
        eventually(Duration::from_secs(3), || {
            let store = store2.clone();
            async move { store.available("ga2").await.unwrap() == 2 }
        })
        .await,
        "expired GA places never came back"
    );
    assert_eq!(
        store.hold_quantity("ga2", 3, fan, LONG, 6).await,
        Err(HoldError::NotEnoughLeft { available: 2 })
    );
    assert!(matches!(
        store.hold_quantity("nope", 1, fan, LONG, 6).await,
        Err(HoldError::Invalid(_))
    ));
}

/// The acceptance race: 2,000 visitors at once, each after one of 50 seats.
pub async fn a_2000_way_race_for_50_seats_gives_exactly_50_holds(store: Store) {
    let mut attempts = Vec::new();
    for i in 0..2000 {
        let store = store.clone();
        let seat = format!("S{}", i % 50);
        attempts.push(tokio::spawn(async move {
            store
                .hold_seats("race", &[seat], VisitorId::random(), LONG, 6)
                .await
        }));
    }
    let mut holders: HashMap<String, String> = HashMap::new();
    let mut refused = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(hold) => {
                for seat in hold.seats {
                    let previous = holders.insert(seat.clone(), hold.hold_id.clone());
                    assert!(previous.is_none(), "seat {seat} held twice");
                }
            }
            Err(HoldError::SeatTaken(_)) => refused += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(holders.len(), 50, "exactly 50 holds");
    assert_eq!(refused, 1950);
    let held: HashSet<String> = store
        .held_seats("race")
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(held, holders.keys().cloned().collect::<HashSet<_>>());
}

/// Overlapping multi-seat requests: no seat ever ends up in two holds.
pub async fn overlapping_multi_seat_races_never_share_a_seat(store: Store) {
    let mut attempts = Vec::new();
    for i in 0..300 {
        let store = store.clone();
        let wanted: Vec<String> = (0..3)
            .map(|k| format!("M{}", (i * 7 + k * 5) % 40))
            .collect();
        attempts.push(tokio::spawn(async move {
            store
                .hold_seats("mix", &wanted, VisitorId::random(), LONG, 6)
                .await
        }));
    }
    let mut owner: HashMap<String, String> = HashMap::new();
    for attempt in attempts {
        if let Ok(hold) = attempt.await.unwrap() {
            for seat in hold.seats {
                assert!(
                    owner.insert(seat.clone(), hold.hold_id.clone()).is_none(),
                    "{seat} twice"
                );
            }
        }
    }
    assert!(!owner.is_empty());
    let held: HashSet<String> = store.held_seats("mix").await.unwrap().into_iter().collect();
    assert_eq!(held, owner.keys().cloned().collect::<HashSet<_>>());
}
