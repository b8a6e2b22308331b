//! The hold-store suite on `MemoryHolds` (single node, the embedded default).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod holds_conformance;

use std::sync::Arc;

use anteroom_admission::VisitorId;
use anteroom_booking::holds::{HoldError, HoldStore, MemoryHolds};
use anteroom_queue::ManualClock;
use holds_conformance::seats;

struct Memory(holds_conformance::Store);

impl Memory {
    async fn start() -> Memory {
        Memory(Arc::new(MemoryHolds::new()))
    }

    fn store(&self) -> holds_conformance::Store {
        self.0.clone()
    }
}

hold_store_suite!(Memory;
    a_hold_is_found_again_and_shows_in_the_map,
    multi_seat_holds_are_all_or_nothing,
    seats_are_deduplicated_and_validated,
    unknown_events_and_holds_answer_plainly,
    the_per_visitor_cap_counts_live_holds,
    the_cap_outlives_a_shorter_hold_of_the_same_visitor,
    expiry_frees_the_seat_and_the_cap_without_any_cleanup,
    only_the_holder_releases,
    fencing_tokens_only_grow,
    consumed_holds_make_seats_booked_for_good,
    consume_after_expiry_still_books,
    general_admission_never_goes_below_zero,
    general_admission_counts_against_the_visitor_cap,
    general_admission_places_come_back_on_expiry_but_not_after_consume,
    a_2000_way_race_for_50_seats_gives_exactly_50_holds,
    a_2000_way_race_with_small_sets_holds_every_seat_once,
    overlapping_multi_seat_races_never_share_a_seat,
    returned_places_are_on_sale_again,
);

/// With a manual clock, expiry is exact to the millisecond: live until `expires_at_ms`,
/// gone (seat, cap and GA places back) at it — what Redis PX does, without waiting.
#[tokio::test]
async fn a_manual_clock_expires_holds_exactly_at_their_deadline() {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let store = MemoryHolds::with_clock(clock.clone());
    let fan = VisitorId::random();
    let hold = store
        .hold_seats("ev", &seats(&["A1", "A2"]), fan, 1_000, 2)
        .await
        .unwrap();
    assert_eq!(hold.expires_at_ms, 1_001_000);
    assert!(
        hold.fencing_token >= 1_000_000 * 1000,
        "floored by the clock in µs"
    );
    store.init_capacity("ga", 5).await.unwrap();
    store.hold_quantity("ga", 5, fan, 1_000, 6).await.unwrap();

    clock.advance(999);
    assert_eq!(
        store.get("ev", &hold.hold_id).await.unwrap(),
        Some(hold.clone())
    );
    assert_eq!(
        store.hold_seats("ev", &seats(&["A3"]), fan, 1_000, 2).await,
        Err(HoldError::TooManySeats { limit: 2 })
    );
    assert_eq!(store.available("ga").await.unwrap(), 0);

    clock.advance(1);
    assert_eq!(store.get("ev", &hold.hold_id).await.unwrap(), None);
    assert!(store.held_seats("ev").await.unwrap().is_empty());
    assert_eq!(store.available("ga").await.unwrap(), 5);
    let again = store
        .hold_seats("ev", &seats(&["A1", "A3"]), fan, 1_000, 2)
        .await
        .expect("seats and cap free again");
    assert!(again.fencing_token > hold.fencing_token);
}

/// The fencing floor: a clock that jumps ahead lifts the token to the clock in µs.
#[tokio::test]
async fn fencing_tokens_follow_the_clock_when_it_is_ahead() {
    let clock = Arc::new(ManualClock::new(5_000));
    let store = MemoryHolds::with_clock(clock.clone());
    let first = store
        .hold_seats("ev", &seats(&["A1"]), VisitorId::random(), 60_000, 6)
        .await
        .unwrap();
    let second = store
        .hold_seats("ev", &seats(&["A2"]), VisitorId::random(), 60_000, 6)
        .await
        .unwrap();
    assert_eq!(first.fencing_token, 5_000_000);
    assert_eq!(second.fencing_token, 5_000_001, "same instant: +1");
    clock.advance(10);
    let third = store
        .hold_seats("ev", &seats(&["A3"]), VisitorId::random(), 60_000, 6)
        .await
        .unwrap();
    assert_eq!(third.fencing_token, 5_010_000);
}
