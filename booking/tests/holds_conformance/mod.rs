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
    assert!(matches!(
        store
            .hold_seats("bad event", &seats(&["A1"]), fan, LONG, 6)
            .await,
        Err(HoldError::Invalid(_))
    ));
    let too_many: Vec<String> = (0..101).map(|i| format!("Z{i}")).collect();
    assert!(matches!(
        store.hold_seats("ev1", &too_many, fan, LONG, 1000).await,
        Err(HoldError::Invalid(_))
    ));
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
    assert!(
        !store.release("ev1", &hold.hold_id, fan).await.unwrap(),
        "an expired hold is not released again (the seat is someone else's now)"
    );
    assert_eq!(store.held_seats("ev1").await.unwrap(), seats(&["A1"]));
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
    // A hold that ran out is followed by a larger token too.
    let fan = VisitorId::random();
    let short = store
        .hold_seats("ev1", &seats(&["A1"]), fan, 100, 6)
        .await
        .unwrap();
    assert!(short.fencing_token > last);
    let next = wait_for_seat(&store, "ev1", "A1").await;
    assert!(
        next.fencing_token > short.fencing_token,
        "after expiry: {} <= {}",
        next.fencing_token,
        short.fencing_token
    );
}

/// Poll until a fresh visitor can hold `seat` (a shorter hold on it expires).
async fn wait_for_seat(store: &Store, event: &str, seat: &str) -> anteroom_booking::Hold {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match store
            .hold_seats(event, &seats(&[seat]), VisitorId::random(), LONG, 6)
            .await
        {
            Ok(hold) => return hold,
            Err(HoldError::SeatTaken(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(other) => panic!("{seat} never came free: {other:?}"),
        }
    }
}

pub async fn the_cap_outlives_a_shorter_hold_of_the_same_visitor(store: Store) {
    // TTLs may differ from call to call: the short hold's expiry must not forget the long one.
    let fan = VisitorId::random();
    store
        .hold_seats("ev1", &seats(&["A1"]), fan, LONG, 2)
        .await
        .unwrap();
    store
        .hold_seats("ev1", &seats(&["A2"]), fan, 100, 2)
        .await
        .unwrap();
    let store2 = store.clone();
    assert!(
        eventually(Duration::from_secs(3), || {
            let store = store2.clone();
            async move { store.held_seats("ev1").await.unwrap() == seats(&["A1"]) }
        })
        .await,
        "the short hold never expired"
    );
    assert_eq!(
        store
            .hold_seats("ev1", &seats(&["A3", "A4"]), fan, LONG, 2)
            .await,
        Err(HoldError::TooManySeats { limit: 2 }),
        "the long hold still counts"
    );
    store
        .hold_seats("ev1", &seats(&["A3"]), fan, LONG, 2)
        .await
        .expect("the expired one no longer counts");
}

pub async fn consume_after_expiry_still_books(store: Store) {
    // The ledger confirmed in time but the hold store heard late: the ledger's word is final.
    let fan = VisitorId::random();
    let hold = store
        .hold_seats("ev1", &seats(&["A1"]), fan, 100, 6)
        .await
        .unwrap();
    let store2 = store.clone();
    assert!(
        eventually(Duration::from_secs(3), || {
            let store = store2.clone();
            async move { store.held_seats("ev1").await.unwrap().is_empty() }
        })
        .await
    );
    assert!(!store.release("ev1", &hold.hold_id, fan).await.unwrap());
    store.consume(&hold).await.unwrap();
    assert_eq!(
        store
            .hold_seats("ev1", &seats(&["A1"]), VisitorId::random(), LONG, 6)
            .await,
        Err(HoldError::SeatTaken(seats(&["A1"])))
    );
}

pub async fn unknown_events_and_holds_answer_plainly(store: Store) {
    let fan = VisitorId::random();
    assert_eq!(store.get("never", "0123.never").await.unwrap(), None);
    assert_eq!(
        store
            .get("never", "0123456789abcdef0123456789abcdef.never")
            .await
            .unwrap(),
        None
    );
    assert!(!store
        .release("never", "0123456789abcdef0123456789abcdef.never", fan)
        .await
        .unwrap());
    assert!(store.held_seats("never").await.unwrap().is_empty());
    assert!(matches!(
        store.available("never").await,
        Err(HoldError::Invalid(_))
    ));
    store
        .mark_booked("never", &[])
        .await
        .expect("nothing to mark");
    for bad in ["", "a b", "x{y}", &"e".repeat(65)] {
        assert!(
            matches!(
                store.hold_seats(bad, &seats(&["A1"]), fan, LONG, 6).await,
                Err(HoldError::Invalid(_))
            ),
            "event `{bad}`"
        );
        assert!(matches!(
            store.held_seats(bad).await,
            Err(HoldError::Invalid(_))
        ));
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

pub async fn general_admission_counts_against_the_visitor_cap(store: Store) {
    store.init_capacity("ga3", 100).await.unwrap();
    let fan = VisitorId::random();
    assert_eq!(
        store.hold_quantity("ga3", 7, fan, LONG, 6).await,
        Err(HoldError::TooManySeats { limit: 6 })
    );
    store.hold_quantity("ga3", 4, fan, LONG, 6).await.unwrap();
    assert_eq!(
        store.hold_quantity("ga3", 3, fan, LONG, 6).await,
        Err(HoldError::TooManySeats { limit: 6 })
    );
    store.hold_quantity("ga3", 2, fan, LONG, 6).await.unwrap();
    assert_eq!(store.available("ga3").await.unwrap(), 94);
    assert!(matches!(
        store.hold_quantity("ga3", 0, fan, LONG, 6).await,
        Err(HoldError::Invalid(_))
    ));
}

/// The acceptance race: 2,000 visitors at once (each a different visitor), each
/// after one random seat of 50 → exactly 50 holds, one per seat.
pub async fn a_2000_way_race_for_50_seats_gives_exactly_50_holds(store: Store) {
    let holds = race_2000_for_50_seats(&store, "race", 0.0).await;
    assert_eq!(holds, 50, "exactly 50 holds");
}

/// The same race where 40% of the visitors want 2-3 random seats at once: all-or-nothing
/// under contention, every seat held by exactly one hold.
pub async fn a_2000_way_race_with_small_sets_holds_every_seat_once(store: Store) {
    let holds = race_2000_for_50_seats(&store, "race-sets", 0.4).await;
    assert!((17..=50).contains(&holds), "{holds} holds");
}

/// 2,000 concurrent attempts on seats S0..S49 of `event`, a share `sets` of them for 2-3
/// seats; every seat is also asked for alone at least once, so all 50 end up held. Checks
/// that no seat is held twice, every refusal names seats held at the end, and the store
/// agrees; returns the number of holds granted.
async fn race_2000_for_50_seats(store: &Store, event: &'static str, sets: f64) -> usize {
    use rand::{seq::SliceRandom, Rng, SeedableRng};
    let seed: u64 = rand::random();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let all: Vec<String> = (0..50).map(|i| format!("S{i}")).collect();
    let requests: Vec<Vec<String>> = (0..2000)
        .map(|i| {
            if i < 50 {
                vec![all[i].clone()]
            } else if rng.gen_bool(sets) {
                let size = rng.gen_range(2..=3);
                all.choose_multiple(&mut rng, size).cloned().collect()
            } else {
                vec![all[rng.gen_range(0..50)].clone()]
            }
        })
        .collect();
    let mut attempts = Vec::new();
    for wanted in requests {
        let store = store.clone();
        attempts.push(tokio::spawn(async move {
            let result = store
                .hold_seats(event, &wanted, VisitorId::random(), LONG, 6)
                .await;
            (wanted, result)
        }));
    }
    let mut owner: HashMap<String, String> = HashMap::new();
    let mut holds = Vec::new();
    let mut refusals = Vec::new();
    for attempt in attempts {
        match attempt.await.unwrap() {
            (wanted, Ok(hold)) => {
                let mut sorted = wanted.clone();
                sorted.sort();
                assert_eq!(hold.seats, sorted, "seed {seed}");
                for seat in &hold.seats {
                    let previous = owner.insert(seat.clone(), hold.hold_id.clone());
                    assert!(previous.is_none(), "seed {seed}: seat {seat} held twice");
                }
                holds.push(hold);
            }
            (wanted, Err(HoldError::SeatTaken(taken))) => refusals.push((wanted, taken)),
            (_, Err(other)) => panic!("seed {seed}: unexpected {other:?}"),
        }
    }
    assert_eq!(owner.len(), 50, "seed {seed}: every seat held");
    assert_eq!(holds.len() + refusals.len(), 2000);
    // Nothing was released during the race, so a seat named taken is held at the end.
    for (wanted, taken) in &refusals {
        assert!(!taken.is_empty(), "seed {seed}: a refusal names its seats");
        for seat in taken {
            assert!(
                wanted.contains(seat) && owner.contains_key(seat),
                "seed {seed}: {seat}"
            );
        }
    }
    for hold in &holds {
        assert_eq!(
            store.get(event, &hold.hold_id).await.unwrap().as_ref(),
            Some(hold),
            "seed {seed}"
        );
    }
    let held: HashSet<String> = store.held_seats(event).await.unwrap().into_iter().collect();
    assert_eq!(
        held,
        all.iter().cloned().collect::<HashSet<_>>(),
        "seed {seed}"
    );
    holds.len()
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

/// A cancelled booking's places, once no waitlisted fan takes them, can be held again:
/// booked seats stop being booked, consumed GA places come back (never below zero).
pub async fn returned_places_are_on_sale_again(store: Store) {
    let fan = VisitorId::random();
    let hold = store
        .hold_seats("rs1", &seats(&["A1", "A2"]), fan, LONG, 6)
        .await
        .unwrap();
    store.consume(&hold).await.unwrap();
    store
        .return_to_sale("rs1", &seats(&["A1"]), 1)
        .await
        .unwrap();
    let other = VisitorId::random();
    assert_eq!(
        store
            .hold_seats("rs1", &seats(&["A1", "A2"]), other, LONG, 6)
            .await,
        Err(HoldError::SeatTaken(seats(&["A2"]))),
        "A2 is still booked"
    );
    let again = store
        .hold_seats("rs1", &seats(&["A1"]), other, LONG, 6)
        .await
        .expect("A1 is on sale again");
    assert_eq!(again.seats, seats(&["A1"]));

    store.init_capacity("rs2", 3).await.unwrap();
    let ga = store.hold_quantity("rs2", 3, fan, LONG, 6).await.unwrap();
    store.consume(&ga).await.unwrap();
    assert_eq!(store.available("rs2").await.unwrap(), 0);
    store.return_to_sale("rs2", &[], 2).await.unwrap();
    assert_eq!(store.available("rs2").await.unwrap(), 2);
    store.return_to_sale("rs2", &[], 10).await.unwrap();
    assert_eq!(store.available("rs2").await.unwrap(), 3, "never below zero");
}
