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
    let store = RedisStore::connect(&server.url(), RedisOptions::default())
        .await
        .expect("connect");
    let other = RedisStore::connect(&server.url(), RedisOptions::default())
        .await
        .expect("connect second instance");
    Env {
        store: Arc::new(store),
        other: Arc::new(other),
        _guard: Box::new(server),
    }
}

conformance_suite!(redis);
