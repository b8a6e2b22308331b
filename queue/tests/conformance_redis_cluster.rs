#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The conformance suite against `RedisStore` on a three-master Redis Cluster started by the
//! testkit, through slot-routing clients (`redis-cluster://`), two stores standing for two
//! gateway instances. Rooms land on different masters; every script's keys must share the
//! room's `ar:{ROOM}:` hash tag or the cluster refuses them (CROSSSLOT).

#[macro_use]
mod conformance;

use std::sync::Arc;

use anteroom_testkit::RedisCluster;
use conformance::Env;

async fn cluster() -> Env {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .expect("start the cluster");
    let cluster = Arc::new(cluster);
    let flushed = cluster.clone();
    conformance::redis_env(
        &cluster.cluster_url(),
        Box::new(cluster.clone()),
        Box::new(move || flushed.flushall()),
    )
    .await
}

conformance_suite!(cluster);
