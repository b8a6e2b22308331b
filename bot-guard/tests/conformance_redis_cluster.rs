#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The conformance suite on a one-node Redis Cluster through a slot-routing client
//! (`redis-cluster://`): the node refuses any command whose keys span slots (CROSSSLOT), so
//! the suite passing here shows every key of a room shares the `bg:{ROOM}:` hash tag and the
//! check script declares every key it touches.

#[macro_use]
mod conformance;

use anteroom_testkit::RedisClusterNode;
use conformance::Env;
use fred::prelude::{Builder, ClientLike, Config, LuaInterface};
use fred::types::Value;

async fn cluster() -> Env {
    let node = tokio::task::spawn_blocking(RedisClusterNode::start)
        .await
        .expect("start the cluster node");
    conformance::redis_env(&node.cluster_url(), Box::new(node)).await
}

conformance_suite!(cluster);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_refuses_keys_across_slots() {
    let node = tokio::task::spawn_blocking(RedisClusterNode::start)
        .await
        .unwrap();
    let client = Builder::from_config(Config::from_url(&node.url()).unwrap())
        .build()
        .unwrap();
    client.init().await.unwrap();
    let error = client
        .eval::<Value, _, _, _>(
            "return 1",
            vec!["bg:{a}:v:1:x", "bg:{b}:v:1:x"],
            Vec::<String>::new(),
        )
        .await
        .unwrap_err();
    assert!(error.to_string().contains("CROSSSLOT"), "{error}");
    client.quit().await.unwrap();
}
