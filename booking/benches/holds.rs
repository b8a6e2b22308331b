//! Hold benchmark: the 2,000-way race for 50 seats, repeated, through `RedisHolds` against a
//! testkit redis-server — hold attempts per second (budget ≥ 10,000/s) with exactly 50 holds
//! per round checked — next to `redis-benchmark` running plain `SET key v NX PX` (the single
//! command a seat hold is built on) against the same server, in the same run.
//!
//! `cargo bench -p anteroom-booking --bench holds` (env: HOLDS_BENCH_ROUNDS, default 20;
//! HOLDS_BENCH_CONCURRENCY, default 64 tasks).

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

/// One race on a fresh event; returns the seats held (each must be held once).
async fn race(holds: Arc<RedisHolds>, event: String, concurrency: usize) -> usize {
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (holds, next, event) = (holds.clone(), next.clone(), event.clone());
            tokio::spawn(async move {
                let mut won = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= ATTEMPTS {
                        return won;
                    }
                    let seat = vec![format!("S{}", i % SEATS)];
                    match holds
                        .hold_seats(&event, &seat, VisitorId::random(), 300_000, 6)
                        .await
                    {
                        Ok(hold) => won.extend(hold.seats),
                        Err(HoldError::SeatTaken(_)) => {}
                        Err(other) => panic!("hold failed: {other}"),
                    }
                }
            })
        })
        .collect();
    let mut seats = HashSet::new();
    for task in tasks {
        for seat in task.await.expect("race task") {
            assert!(seats.insert(seat.clone()), "seat {seat} held twice");
        }
    }
    seats.len()
}

fn redis_benchmark(port: u16) -> Option<f64> {
    let output = Command::new("redis-benchmark")
        .args([
            "-p",
            &port.to_string(),
            "-n",
            "100000",
            "-c",
            "64",
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

    let started = Instant::now();
    for round in 0..rounds {
        let held = race(holds.clone(), format!("race-{round}"), concurrency).await;
        assert_eq!(held, SEATS, "round {round}: exactly {SEATS} holds");
    }
    let seconds = started.elapsed().as_secs_f64();
    let attempts_per_second = (rounds * ATTEMPTS) as f64 / seconds;
    println!(
        "hold race: {rounds} rounds x {ATTEMPTS} attempts on {SEATS} seats, {concurrency} tasks, pool of 4"
    );
    println!("  RedisHolds::hold_seats:                 {attempts_per_second:.0} attempts/s (exactly {SEATS} holds every round)");
    println!(
        "  budget >= 10000 attempts/s: {}",
        if attempts_per_second >= 10_000.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    match redis_benchmark(server.port()) {
        Some(baseline) => println!(
            "  redis-benchmark SET NX PX (baseline):   {baseline:.0} requests/s  (ratio {:.2})",
            attempts_per_second / baseline
        ),
        None => println!("  redis-benchmark not available: no baseline"),
    }
}
