//! Scale-out: two gateway instances on one Redis hold ONE admission rate between them,
//! admit every visitor exactly once, in join order, and apply operator changes everywhere.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::time::{Duration, Instant};

use support::{room_toml, Backend, Gateway, Origin, Visitor};

const VISITORS: usize = 300;
const RATE: f64 = 20.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_admit_in_join_order_at_the_configured_total_rate() {
    let redis = Backend::redis();
    let origin = Origin::start().await;
    let rooms = room_toml(
        "tour",
        origin.addr,
        &["/tour"],
        &format!("mode = \"queue-all\"\nadmit_per_second = {RATE}\nmax_active = 100000\nabandon_after_seconds = 600"),
    );
    let a = Gateway::start(&redis, &rooms, "").await;
    let b = Gateway::start(&redis, &rooms, "").await;
    let instances = [&a, &b];

    // Hold the line while everyone joins; B must learn of A's change within a second.
    a.admin_patch("tour", serde_json::json!({"paused": true}))
        .await;
    let deadline = Instant::now() + Duration::from_millis(1500);
    while b.admin_room("tour").await["paused"] != true {
        assert!(
            Instant::now() < deadline,
            "instance B did not apply the pause within 1.5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // 300 visitors join, alternating instances; positions are exact across both.
    let mut visitors = Vec::with_capacity(VISITORS);
    for index in 0..VISITORS {
        let mut visitor = Visitor::new();
        let answer = visitor.get_json(&instances[index % 2].url("/tour")).await;
        assert_eq!(answer.status, 429);
        let status = answer.json();
        assert_eq!(
            status["position"],
            (index + 1) as u64,
            "visitor {index}: {status}"
        );
        visitors.push(visitor);
    }

    b.admin_patch("tour", serde_json::json!({"paused": false}))
        .await;

    // Sample the line: a waiting visitor k at position p means exactly k + 1 - p visitors
    // were admitted so far — if admission is in join order. Every such figure, from any
    // visitor via either instance, must agree and never go backwards.
    let mut samples: Vec<(Instant, u64)> = Vec::new();
    let mut admitted_so_far = 0u64;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let deadline = Instant::now() + Duration::from_secs(60);
    let tail = VISITORS - 1;
    loop {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let near_head = (admitted_so_far as usize + (seed % 10) as usize).min(tail);
        let anywhere = (seed >> 20) as usize % VISITORS;
        let mut tail_admitted = false;
        for (turn, k) in [near_head, anywhere, tail].into_iter().enumerate() {
            let via = instances[turn % 2];
            let status = visitors[k]
                .get_json(&via.url("/_anteroom/status?room=tour"))
                .await
                .json();
            let at = Instant::now();
            match status["state"].as_str() {
                // "paused" until this instance's refresh sees the resume (< 1 s).
                Some("waiting") | Some("paused") => {
                    let position = status["position"].as_u64().expect("position");
                    let implied = (k as u64 + 1)
                        .checked_sub(position)
                        .unwrap_or_else(|| panic!("visitor {k} at position {position}"));
                    assert!(
                        implied >= admitted_so_far,
                        "visitor {k} implies {implied} admitted, but {admitted_so_far} already were: out of order"
                    );
                    admitted_so_far = implied;
                    samples.push((at, implied));
                }
                Some("admitted") => {
                    admitted_so_far = admitted_so_far.max(k as u64 + 1);
                    if k == tail {
                        tail_admitted = true;
                    }
                }
                other => panic!("unexpected state {other:?}: {status}"),
            }
        }
        if tail_admitted {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "line not drained in 60 s ({admitted_so_far} admitted)"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    // The rate, past the initial burst and before the line runs dry, over at least 10 s.
    let window: Vec<&(Instant, u64)> = samples
        .iter()
        .filter(|(_, admitted)| (30..=280).contains(admitted))
        .collect();
    let (first, last) = (
        window.first().expect("samples"),
        window.last().expect("samples"),
    );
    let seconds = last.0.duration_since(first.0).as_secs_f64();
    let rate = (last.1 - first.1) as f64 / seconds;
    assert!(seconds >= 10.0, "measured over only {seconds:.1} s");
    assert!(
        (rate - RATE).abs() / RATE <= 0.05,
        "two instances admitted {rate:.2}/s in total, configured {RATE}/s (over {seconds:.1} s)"
    );

    // Everyone in, each exactly once.
    for (index, visitor) in visitors.iter_mut().enumerate() {
        let status = visitor
            .get_json(&instances[index % 2].url("/_anteroom/status?room=tour"))
            .await
            .json();
        assert_eq!(status["state"], "admitted", "visitor {index}");
    }
    let room = a.admin_room("tour").await;
    assert_eq!(room["admitted_total"], VISITORS as u64, "{room}");
    assert_eq!(room["waiting"], 0);
    let per_instance = a
        .metric("anteroom_admitted_total", &["room=\"tour\""])
        .await
        + b.metric("anteroom_admitted_total", &["room=\"tour\""])
            .await;
    assert_eq!(
        per_instance, VISITORS as f64,
        "instance counters sum to the total"
    );
    eprintln!("two instances: {rate:.2}/s over {seconds:.1} s (configured {RATE}/s)");
}
