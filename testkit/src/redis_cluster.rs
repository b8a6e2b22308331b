//! A one-node Redis Cluster: a cluster-enabled redis-server owning all 16384 slots. It
//! refuses a script or command whose keys span slots (CROSSSLOT), as a real cluster does, so
//! a suite passing on it shows every operation keeps its keys under one hash tag.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, unique_temp_dir};

/// The cluster node, killed (by pid) and its directory removed on drop.
pub struct RedisClusterNode {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for RedisClusterNode {
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
    reply.truncate(n);
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// A free port for a cluster node: Redis Cluster also listens on port + 10000 (the cluster
/// bus), so that one must be free too, and exist — a port above 55535 has no bus port and
/// the node would exit at once.
fn cluster_port() -> u16 {
    loop {
        let port = free_port();
        let bus_free = port
            .checked_add(10_000)
            .is_some_and(|bus| std::net::TcpListener::bind(("127.0.0.1", bus)).is_ok());
        if bus_free {
            return port;
        }
    }
}

/// A cluster-enabled redis-server on `port`, its files in `dir`.
fn spawn_node(port: u16, dir: &Path) -> Child {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .args([
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            // A lone node never learns its own address (no CLUSTER MEET) and would
            // announce an empty one to slot-routing clients.
            "--cluster-announce-ip",
            "127.0.0.1",
        ])
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server (apt-get install redis-server)")
}

fn flushall(port: u16) {
    let reply = command(port, "FLUSHALL").unwrap_or_else(|e| panic!("FLUSHALL on {port}: {e}"));
    assert!(reply.starts_with("+OK"), "FLUSHALL answered {reply:?}");
}

fn cluster_ok(port: u16) -> bool {
    command(port, "CLUSTER INFO")
        .map(|info| info.contains("cluster_state:ok"))
        .unwrap_or(false)
}

impl RedisClusterNode {
    /// Start it on a free port, assign every slot and wait until the cluster state is ok.
    pub fn start() -> RedisClusterNode {
        let dir = unique_temp_dir("anteroom-redis-cluster");
        let port = cluster_port();
        let child = spawn_node(port, &dir);
        let node = RedisClusterNode { child, port, dir };
        // Generous: a suite starts one node per test, all at once, on a loaded machine.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut slots_added = false;
        loop {
            if !slots_added {
                slots_added = command(port, "CLUSTER ADDSLOTSRANGE 0 16383")
                    .map(|reply| reply.starts_with("+OK"))
                    .unwrap_or(false);
            } else if cluster_ok(port) {
                return node;
            }
            assert!(Instant::now() < deadline, "one-node cluster not ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT` (the node holds every slot: a plain client reaches them all).
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `redis-cluster://127.0.0.1:PORT`, for a client that routes by slot.
    pub fn cluster_url(&self) -> String {
        format!("redis-cluster://127.0.0.1:{}", self.port)
    }
}

impl RedisClusterNode {
    /// Every key gone (a Redis restart without persistence).
    pub fn flushall(&self) {
        flushall(self.port);
    }
}

/// A three-master Redis Cluster (`redis-cli --cluster create`, no replicas): the slots are
/// split over three redis-servers, so rooms land on different nodes and a slot-routing
/// client must follow MOVED to reach them. Every node is killed (by pid) on drop.
pub struct RedisCluster {
    nodes: Vec<(Child, u16)>,
    dir: PathBuf,
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for (child, _) in &mut self.nodes {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl RedisCluster {
    /// Start three masters on free ports, join them and wait until every node says ok.
    pub fn start() -> RedisCluster {
        let dir = unique_temp_dir("anteroom-redis-cluster3");
        let mut cluster = RedisCluster {
            nodes: Vec::new(),
            dir,
        };
        for index in 0..3 {
            let node_dir = cluster.dir.join(format!("node{index}"));
            std::fs::create_dir_all(&node_dir).expect("node directory");
            let port = cluster_port();
            cluster.nodes.push((spawn_node(port, &node_dir), port));
        }
        // Generous, as for the one-node cluster: suites start several at once.
        let deadline = Instant::now() + Duration::from_secs(30);
        for (index, (child, port)) in cluster.nodes.iter_mut().enumerate() {
            while !command(*port, "PING").is_ok_and(|reply| reply.starts_with("+PONG")) {
                assert!(Instant::now() < deadline, "redis node {port} not answering");
                // Another process took the port (or its bus port) first: a new pair.
                if child.try_wait().is_ok_and(|status| status.is_some()) {
                    *port = cluster_port();
                    *child = spawn_node(*port, &cluster.dir.join(format!("node{index}")));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let addresses: Vec<String> = cluster
            .ports()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli (apt-get install redis-tools)");
        assert!(
            created.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        for port in cluster.ports() {
            while !cluster_ok(port) {
                assert!(Instant::now() < deadline, "cluster not ok on node {port}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        cluster
    }

    fn ports(&self) -> impl Iterator<Item = u16> + '_ {
        self.nodes.iter().map(|(_, port)| *port)
    }

    /// `redis-cluster://127.0.0.1:PORT` of the first node; the client discovers the others.
    pub fn cluster_url(&self) -> String {
        let port = self.ports().next().unwrap_or_default();
        format!("redis-cluster://127.0.0.1:{port}")
    }

    /// Every key on every master gone (a cluster restart without persistence).
    pub fn flushall(&self) {
        for port in self.ports() {
            flushall(port);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ports_leave_room_for_the_bus_port() {
        for _ in 0..200 {
            assert!(cluster_port() <= 55_535);
        }
    }

    #[test]
    fn three_masters_share_the_slots_and_flush_together() {
        let cluster = RedisCluster::start();
        let ports: Vec<u16> = cluster.ports().collect();
        assert_eq!(ports.len(), 3);
        for port in &ports {
            let info = command(*port, "CLUSTER INFO").unwrap();
            assert!(info.contains("cluster_known_nodes:3"), "{info}");
            assert!(info.contains("cluster_slots_assigned:16384"), "{info}");
        }
        cluster.flushall();
        drop(cluster);
        for port in ports {
            assert!(command(port, "PING").is_err(), "node {port} still up");
        }
    }
}
