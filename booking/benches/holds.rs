//! Hold benchmark: the 2,000-way race for 50 seats, repeated, through `RedisHolds` against a
//! testkit redis-server — hold attempts per second (budget ≥ 10,000/s) with exactly 50 holds
//! per round checked — next to `redis-benchmark` running plain `SET key v NX PX` (the single
//! command a seat hold is built on) against the same server, in the same run.
//!
//! `cargo bench -p anteroom-booking --bench holds` (env: HOLDS_BENCH_ROUNDS, default 20;
//! HOLDS_BENCH_CONCURRENCY, default 64 tasks).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashSet;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anteroom_admission::VisitorId;
use anteroom_booking::holds::{HoldError, HoldStore, RedisHolds};
use anteroom_queue::RedisOptions;
use anteroom_testkit::RedisServer;

const ATTEMPTS: usize = 2000;
const SEATS: usize = 50;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The 2,000 requests of one race, one seat each (the issue's race: 50 seats, so exactly 50
/// holds): every seat asked for once, the rest random seats, in random order.
fn requests() -> Vec<Vec<String>> {
    use rand::{seq::SliceRandom, Rng};
    let mut rng = rand::thread_rng();
    let mut requests: Vec<Vec<String>> = (0..ATTEMPTS)
        .map(|i| {
            let seat = if i < SEATS {
                i
            } else {
                rng.gen_range(0..SEATS)
            };
            vec![format!("S{seat}")]
        })
        .collect();
    requests.shuffle(&mut rng);
    requests
}

struct RaceResult {
    /// Holds granted.
    holds: usize,
    /// Distinct seats held (each checked to be held by one hold only).
    seats: usize,
    /// Latency of every attempt, microseconds.
    latencies_us: Vec<u64>,
}

/// One race on a fresh event from `concurrency` tasks pulling the next request.
async fn race(holds: Arc<RedisHolds>, event: String, concurrency: usize) -> RaceResult {
    let requests = Arc::new(requests());
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (holds, next, event, requests) =
                (holds.clone(), next.clone(), event.clone(), requests.clone());
            tokio::spawn(async move {
                let mut won = Vec::new();
                let mut granted = 0;
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(wanted) = requests.get(i) else {
                        return (granted, won, latencies);
                    };
                    let started = Instant::now();
                    let result = holds
                        .hold_seats(&event, wanted, VisitorId::random(), 300_000, 6)
                        .await;
                    latencies.push(started.elapsed().as_micros() as u64);
                    match result {
                        Ok(hold) => {
                            granted += 1;
                            won.extend(hold.seats);
                        }
                        Err(HoldError::SeatTaken(_)) => {}
                        Err(other) => panic!("hold failed: {other}"),
                    }
                }
            })
        })
        .collect();
    let mut seats = HashSet::new();
    let mut holds = 0;
    let mut latencies_us = Vec::with_capacity(ATTEMPTS);
    for task in tasks {
        let (granted, won, latencies) = task.await.expect("race task");
        holds += granted;
        for seat in won {
            assert!(seats.insert(seat.clone()), "seat {seat} held twice");
        }
        latencies_us.extend(latencies);
    }
    RaceResult {
        holds,
        seats: seats.len(),
        latencies_us,
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// `redis-benchmark` SET NX PX on random keys, same server, same number of clients.
fn redis_benchmark(port: u16, clients: usize) -> Option<f64> {
    let output = Command::new("redis-benchmark")
        .args([
            "-p",
            &port.to_string(),
            "-n",
            "100000",
            "-c",
            &clients.to_string(),
            "-r",
            "1000000",
        ])
        .args([
            "-q",
            "SET",
            "seat:__rand_int__",
            "hold",
            "NX",
            "PX",
            "300000",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    // "SET seat:__rand_int__ hold NX PX 300000: 41152.26 requests per second, p50=..."
    let line = text
        .lines()
        .rev()
        .find(|line| line.contains("requests per second"))?;
    let (_, after) = line.rsplit_once(": ")?;
    after.split_whitespace().next()?.parse().ok()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds = env_usize("HOLDS_BENCH_ROUNDS", 20);
    let concurrency = env_usize("HOLDS_BENCH_CONCURRENCY", 64);
    let server = RedisServer::start();
    let holds = Arc::new(
        RedisHolds::connect(&server.url(), RedisOptions::default())
            .await
            .expect("connect to the bench redis"),
    );
    // Warm up: scripts loaded, connections open.
    race(holds.clone(), "warmup".into(), concurrency).await;

    let mut latencies = Vec::with_capacity(rounds * ATTEMPTS);
    let started = Instant::now();
    for round in 0..rounds {
        let result = race(holds.clone(), format!("race-{round}"), concurrency).await;
        assert_eq!(result.holds, SEATS, "round {round}: exactly {SEATS} holds");
        assert_eq!(result.seats, SEATS, "round {round}: every seat held once");
        let held = holds
            .held_seats(&format!("race-{round}"))
            .await
            .expect("held seats");
        assert_eq!(held.len(), SEATS, "round {round}: the store agrees");
        latencies.extend(result.latencies_us);
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let attempts_per_second = (rounds * ATTEMPTS) as f64 / seconds;
    println!(
        "hold race: {rounds} rounds x {ATTEMPTS} attempts (one random seat each) on {SEATS} seats, {concurrency} tasks, pool of {}",
        RedisOptions::default().pool_size
    );
    println!("  RedisHolds::hold_seats:                 {attempts_per_second:.0} attempts/s (exactly {SEATS} holds every round)");
    println!(
        "  latency per attempt: p50 {} us, p99 {} us, max {} us",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0)
    );
    println!(
        "  budget >= 10000 attempts/s: {}",
        if attempts_per_second >= 10_000.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    match redis_benchmark(server.port(), concurrency) {
        Some(baseline) => println!(
            "  redis-benchmark SET NX PX (baseline):   {baseline:.0} requests/s  (ratio {:.2})",
            attempts_per_second / baseline
        ),
        None => println!("  redis-benchmark not available: no baseline"),
    }
}
