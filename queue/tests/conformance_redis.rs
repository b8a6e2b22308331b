#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The conformance suite against `RedisStore` on a real redis-server (one per test, started
//! by the testkit), with two stores standing for two gateway instances.

#[macro_use]
mod conformance;

use std::sync::Arc;

use anteroom_queue::{RedisOptions, RedisStore};
use anteroom_testkit::RedisServer;
use conformance::Env;

async fn redis() -> Env {
    let server = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .expect("start redis-server");
    let server = Arc::new(server);
    let flushed = server.clone();
    conformance::redis_env(
        &server.url(),
        Box::new(server.clone()),
        Box::new(move || flushed.flushall()),
    )
    .await
}

conformance_suite!(redis);

// Redis-only behaviour: what the gateway sees while Redis goes away and comes back.

use std::time::{Duration, Instant};

use anteroom_admission::VisitorId;
use anteroom_config::RoomMode;
use anteroom_queue::{Placement, QueueStore, StoreError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_is_survived() {
    let mut server = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .expect("redis");
    let options = RedisOptions {
        command_timeout: Duration::from_millis(500),
        ..RedisOptions::default()
    };
    let store = RedisStore::connect(&server.url(), options)
        .await
        .expect("connect");
    let room_settings = conformance::settings(RoomMode::QueueAll, 10.0, 10);
    store
        .init_room("restart", &room_settings)
        .await
        .expect("init");
    assert!(matches!(
        store
            .join("restart", VisitorId([1; 16]))
            .await
            .map(|j| j.placement),
        Ok(Placement::Waiting { .. })
    ));

    // Down: calls fail fast with Unavailable instead of hanging.
    server.stop();
    let started = Instant::now();
    let down = store.join("restart", VisitorId([2; 16])).await;
    assert!(matches!(down, Err(StoreError::Unavailable(_))), "{down:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );

    // Back, empty (no persistence) and without its script cache: the client reconnects,
    // reloads the scripts, and the room can be seeded again.
    let server = tokio::task::spawn_blocking(move || {
        server.restart();
        server
    })
    .await
    .expect("restart");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.init_room("restart", &room_settings).await {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("store did not recover after a Redis restart: {e}"),
        }
    }
    assert_eq!(
        store
            .join("restart", VisitorId([2; 16]))
            .await
            .expect("join after restart")
            .placement,
        Placement::Waiting {
            position: 1,
            waiting: 1,
            ticket: 1
        }
    );
    drop(server);
}

#[tokio::test]
async fn connect_fails_clearly_when_redis_is_absent() {
    let port = anteroom_testkit::free_port();
    let options = RedisOptions {
        connect_timeout: Duration::from_millis(500),
        ..RedisOptions::default()
    };
    let result = RedisStore::connect(&format!("redis://127.0.0.1:{port}"), options).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{:?}",
        result.err()
    );
    let bad = RedisStore::connect("http://nope", RedisOptions::default()).await;
    assert!(
        matches!(bad, Err(StoreError::Invalid(_))),
        "{:?}",
        bad.err()
    );
}
