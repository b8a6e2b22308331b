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

use anteroom_testkit::RedisServer;
use conformance::Env;

async fn redis() -> Env {
    let server = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .expect("start redis-server");
    conformance::redis_env(&server.url(), Box::new(server)).await
}

conformance_suite!(redis);
