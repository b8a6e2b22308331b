//! `rediss://` must mean TLS: a real TLS-only redis-server with a throwaway CA. The store
//! connects and works when it trusts that CA, and fails (never falls back to plain text)
//! when it does not, or when asked for plain `redis://` on the TLS port.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

// Only its room settings; the suite itself runs in conformance_redis.rs.
#[allow(dead_code, unused_macros)]
mod conformance;

use std::time::Duration;

use anteroom_admission::VisitorId;
use anteroom_config::RoomMode;
use anteroom_queue::{
    Joined, Placement, QueueStore, RedisOptions, RedisStore, RoomSettings, StoreError,
};
use anteroom_testkit::RedisServer;

fn settings() -> RoomSettings {
    conformance::settings(RoomMode::QueueAll, 1.0, 10)
}

fn quick(tls_ca: Option<std::path::PathBuf>) -> RedisOptions {
    RedisOptions {
        connect_timeout: Duration::from_millis(1000),
        command_timeout: Duration::from_millis(1000),
        tls_ca,
        ..RedisOptions::default()
    }
}

async fn tls_server() -> RedisServer {
    tokio::task::spawn_blocking(RedisServer::start_tls)
        .await
        .expect("start redis-server with TLS")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_the_servers_ca_connects_and_joins() {
    let server = tls_server().await;
    let url = server.tls_url();
    let store = RedisStore::connect(&url, quick(server.ca_path()))
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    store
        .init_room("tls", &settings())
        .await
        .expect("init room");
    assert!(matches!(
        store.join("tls", VisitorId([7; 16])).await,
        Ok(Joined {
            placement: Placement::Waiting { .. },
            ..
        })
    ));
    assert_eq!(store.stats("tls").await.expect("stats").waiting, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_an_untrusted_ca_fails() {
    let server = tls_server().await;
    let other = tls_server().await;
    // The system roots do not know the throwaway CA either.
    for ca in [other.ca_path(), None] {
        match RedisStore::connect(&server.tls_url(), quick(ca.clone())).await {
            Ok(_) => panic!("connected with untrusted CA {ca:?}"),
            Err(StoreError::Unavailable(_)) => {}
            Err(e) => panic!("wrong error with CA {ca:?}: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_redis_to_the_tls_port_fails() {
    let server = tls_server().await;
    let url = format!("redis://127.0.0.1:{}", server.port());
    assert!(
        RedisStore::connect(&url, quick(None)).await.is_err(),
        "plain text to a TLS-only port must not pretend to work"
    );
}

#[tokio::test]
async fn a_ca_with_a_plain_url_or_a_bad_ca_file_is_refused_before_connecting() {
    let server = tls_server().await;
    let ca = server.ca_path();
    let plain = RedisStore::connect("redis://127.0.0.1:1", quick(ca)).await;
    assert!(matches!(plain, Err(StoreError::Invalid(ref e)) if e.contains("tls_ca")));
    let missing = std::path::PathBuf::from("/nonexistent/anteroom-ca.pem");
    let bad = RedisStore::connect(&server.tls_url(), quick(Some(missing))).await;
    assert!(matches!(bad, Err(StoreError::Invalid(ref e)) if e.contains("anteroom-ca.pem")));
}
