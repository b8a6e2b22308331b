//! Test harness shared by every crate's tests: real servers (redis-server, PostgreSQL)
//! started on free loopback ports, each behind an RAII guard that always stops it, and the
//! timing helpers of the pure benches (`microbench`).
//!
//! Only tests use this crate, and a harness that cannot start its server must stop the test
//! with a message saying why (redis-server not installed, initdb refused to run...): that is
//! what `panic!` and `expect` do here, by design, on every constructor. Hence the allow;
//! indexing stays denied (a harness bug should not look like a server failure).
#![allow(clippy::panic, clippy::expect_used)]

pub mod microbench;
mod postgres;
mod redis;
mod redis_benchmark;
mod redis_cluster;
mod tls_certs;

pub use postgres::PostgresServer;
pub use redis::RedisServer;
pub use redis_benchmark::redis_benchmark_rps;
pub use redis_cluster::{RedisCluster, RedisClusterNode};
pub use tls_certs::TestCertificates;

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// A benchmark knob from the environment: `name` parsed as a number, else `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A loopback port that was free a moment ago (bind to port 0, read what the OS chose),
/// and never one this process handed out before: the OS may offer a just-released port again,
/// and a caller asking for several at once (a gateway's three listeners) would get it twice.
/// Another process may take it before the caller binds it; servers started here retry.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut port = 0;
    // Repeats stay bound meanwhile, so the OS offers another port each time. Bounded: after
    // this many repeats the port is taken anyway.
    let mut held = Vec::new();
    for _ in 0..64 {
        let listener =
            TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port");
        port = listener
            .local_addr()
            .expect("local address of a bound listener")
            .port();
        if !handed_out.contains(&port) {
            break;
        }
        held.push(listener);
    }
    handed_out.push(port);
    port
}

/// A [`unique_temp_dir`] removed (with everything in it) when the guard is dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        TempDir(unique_temp_dir(prefix))
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh, empty directory under the system temp dir, unique within and across processes.
pub fn unique_temp_dir(prefix: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("create temp dir {}: {e}", dir.display()));
    dir
}
