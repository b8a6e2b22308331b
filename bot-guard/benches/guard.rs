//! The guard's pure costs per request, in one run: reading the signals of a request (header
//! fingerprint and hints), the verdict, and a challenge's verification at the normal
//! difficulty (parse + MAC + 16 hashes). Budgets (issue 8): verdict ≤ 5 µs (signals
//! included), challenge verify ≤ 20 µs.
//!
//! `cargo bench -p anteroom-bot-guard --bench guard`
//!
//! The functions run in interleaved batches so background load hits them alike; each
//! figure is the median batch's ns/op.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use anteroom_testkit::microbench::{batch, calibrate, median};

use anteroom_admission::VisitorId;
use anteroom_bot_guard::challenge::{issue, solve, verify, ChallengeKey, ChallengeSpec};
use anteroom_bot_guard::{
    decide, BotGuardConfig, ClientFingerprint, Counts, Demand, Rules, Signals, VerdictKind,
    NORMAL_DIFFICULTY,
};

const ROUNDS: usize = 15;
/// Time budget per measured function, split over the rounds.
const BUDGET: Duration = Duration::from_millis(400);
const VERDICT_BUDGET_NS: f64 = 5_000.0;
const VERIFY_BUDGET_NS: f64 = 20_000.0;
const NOW: u64 = 1_800_000_000;

/// The headers of a Chrome navigation, in its order.
const CHROME: &[(&str, &[u8])] = &[
    ("host", b"tickets.example.com"),
    ("connection", b"keep-alive"),
    ("sec-ch-ua", b"\"Google Chrome\";v=\"131\", \"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\""),
    ("sec-ch-ua-mobile", b"?0"),
    ("sec-ch-ua-platform", b"\"Windows\""),
    ("upgrade-insecure-requests", b"1"),
    ("user-agent", b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
    ("accept", b"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"),
    ("sec-fetch-site", b"none"),
    ("sec-fetch-mode", b"navigate"),
    ("sec-fetch-user", b"?1"),
    ("sec-fetch-dest", b"document"),
    ("accept-encoding", b"gzip, deflate, br, zstd"),
    ("accept-language", b"en-US,en;q=0.9,fr;q=0.8"),
    ("cookie", b"anteroom_vid=0123456789abcdef0123456789abcdef.k1.AAAAAAAAAAAAAAAAAAAAAA"),
];

fn main() {
    let ip = "198.51.100.7".parse().unwrap();
    let visitor = VisitorId([7; 16]);
    let mut rules = Rules::from_config(BotGuardConfig::default());
    // A realistic list to walk: 50 allow and 50 block networks, 20 UA patterns.
    rules.config.allow_cidrs = (0..50)
        .map(|i| format!("10.{i}.0.0/16").parse().unwrap())
        .collect();
    rules.config.block_cidrs = (0..50)
        .map(|i| format!("172.16.{i}.0/24").parse().unwrap())
        .collect();
    rules.config.block_user_agents = (0..20).map(|i| format!("badbot-{i}")).collect();
    let counts = Counts {
        ip: 3,
        subnet: 12,
        fingerprint: 40,
        visitor: 1,
        holders_ip: 1,
        holders_fingerprint: 2,
        ..Counts::default()
    };
    let demand = Demand {
        queue_length: 10_000,
        admit_per_second: 50.0,
    };
    let client = ClientFingerprint::parse(br#"{"webdriver":false,"timezone":"Europe/Paris","languages":["fr-FR","fr"],"screenWidth":1920,"screenHeight":1080,"hardwareConcurrency":8,"deviceMemory":8,"touchPoints":0,"platform":"Win32","plugins":5}"#).unwrap();
    let mut signals = Signals::from_request(ip, CHROME, visitor);
    signals.client = Some(client);
    assert_eq!(
        decide(&signals, &counts, &rules, &demand).kind,
        VerdictKind::Allow
    );

    let key = ChallengeKey::derive(b"anteroom-bench-secret-0123456789abcdef");
    let spec = ChallengeSpec {
        id: [0x42; 16],
        room: "tour-2027".into(),
        visitor,
        difficulty: NORMAL_DIFFICULTY,
        expires_at: NOW + 120,
    };
    let challenge = issue(&spec, &key);
    let solve_start = Instant::now();
    let nonces = solve(&challenge).unwrap();
    let solve_ms = solve_start.elapsed().as_secs_f64() * 1e3;
    assert!(verify(&challenge, &nonces, "tour-2027", visitor, NOW, &key).is_ok());

    let mut signals_f = || {
        black_box(Signals::from_request(
            black_box(ip),
            black_box(CHROME),
            visitor,
        ));
    };
    let mut decide_f = || {
        black_box(decide(
            black_box(&signals),
            black_box(&counts),
            black_box(&rules),
            black_box(&demand),
        ));
    };
    let mut full_f = || {
        let s = Signals::from_request(black_box(ip), black_box(CHROME), visitor);
        black_box(decide(
            &s,
            black_box(&counts),
            black_box(&rules),
            black_box(&demand),
        ));
    };
    let mut verify_f = || {
        let _ = black_box(verify(
            black_box(&challenge),
            black_box(&nonces),
            "tour-2027",
            visitor,
            NOW,
            &key,
        ));
    };
    let mut issue_f = || {
        black_box(issue(black_box(&spec), &key));
    };
    let mut fs: Vec<(&str, &mut dyn FnMut())> = vec![
        ("signals (fingerprint + hints)", &mut signals_f),
        ("decide", &mut decide_f),
        ("verdict (signals + decide)", &mut full_f),
        ("challenge verify (normal)", &mut verify_f),
        ("challenge issue", &mut issue_f),
    ];
    let iters: Vec<u64> = fs
        .iter_mut()
        .map(|(_, f)| calibrate(*f, BUDGET / ROUNDS as u32))
        .collect();
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); fs.len()];
    for _ in 0..ROUNDS {
        for (i, (_, f)) in fs.iter_mut().enumerate() {
            samples[i].push(batch(*f, iters[i]));
        }
    }
    let medians: Vec<f64> = samples.into_iter().map(median).collect();
    for ((name, _), ns) in fs.iter().zip(&medians) {
        println!("{name:32} {:>9.3} µs/op", ns / 1e3);
    }
    println!(
        "solve at level {NORMAL_DIFFICULTY} (native, one core): {solve_ms:.1} ms for {} nonces",
        nonces.len()
    );
    let verdict_ns = medians[2];
    let verify_ns = medians[3];
    assert!(
        verdict_ns <= VERDICT_BUDGET_NS,
        "verdict {verdict_ns:.0} ns over the {VERDICT_BUDGET_NS} ns budget"
    );
    assert!(
        verify_ns <= VERIFY_BUDGET_NS,
        "verify {verify_ns:.0} ns over the {VERIFY_BUDGET_NS} ns budget"
    );
    println!("budgets met: verdict ≤ 5 µs, challenge verify ≤ 20 µs");
}
