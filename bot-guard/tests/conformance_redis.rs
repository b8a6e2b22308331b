#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The conformance suite against `RedisGuardStore` on a real redis-server (one per test,
//! started by the testkit), with two stores (two pools) standing for two gateway instances.

#[macro_use]
mod conformance;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anteroom_bot_guard::RedisGuardStore;
use anteroom_queue::RedisOptions;
use anteroom_testkit::RedisServer;
use conformance::Env;

async fn redis() -> Env {
    let server = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .expect("start redis-server");
    let store = RedisGuardStore::connect(&server.url(), RedisOptions::default())
        .await
        .expect("connect");
    let other = RedisGuardStore::connect(&server.url(), RedisOptions::default())
        .await
        .expect("connect second instance");
    Env {
        store: Arc::new(store),
        other: Arc::new(other),
        _guard: Box::new(server),
        // Redis keeps its own time: let it pass for real.
        pass: Box::new(|d| Box::pin(tokio::time::sleep(d))),
        // Same host, so the system clock is Redis' clock.
        now_ms: Box::new(|| {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
            u64::try_from(now.as_millis()).unwrap()
        }),
    }
}

conformance_suite!(redis);
