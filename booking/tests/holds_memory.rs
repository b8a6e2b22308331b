//! The hold-store suite on `MemoryHolds` (single node, the embedded default).

mod holds_conformance;

use std::sync::Arc;

use anteroom_booking::holds::MemoryHolds;

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
    the_per_visitor_cap_counts_live_holds,
    expiry_frees_the_seat_and_the_cap_without_any_cleanup,
    only_the_holder_releases,
    fencing_tokens_only_grow,
    consumed_holds_make_seats_booked_for_good,
    general_admission_never_goes_below_zero,
    general_admission_places_come_back_on_expiry_but_not_after_consume,
    a_2000_way_race_for_50_seats_gives_exactly_50_holds,
    overlapping_multi_seat_races_never_share_a_seat,
);
