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

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anteroom_booking::holds::RedisHolds;
use anteroom_queue::RedisOptions;
use anteroom_testkit::{free_port, unique_temp_dir};
use fred::prelude::{Builder, ClientLike, Config, LuaInterface};
use fred::types::Value;

/// A cluster-enabled redis-server owning all 16384 slots; killed by pid on drop.
struct ClusterNode {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for ClusterNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One inline command, the reply's first bytes.
fn command(port: u16, line: &str) -> Result<String, std::io::Error> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(format!("{line}\r\n").as_bytes())?;
    let mut reply = vec![0u8; 4096];
    let n = stream.read(&mut reply)?;
    Ok(String::from_utf8_lossy(&reply[..n]).into_owned())
}

impl ClusterNode {
    fn start() -> ClusterNode {
        let dir = unique_temp_dir("anteroom-redis-cluster");
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install redis-server)");
        let node = ClusterNode { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut slots_added = false;
        loop {
            if !slots_added {
                slots_added = command(port, "CLUSTER ADDSLOTSRANGE 0 16383")
                    .map(|reply| reply.starts_with("+OK"))
                    .unwrap_or(false);
            } else if command(port, "CLUSTER INFO")
                .map(|info| info.contains("cluster_state:ok"))
                .unwrap_or(false)
            {
                return node;
            }
            assert!(Instant::now() < deadline, "one-node cluster not ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

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

hold_store_suite!(Cluster;
    a_hold_is_found_again_and_shows_in_the_map,
    multi_seat_holds_are_all_or_nothing,
    the_per_visitor_cap_counts_live_holds,
    expiry_frees_the_seat_and_the_cap_without_any_cleanup,
    only_the_holder_releases,
    consumed_holds_make_seats_booked_for_good,
    consume_after_expiry_still_books,
    general_admission_counts_against_the_visitor_cap,
    general_admission_places_come_back_on_expiry_but_not_after_consume,
);

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
