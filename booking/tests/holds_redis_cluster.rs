//! The hold scripts on Redis Cluster: a one-node cluster (every slot on one redis-server
//! started here) refuses a script whose declared keys span slots (CROSSSLOT), so the suite
//! passing here shows every script declares its keys under one hash tag; the scripts'
//! own guard refuses any key not declared.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod holds_conformance;

use std::sync::Arc;

use anteroom_booking::holds::RedisHolds;
use anteroom_queue::RedisOptions;
use anteroom_testkit::RedisClusterNode as ClusterNode;
use fred::prelude::{Builder, ClientLike, Config, LuaInterface};
use fred::types::Value;

struct Cluster {
    _node: ClusterNode,
    store: holds_conformance::Store,
}

impl Cluster {
    async fn start() -> Cluster {
        let node = ClusterNode::start();
        let store = RedisHolds::connect(&node.url(), RedisOptions::default())
            .await
            .expect("connect to the cluster node");
        Cluster {
            _node: node,
            store: Arc::new(store),
        }
    }

    fn store(&self) -> holds_conformance::Store {
        self.store.clone()
    }
}

/// The whole suite on a fixture.
macro_rules! every_hold_test {
    ($fixture:path) => {
        hold_store_suite!($fixture;
            a_hold_is_found_again_and_shows_in_the_map,
            multi_seat_holds_are_all_or_nothing,
            the_per_visitor_cap_counts_live_holds,
            expiry_frees_the_seat_and_the_cap_without_any_cleanup,
            only_the_holder_releases,
            consumed_holds_make_seats_booked_for_good,
            returned_places_are_on_sale_again,
            consume_after_expiry_still_books,
            general_admission_counts_against_the_visitor_cap,
            general_admission_places_come_back_on_expiry_but_not_after_consume,
        );
    };
}

every_hold_test!(Cluster);

/// The same suite on three masters (`anteroom_testkit::RedisCluster`) through a slot-routing
/// client: events land on different shards, and every hold script's keys share its event's
/// hash tag.
mod three_masters {
    use super::*;
    use anteroom_testkit::RedisCluster;

    struct ThreeMasters {
        _cluster: RedisCluster,
        store: holds_conformance::Store,
    }

    impl ThreeMasters {
        async fn start() -> ThreeMasters {
            let cluster = tokio::task::spawn_blocking(RedisCluster::start)
                .await
                .expect("start the cluster");
            let store = RedisHolds::connect(&cluster.cluster_url(), RedisOptions::default())
                .await
                .expect("connect to the cluster");
            ThreeMasters {
                _cluster: cluster,
                store: Arc::new(store),
            }
        }

        fn store(&self) -> holds_conformance::Store {
            self.store.clone()
        }
    }

    every_hold_test!(ThreeMasters);
}

async fn client(url: &str) -> fred::prelude::Client {
    let client = Builder::from_config(Config::from_url(url).unwrap())
        .build()
        .unwrap();
    client.init().await.unwrap();
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_is_a_real_cluster_and_the_guard_refuses_undeclared_keys() {
    let node = ClusterNode::start();
    let client = client(&node.url()).await;
    // The fixture enforces what Redis Cluster enforces: declared keys in one slot.
    let error = client
        .eval::<Value, _, _, _>(
            "return 1",
            vec!["bk:{a}:x", "bk:{b}:x"],
            Vec::<String>::new(),
        )
        .await
        .unwrap_err();
    assert!(error.to_string().contains("CROSSSLOT"), "{error}");
    // The scripts' prelude refuses a key that is not declared, even one in the right slot.
    let keys: Vec<String> = [
        "fence", "live", "booked", "ga", "qty", "consumed", "seats", "hseats",
    ]
    .iter()
    .map(|name| format!("bk:{{ev}}:{name}"))
    .collect();
    let script = format!(
        "{}\nreturn kcall('GET', 'bk:{{ev}}:sneaky')",
        include_str!("../src/holds/redis/lua/common.lua")
    );
    let error = client
        .eval::<Value, _, _, _>(script.as_str(), keys.clone(), Vec::<String>::new())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("undeclared key"), "{error}");
    let script = format!(
        "{}\nreturn kcall('GET', KEYS[1])",
        include_str!("../src/holds/redis/lua/common.lua")
    );
    client
        .eval::<Value, _, _, _>(script.as_str(), keys, Vec::<String>::new())
        .await
        .expect("a declared key passes");
    client.quit().await.unwrap();
}
