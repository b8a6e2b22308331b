//! The hold-store suite on `RedisHolds` against a real redis-server, plus what only Redis
//! can do to you: a flush and a restart mid-run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod holds_conformance;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anteroom_admission::VisitorId;
use anteroom_booking::holds::{HoldError, HoldStore, RedisHolds};
use anteroom_queue::RedisOptions;
use anteroom_testkit::RedisServer;
use fred::prelude::{Builder, ClientLike, Config, LuaInterface};
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

/// Drop Redis' script cache too (FLUSHALL keeps it), as a restart without persistence does.
async fn script_flush(url: &str) {
    let client = Builder::from_config(Config::from_url(url).unwrap())
        .build()
        .unwrap();
    client.init().await.unwrap();
    client.script_flush(false).await.unwrap();
    client.quit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_mid_run_loses_holds_but_calls_and_fencing_tokens_carry_on() {
    let server = RedisServer::start();
    let store: Arc<RedisHolds> =
        Arc::new(RedisHolds::connect(&server.url(), options()).await.unwrap());
    let before = store
        .hold_seats("ev", &seats(&["A1"]), VisitorId::random(), 60_000, 6)
        .await
        .unwrap();
    // Load keeps running while the data and the script cache vanish.
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let (store, stop) = (store.clone(), stop.clone());
            tokio::spawn(async move {
                let mut i = 0u64;
                let mut last_fence = 0;
                while !stop.load(Ordering::Relaxed) {
                    let seat = format!("W{w}x{i}");
                    match store
                        .hold_seats("ev", &[seat], VisitorId::random(), 60_000, 6)
                        .await
                    {
                        Ok(hold) => {
                            assert!(hold.fencing_token > last_fence, "tokens only grow");
                            last_fence = hold.fencing_token;
                        }
                        Err(other) => panic!("call failed across the flush: {other:?}"),
                    }
                    i += 1;
                }
                i
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.flushall();
    script_flush(&server.url()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        assert!(worker.await.unwrap() > 0);
    }
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
async fn a_restart_gives_unavailable_quickly_then_recovers() {
    let mut server = RedisServer::start();
    let store = RedisHolds::connect(&server.url(), options()).await.unwrap();
    let before = store
        .hold_seats("ev", &seats(&["A9"]), VisitorId::random(), 60_000, 6)
        .await
        .unwrap();
    server.stop();
    let fan = VisitorId::random();
    let asked = Instant::now();
    assert!(matches!(
        store
            .hold_seats("ev", &seats(&["A1"]), fan, 60_000, 6)
            .await,
        Err(HoldError::Unavailable(_))
    ));
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "Unavailable took {:?} (command timeout 500 ms)",
        asked.elapsed()
    );
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store
            .hold_seats("ev", &seats(&["A1"]), fan, 60_000, 6)
            .await
        {
            Ok(hold) => {
                assert_eq!(hold.seats, seats(&["A1"]));
                assert!(
                    hold.fencing_token > before.fencing_token,
                    "tokens grow across the restart"
                );
                break;
            }
            Err(HoldError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(other) => panic!("did not recover: {other:?}"),
        }
    }
    // The restarted server lost the script cache: every other script reloads too.
    assert!(store
        .held_seats("ev")
        .await
        .unwrap()
        .contains(&"A1".to_string()));
}
