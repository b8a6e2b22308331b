//! A one-node Redis Cluster: a cluster-enabled redis-server owning all 16384 slots. It
//! refuses a script or command whose keys span slots (CROSSSLOT), as a real cluster does, so
//! a suite passing on it shows every operation keeps its keys under one hash tag.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
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

impl RedisClusterNode {
    /// Start it on a free port, assign every slot and wait until the cluster state is ok.
    pub fn start() -> RedisClusterNode {
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
                // A lone node never learns its own address (no CLUSTER MEET) and would
                // announce an empty one to slot-routing clients.
                "--cluster-announce-ip",
                "127.0.0.1",
            ])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install redis-server)");
        let node = RedisClusterNode { child, port, dir };
        // Generous: a suite starts one node per test, all at once, on a loaded machine.
        let deadline = Instant::now() + Duration::from_secs(30);
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
