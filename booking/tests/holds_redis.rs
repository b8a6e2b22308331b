//! The hold-store suite on `RedisHolds` against a real redis-server, plus what only Redis
//! can do to you: a flush and a restart mid-run.

mod holds_conformance;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anteroom_admission::VisitorId;
use anteroom_booking::holds::{HoldError, HoldStore, RedisHolds};
use anteroom_queue::RedisOptions;
use anteroom_testkit::RedisServer;
use holds_conformance::seats;

struct Redis {
    _server: RedisServer,
    store: holds_conformance::Store,
}

fn options() -> RedisOptions {
    RedisOptions {
        command_timeout: Duration::from_millis(500),
        reconnect_max_delay: Duration::from_millis(200),
        ..RedisOptions::default()
    }
}

impl Redis {
    async fn start() -> Redis {
        let server = RedisServer::start();
        let store = RedisHolds::connect(&server.url(), options())
            .await
            .expect("connect to the test redis");
        Redis {
            _server: server,
            store: Arc::new(store),
        }
    }

    fn store(&self) -> holds_conformance::Store {
        self.store.clone()
    }
}

hold_store_suite!(Redis;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_loses_holds_but_fencing_tokens_keep_growing() {
    let server = RedisServer::start();
    let store = RedisHolds::connect(&server.url(), options()).await.unwrap();
    let before = store
        .hold_seats("ev", &seats(&["A1"]), VisitorId::random(), 60_000, 6)
        .await
        .unwrap();
    server.flushall();
    assert_eq!(store.get("ev", &before.hold_id).await.unwrap(), None);
    let after = store
        .hold_seats("ev", &seats(&["A1"]), VisitorId::random(), 60_000, 6)
        .await
        .expect("scripts reloaded after the flush");
    assert!(
        after.fencing_token > before.fencing_token,
        "a stale holder must never out-fence a newer one: {} <= {}",
        after.fencing_token,
        before.fencing_token
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_gives_unavailable_then_recovers() {
    let mut server = RedisServer::start();
    let store = RedisHolds::connect(&server.url(), options()).await.unwrap();
    server.stop();
    let fan = VisitorId::random();
    assert!(matches!(
        store
            .hold_seats("ev", &seats(&["A1"]), fan, 60_000, 6)
            .await,
        Err(HoldError::Unavailable(_))
    ));
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store
            .hold_seats("ev", &seats(&["A1"]), fan, 60_000, 6)
            .await
        {
            Ok(hold) => {
                assert_eq!(hold.seats, seats(&["A1"]));
                break;
            }
            Err(HoldError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(other) => panic!("did not recover: {other:?}"),
        }
    }
}
