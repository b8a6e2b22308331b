//! The booking service's holds share the queue's Redis connect code, so `rediss://` is TLS
//! for them too: a hold taken on a real TLS-only redis-server trusted through `tls_ca`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use anteroom_admission::VisitorId;
use anteroom_booking::holds::{HoldStore, RedisHolds};
use anteroom_queue::RedisOptions;
use anteroom_testkit::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_is_taken_over_rediss_with_a_custom_ca() {
    let server = tokio::task::spawn_blocking(RedisServer::start_tls)
        .await
        .expect("start redis-server with TLS");
    let options = RedisOptions {
        tls_ca: server.ca_path(),
        ..RedisOptions::default()
    };
    let holds = RedisHolds::connect(&server.tls_url(), options)
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", server.tls_url()));
    let seat = vec!["A1".to_string()];
    let hold = holds
        .hold_seats("tls", &seat, VisitorId([3; 16]), 60_000, 4)
        .await
        .expect("hold over TLS");
    assert_eq!(hold.seats, seat);
    assert_eq!(holds.held_seats("tls").await.expect("held seats"), seat);
}
