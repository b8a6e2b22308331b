#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Join throughput: `RedisStore::join` against `redis-benchmark` running the very same
//! EVALSHA on the same redis-server, in one run. Budget: the store reaches >= 0.7x of the
//! un-pipelined run (one round trip per join, as a gateway request makes). The pipelined
//! run (16 per round trip) is reported too: it is what Redis itself can do with the script,
//! the ceiling no per-request client reaches. Also reported: Redis memory per waiting fan
//! (`used_memory` after the joins minus before, over the joins) — the sizing figure of
//! docs/operations.md.
//!
//! cargo bench -p anteroom-queue --bench join
//! Environment: JOIN_BENCH_REQUESTS (default 100000), JOIN_BENCH_CLIENTS (default 64),
//! JOIN_BENCH_POOL (default 4).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anteroom_admission::VisitorId;
use anteroom_config::RoomMode;
use anteroom_queue::keys::RoomKeys;
use anteroom_queue::{QueueStore, RedisOptions, RedisStore, RoomSettings};
use anteroom_testkit::{env_u64, RedisServer};

fn queue_all() -> RoomSettings {
    RoomSettings {
        mode: RoomMode::QueueAll,
        admit_per_second: 50.0,
        max_active: 2000,
        session_seconds: 600,
        abandon_after_seconds: 120,
        paused: false,
        sold_out: false,
        message: None,
    }
}

fn visitor(n: u64) -> VisitorId {
    let mut bytes = [0u8; 16];
    bytes[8..].copy_from_slice(&n.to_be_bytes());
    VisitorId(bytes)
}

async fn store_joins(store: Arc<RedisStore>, requests: u64, clients: u64) -> f64 {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let store = store.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= requests {
                    break;
                }
                store.join("bench-store", visitor(n)).await.expect("join");
            }
        }));
    }
    for task in tasks {
        task.await.expect("join task");
    }
    requests as f64 / started.elapsed().as_secs_f64()
}

/// `redis-benchmark` running EVALSHA of the join script with a random visitor per request,
/// `pipeline` requests per round trip.
fn redis_benchmark(port: u16, sha: &str, requests: u64, clients: u64, pipeline: u32) -> f64 {
    let keys = RoomKeys::new("bench-redis");
    let mut command = vec![
        "EVALSHA".to_string(),
        sha.to_string(),
        keys.all().len().to_string(),
    ];
    command.extend(keys.all().iter().cloned());
    command.push("visitor:__rand_int__".to_string());
    anteroom_testkit::redis_benchmark_rps(port, requests, clients, pipeline, &command)
}

/// `used_memory` of the server on `port`, in bytes (`INFO memory`).
fn used_memory(port: u16) -> u64 {
    let output = std::process::Command::new("redis-cli")
        .args(["-p", &port.to_string(), "INFO", "memory"])
        .output()
        .expect("run redis-cli INFO memory");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .and_then(|value| value.trim().parse().ok())
        .expect("used_memory in INFO memory")
}

fn main() {
    let requests = env_u64("JOIN_BENCH_REQUESTS", 100_000);
    let clients = env_u64("JOIN_BENCH_CLIENTS", 64);
    let pool = env_u64("JOIN_BENCH_POOL", 4) as usize;
    let server = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");

    let (store_rate, sha, bytes_per_fan) = runtime.block_on(async {
        let options = RedisOptions {
            pool_size: pool,
            command_timeout: Duration::from_secs(5),
            ..RedisOptions::default()
        };
        let store = Arc::new(
            RedisStore::connect(&server.url(), options)
                .await
                .expect("connect"),
        );
        for room in ["bench-store", "bench-redis"] {
            store
                .init_room(room, &queue_all())
                .await
                .expect("init_room");
        }
        // Warm up connections and the script cache.
        for n in 0..1000 {
            store.join("bench-warmup", visitor(n)).await.ok();
        }
        let memory_before = used_memory(server.port());
        let rate = store_joins(store.clone(), requests, clients).await;
        let memory_after = used_memory(server.port());
        let waiting = store.stats("bench-store").await.expect("stats").waiting;
        assert_eq!(waiting, requests, "every join took a place");
        let per_fan = memory_after.saturating_sub(memory_before) as f64 / requests as f64;
        (rate, store.join_script_sha(), per_fan)
    });
    let bench_rate = redis_benchmark(server.port(), &sha, requests, clients, 1);
    let pipelined_rate = redis_benchmark(server.port(), &sha, requests, clients, 16);

    println!("join benchmark: {requests} joins of distinct visitors, {clients} concurrent clients");
    println!("  RedisStore::join (pool of {pool}):       {store_rate:>10.0} joins/s");
    println!("  redis-benchmark EVALSHA same script:  {bench_rate:>10.0} requests/s");
    println!("  the same, pipelined 16 (-P 16):       {pipelined_rate:>10.0} requests/s");
    let ratio = store_rate / bench_rate;
    let verdict = if ratio >= 0.7 { "within" } else { "BELOW" };
    println!("  ratio {ratio:.2} ({verdict} the >= 0.70 budget, un-pipelined baseline)");
    println!(
        "  ratio to the pipelined ceiling {:.2}",
        store_rate / pipelined_rate
    );
    println!(
        "  Redis memory per waiting fan (used_memory delta / joins): {bytes_per_fan:.0} bytes"
    );
}
