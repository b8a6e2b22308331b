//! `redis+unix://` is accepted by `anteroom check` (the config's `REDIS_SCHEMES`), so the store
//! must connect with it too: a real redis-server listening on a unix socket, and a place taken
//! through the socket is the same place seen over TCP.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use anteroom_admission::VisitorId;
use anteroom_config::{RoomMode, REDIS_SCHEMES};
use anteroom_queue::{
    Joined, Placement, QueueStore, RedisOptions, RedisStore, RoomSettings, StoreError,
};
use anteroom_testkit::RedisServer;

fn settings() -> RoomSettings {
    RoomSettings {
        mode: RoomMode::QueueAll,
        admit_per_second: 1.0,
        max_active: 10,
        session_seconds: 600,
        abandon_after_seconds: 120,
        paused: false,
        sold_out: false,
        message: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_connects_over_a_unix_socket() {
    let server = tokio::task::spawn_blocking(RedisServer::start_with_unix_socket)
        .await
        .expect("start redis-server");
    let url = server.unix_url().expect("listening on a unix socket");
    assert!(url.starts_with("redis+unix:///"), "{url}");
    let over_socket = RedisStore::connect(&url, RedisOptions::default())
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    over_socket
        .init_room("unix", &settings())
        .await
        .expect("init over the socket");
    let visitor = VisitorId([9; 16]);
    assert!(matches!(
        over_socket.join("unix", visitor).await,
        Ok(Joined {
            placement: Placement::Waiting { .. },
            new_place: true
        })
    ));

    // The same server over TCP sees the place taken through the socket.
    let over_tcp = RedisStore::connect(&server.url(), RedisOptions::default())
        .await
        .expect("connect over TCP");
    let stats = over_tcp.stats("unix").await.expect("stats");
    assert_eq!(stats.waiting, 1);
    assert!(matches!(
        over_tcp.status("unix", visitor).await,
        Ok(Placement::Waiting { .. })
    ));
}

#[tokio::test]
async fn every_scheme_the_config_accepts_is_one_the_store_knows() {
    // A scheme the config accepts but the store refused would pass `anteroom check` and
    // then fail `anteroom serve`: the refusal must be about reaching the server, never the
    // scheme.
    for scheme in REDIS_SCHEMES {
        let url = match scheme {
            "redis+unix://" => format!("{scheme}/nonexistent/anteroom-test.sock"),
            "redis-sentinel://" => format!("{scheme}127.0.0.1:1/0?sentinelServiceName=main"),
            _ => format!("{scheme}127.0.0.1:1"),
        };
        let options = RedisOptions {
            connect_timeout: std::time::Duration::from_millis(200),
            command_timeout: std::time::Duration::from_millis(200),
            ..RedisOptions::default()
        };
        match RedisStore::connect(&url, options).await {
            Ok(_) => panic!("{url}: nothing listens there"),
            Err(StoreError::Unavailable(_)) => {}
            Err(other) => panic!("{url}: refused before connecting: {other}"),
        }
    }
}
