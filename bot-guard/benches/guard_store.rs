#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Guard checks through `RedisGuardStore` against `redis-benchmark` on the same redis-server
//! in one run: EVALSHA of a trivial script (`return 1`: one round trip and nothing else, the
//! floor of any one-script check). Each check is what a join asks: four velocity counters
//! (IP, subnet, fingerprint, visitor) and places under the IP and the fingerprint. (The check
//! script's numbers travel as one binary argument, which `redis-benchmark` cannot pass on its
//! command line; `bench/guard_redis_costs.py` measures the script's own cost piece by piece.)
//!
//! cargo bench -p anteroom-bot-guard --bench guard_store
//! Environment: GUARD_BENCH_REQUESTS (default 100000), GUARD_BENCH_CLIENTS (default 64),
//! GUARD_BENCH_POOL (default 4).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anteroom_admission::VisitorId;
use anteroom_bot_guard::{
    GuardCheck, GuardStore, PlaceCheck, PlaceSubject, RedisGuardStore, VelocityCheck,
};
use anteroom_queue::RedisOptions;
use anteroom_testkit::{env_u64, RedisServer};
use fred::prelude::{Builder, ClientLike, Config, LuaInterface};

/// Request `n`: one of 1,000 IPs and fingerprints, its own visitor.
fn join_check(n: u64) -> GuardCheck {
    let (ip, fp) = (format!("ip:{}", n % 1_000), format!("fp:{}", n % 1_000));
    let velocity = [
        ip.clone(),
        format!("net:{}", n % 100),
        fp.clone(),
        format!("vid:{n}"),
    ]
    .into_iter()
    .map(|subject| VelocityCheck {
        subject,
        limit: 100,
        window_ms: 10_000,
    })
    .collect();
    let mut visitor = [0u8; 16];
    visitor[8..].copy_from_slice(&n.to_be_bytes());
    GuardCheck {
        velocity,
        places: Some(PlaceCheck {
            visitor: VisitorId(visitor),
            subjects: vec![PlaceSubject::new(ip, 3), PlaceSubject::new(fp, 3)],
            hold_ms: 60_000,
        }),
    }
}

async fn store_checks(store: Arc<RedisGuardStore>, requests: u64, clients: u64) -> f64 {
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
                let counts = store.check("bench", &join_check(n)).await.expect("check");
                assert_eq!(counts.velocity.len(), 4);
            }
        }));
    }
    for task in tasks {
        task.await.expect("check task");
    }
    requests as f64 / started.elapsed().as_secs_f64()
}

/// `redis-benchmark` running `EVALSHA <args>`, un-pipelined; requests per second.
fn redis_benchmark(port: u16, requests: u64, clients: u64, evalsha: &[String]) -> f64 {
    let command: Vec<String> = std::iter::once("EVALSHA".to_string())
        .chain(evalsha.iter().cloned())
        .collect();
    anteroom_testkit::redis_benchmark_rps(port, requests, clients, 1, &command)
}

/// `usec_per_call` of EVALSHA: the time Redis spent in each check script.
fn usec_per_evalsha(commandstats: &str) -> f64 {
    commandstats
        .lines()
        .find_map(|line| line.strip_prefix("cmdstat_evalsha:"))
        .and_then(|stats| {
            stats
                .split(',')
                .find_map(|s| s.strip_prefix("usec_per_call="))
        })
        .and_then(|us| us.parse().ok())
        .unwrap_or(f64::NAN)
}

fn main() {
    let requests = env_u64("GUARD_BENCH_REQUESTS", 100_000);
    let clients = env_u64("GUARD_BENCH_CLIENTS", 64);
    let pool = env_u64("GUARD_BENCH_POOL", 4) as usize;
    let server = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");

    let (store_rate, trivial_sha, redis_us) = runtime.block_on(async {
        let options = RedisOptions {
            pool_size: pool,
            command_timeout: Duration::from_secs(5),
            ..RedisOptions::default()
        };
        let store = Arc::new(
            RedisGuardStore::connect(&server.url(), options)
                .await
                .expect("connect"),
        );
        // Warm up connections.
        for n in 0..1_000 {
            store.check("bench-warmup", &join_check(n)).await.ok();
        }
        let rate = store_checks(store.clone(), requests, clients).await;
        let client = Builder::from_config(Config::from_url(&server.url()).unwrap())
            .build()
            .unwrap();
        client.init().await.unwrap();
        let trivial: String = client.script_load("return 1").await.expect("load");
        let stats: String = client
            .info(Some(fred::types::InfoKind::CommandStats))
            .await
            .expect("INFO commandstats");
        client.quit().await.ok();
        (rate, trivial, usec_per_evalsha(&stats))
    });
    let trivial_rate = redis_benchmark(
        server.port(),
        requests,
        clients,
        &[trivial_sha, "0".to_string()],
    );

    println!("guard store benchmark: {requests} checks (4 velocity counters + places under 2 subjects), {clients} concurrent clients");
    println!("  RedisGuardStore::check (pool of {pool}):   {store_rate:>10.0} checks/s");
    println!("  redis-benchmark EVALSHA `return 1`:       {trivial_rate:>10.0} requests/s");
    println!("  Redis CPU per check (INFO commandstats):  {redis_us:>10.1} µs");
    println!(
        "  ratio to the trivial script {:.2}",
        store_rate / trivial_rate
    );
}
