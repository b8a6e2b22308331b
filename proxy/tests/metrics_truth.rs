#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Metrics that tell the truth, and a dashboard that queries only what exists: a scripted run
//! (joins, admissions, passes refused for known reasons, origin answers with known statuses,
//! bot verdicts, a challenge, a live stream) through two gateways on one Redis, then every
//! family's name, TYPE, labels and value checked against what the run did — counters summed
//! over the instances, shared gauges equal to the store's figures — and every metric the
//! Grafana dashboard (docs/grafana/anteroom.json) queries found on `/metrics`.

mod metrics;
mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anteroom_admission::VisitorId;
use anteroom_queue::{QueueStore, RedisOptions, RedisStore};
use metrics::{promql_metric_names, Scrape};
use support::stream_client::SseClient;
use support::{client, mint_pass, room_toml, Backend, Gateway, Origin, Visitor};

const ROOM: &str = "tour";
const GUARDED: &str = "guarded";

fn rooms(origin: &Origin) -> String {
    room_toml(
        ROOM,
        origin.addr,
        &["/tour"],
        "mode = \"safety-net\"\nadmit_per_second = 100.0\nmax_active = 2",
    ) + &room_toml(
        GUARDED,
        origin.addr,
        &["/guarded"],
        "mode = \"safety-net\"\n[room.bot_guard]\nenabled = true\nchallenge = \"always\"\nmax_places_per_ip = 100000\nmax_places_per_fingerprint = 100000",
    )
}

/// The bot guard off everywhere but in its own room.
const EXTRA: &str = "[bot_guard]\nenabled = false\n";

/// What the scripted run did, for the checks.
struct Done {
    joins: u64,
    admitted: u64,
    rejected: [(&'static str, u64); 6],
    upstream: [(&'static str, u64); 3],
    challenge_verdicts: u64,
    challenges_issued: u64,
    streams: SseClient,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn with_pass(gateway: &Gateway, path: &str, vid: &str, pass: &str) -> u16 {
    client()
        .get(gateway.url(path))
        .header("cookie", format!("anteroom_vid={vid}"))
        .header("x-anteroom-pass", pass)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The run, spread over `one` and `two` (the same gateway twice for a single instance).
async fn scripted_run(one: &Gateway, two: &Gateway) -> Done {
    // Two admitted straight through (the cap), the third waits.
    let mut a = Visitor::new();
    assert_eq!(a.get(&one.url("/tour/a")).await.status, 200);
    let mut b = Visitor::new();
    assert_eq!(b.get(&two.url("/tour/b")).await.status, 200);
    let mut c = Visitor::new();
    let waiting = c.get_json(&one.url("/tour/c")).await;
    assert_eq!(waiting.status, 429, "{}", waiting.body);
    // Polls are not joins.
    for _ in 0..3 {
        let status = c.get_json(&two.url("/_anteroom/status?room=tour")).await;
        assert_eq!(status.json()["state"], "waiting", "{}", status.body);
    }

    // Passes refused for known reasons, each sent by the waiting visitor (no new place).
    let c_vid = c.vid.clone().unwrap();
    let a_pass = a.pass.clone().unwrap();
    // One character of the MAC changed: its first, whose six bits are all MAC (the last one
    // carries two padding bits, and changing only those makes a non-canonical encoding:
    // `malformed`, not `bad_signature` — one run in sixteen).
    let mac_at = a_pass.rfind('.').unwrap() + 1;
    let first = a_pass[mac_at..].chars().next().unwrap();
    let forged = format!(
        "{}{}{}",
        &a_pass[..mac_at],
        if first == 'A' { 'B' } else { 'A' },
        &a_pass[mac_at + 1..]
    );
    let now = unix_now();
    let someone = VisitorId::random();
    let refused = [
        (one, "not-a-pass".to_string()),
        (one, forged),
        (two, mint_pass(ROOM, someone, now - 100, now - 10)),
        (two, mint_pass(GUARDED, someone, now, now + 600)),
    ];
    for (gateway, pass) in &refused {
        let status = with_pass(gateway, "/tour/c", &c_vid, pass).await;
        assert_eq!(status, 200, "the waiting page");
    }

    // Origin answers with known statuses.
    assert_eq!(a.get(&one.url("/tour/status-404")).await.status, 404);
    assert_eq!(a.get(&two.url("/tour/status-503")).await.status, 503);
    assert_eq!(b.get(&one.url("/tour/x")).await.status, 200);

    // The guarded room challenges every newcomer; one fetches its challenge.
    let mut d = Visitor::new();
    let challenged = d.get_json(&one.url("/guarded")).await;
    assert!(
        challenged.json()["challenge"].is_object(),
        "{}",
        challenged.body
    );
    let mut e = Visitor::new();
    e.get_json(&two.url("/guarded")).await;
    let fetched = d
        .get_json(&one.url("/_anteroom/challenge?room=guarded"))
        .await;
    assert_eq!(fetched.status, 200, "{}", fetched.body);

    // A live stream, left open for the scrape.
    let mut stream =
        SseClient::open(two.public, ROOM, Some(&format!("anteroom_vid={c_vid}"))).await;
    assert_eq!(stream.status, 200);
    assert!(stream.next(Duration::from_secs(5)).await.is_some());

    Done {
        joins: 3,
        admitted: 2,
        rejected: [
            ("malformed", 1),
            ("bad_signature", 1),
            ("expired", 1),
            ("wrong_room", 1),
            ("unknown_key", 0),
            ("revoked", 0),
        ],
        upstream: [("200", 3), ("404", 1), ("503", 1)],
        challenge_verdicts: 2,
        challenges_issued: 1,
        streams: stream,
    }
}

/// Scrape until the shared gauges show the room as the store left it (ticks publish them).
async fn settled(gateway: &Gateway, waiting: f64, active: f64) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let scrape = Scrape::parse(&gateway.metrics_text().await);
        let figures = (
            scrape.sum("anteroom_queue_waiting", &[("room", ROOM)]),
            scrape.sum("anteroom_active_sessions", &[("room", ROOM)]),
        );
        if figures == (waiting, active) {
            return scrape;
        }
        assert!(Instant::now() < deadline, "gauges stuck at {figures:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_report_exactly_what_was_done() {
    let origin = Origin::start().await;
    let backend = Backend::redis();
    let Backend::Redis(server) = &backend else {
        unreachable!()
    };
    let one = Gateway::start(&backend, &rooms(&origin), EXTRA).await;
    let two = Gateway::start(&backend, &rooms(&origin), EXTRA).await;
    let done = scripted_run(&one, &two).await;

    let store = RedisStore::connect(&server.url(), RedisOptions::default())
        .await
        .unwrap();
    let stats = store.stats(ROOM).await.unwrap();
    assert_eq!((stats.waiting, stats.active), (1, 2));
    let scrapes = [
        settled(&one, stats.waiting as f64, stats.active as f64).await,
        settled(&two, stats.waiting as f64, stats.active as f64).await,
    ];
    let total = |name: &str, labels: &[(&str, &str)]| -> f64 {
        scrapes.iter().map(|s| s.sum(name, labels)).sum()
    };

    // Names, types and label names: the contract of docs/metrics.md.
    let families: [(&str, &str, &[&str]); 16] = [
        ("anteroom_queue_waiting", "gauge", &["room"]),
        ("anteroom_active_sessions", "gauge", &["room"]),
        ("anteroom_joins_total", "counter", &["room"]),
        ("anteroom_admitted_total", "counter", &["room"]),
        ("anteroom_admit_per_second", "gauge", &["room"]),
        (
            "anteroom_pass_rejected_total",
            "counter",
            &["reason", "room"],
        ),
        ("anteroom_streams_open", "gauge", &["kind"]),
        ("anteroom_stream_opens_total", "counter", &["kind"]),
        (
            "anteroom_stream_closes_total",
            "counter",
            &["kind", "reason"],
        ),
        (
            "anteroom_streams_refused_total",
            "counter",
            &["kind", "reason"],
        ),
        ("anteroom_stream_update_seconds", "histogram", &["kind"]),
        (
            "anteroom_upstream_responses_total",
            "counter",
            &["room", "status"],
        ),
        ("anteroom_store_seconds", "histogram", &["op"]),
        ("anteroom_store_errors_total", "counter", &["op"]),
        (
            "anteroom_bot_verdicts_total",
            "counter",
            &["reason", "room", "verdict"],
        ),
        ("anteroom_challenges_total", "counter", &["outcome", "room"]),
    ];
    for scrape in &scrapes {
        let exported: BTreeSet<&String> = scrape.types.keys().collect();
        let documented: BTreeSet<String> = families.iter().map(|f| f.0.to_string()).collect();
        assert_eq!(
            exported.into_iter().cloned().collect::<BTreeSet<_>>(),
            documented,
            "exported families differ from the documented ones"
        );
        for (name, kind, labels) in families {
            assert_eq!(scrape.types[name], kind, "{name}");
            let sample = if kind == "histogram" {
                format!("{name}_count")
            } else {
                name.to_string()
            };
            let expected: BTreeSet<String> = labels.iter().map(|l| l.to_string()).collect();
            assert_eq!(scrape.label_names(&sample), expected, "{name}");
        }
        // Shared gauges: the store's figures on every instance.
        assert_eq!(
            scrape.sum("anteroom_queue_waiting", &[("room", ROOM)]),
            stats.waiting as f64
        );
        assert_eq!(
            scrape.sum("anteroom_active_sessions", &[("room", ROOM)]),
            stats.active as f64
        );
        assert_eq!(
            scrape.sum("anteroom_admit_per_second", &[("room", ROOM)]),
            100.0
        );
        // Histograms are whole: +Inf bucket = count, buckets never decrease.
        for name in ["anteroom_store_seconds", "anteroom_stream_update_seconds"] {
            for count in scrape.matching(&format!("{name}_count"), &[]) {
                let label = count.labels.iter().next().unwrap();
                let buckets: Vec<f64> = scrape
                    .matching(&format!("{name}_bucket"), &[(label.0, label.1)])
                    .map(|s| s.value)
                    .collect();
                assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{name} {label:?}");
                assert_eq!(buckets.last(), Some(&count.value), "{name} {label:?}");
            }
        }
    }

    // Counters summed over the instances: what the run did, and what the store counted.
    let room = [("room", ROOM)];
    assert_eq!(total("anteroom_joins_total", &room), done.joins as f64);
    assert_eq!(stats.joins_total, done.joins);
    assert_eq!(
        total("anteroom_admitted_total", &room),
        done.admitted as f64
    );
    assert_eq!(stats.admitted_total, done.admitted);
    assert_eq!(total("anteroom_joins_total", &[("room", GUARDED)]), 0.0);
    // Each instance counted its own part.
    assert_eq!(scrapes[0].sum("anteroom_joins_total", &room), 2.0);
    assert_eq!(scrapes[1].sum("anteroom_joins_total", &room), 1.0);
    for (reason, count) in done.rejected {
        assert_eq!(
            total(
                "anteroom_pass_rejected_total",
                &[("room", ROOM), ("reason", reason)]
            ),
            count as f64,
            "{reason}"
        );
    }
    assert_eq!(scrapes[0].sum("anteroom_pass_rejected_total", &room), 2.0);
    for (status, count) in done.upstream {
        assert_eq!(
            total(
                "anteroom_upstream_responses_total",
                &[("room", ROOM), ("status", status)]
            ),
            count as f64,
            "{status}"
        );
    }
    let upstream_all: u64 = done.upstream.iter().map(|(_, n)| n).sum();
    assert_eq!(
        total("anteroom_upstream_responses_total", &[]),
        upstream_all as f64,
        "no other origin answers"
    );
    assert_eq!(
        total(
            "anteroom_bot_verdicts_total",
            &[("room", GUARDED), ("verdict", "challenge")]
        ),
        done.challenge_verdicts as f64
    );
    assert_eq!(
        total("anteroom_bot_verdicts_total", &[]),
        done.challenge_verdicts as f64,
        "no verdict in the unguarded room"
    );
    assert_eq!(
        total(
            "anteroom_challenges_total",
            &[("room", GUARDED), ("outcome", "issued")]
        ),
        done.challenges_issued as f64
    );
    assert_eq!(
        total("anteroom_challenges_total", &[]),
        done.challenges_issued as f64
    );
    assert_eq!(total("anteroom_streams_open", &[("kind", "sse")]), 1.0);
    assert_eq!(
        scrapes[1].sum("anteroom_streams_open", &[("kind", "sse")]),
        1.0
    );
    assert_eq!(
        total("anteroom_stream_opens_total", &[("kind", "sse")]),
        1.0
    );
    assert_eq!(total("anteroom_streams_open", &[("kind", "ws")]), 0.0);
    assert_eq!(total("anteroom_stream_closes_total", &[]), 0.0);
    assert_eq!(total("anteroom_store_errors_total", &[]), 0.0);
    // Every join went to the store (polls and refused passes of a waiting visitor too).
    assert!(total("anteroom_store_seconds_count", &[("op", "join")]) >= done.joins as f64);
    drop(done.streams);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_names_a_metric_the_gateway_exports() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/grafana/anteroom.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut queries: Vec<(String, String)> = Vec::new();
    let panels = dashboard["panels"].as_array().unwrap();
    for panel in panels {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap().to_string();
            queries.push((title, target["expr"].as_str().unwrap().to_string()));
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(query) = variable["query"]["query"].as_str() {
            queries.push((variable["name"].to_string(), query.to_string()));
        }
    }
    let titles: Vec<&str> = panels.iter().filter_map(|p| p["title"].as_str()).collect();
    for wanted in [
        "Queue length",
        "Admissions vs set rate",
        "Active sessions",
        "Pass rejections",
        "streams",
        "Upstream",
        "Store latency",
        "Bot verdicts",
        "challenges",
    ] {
        assert!(
            titles
                .iter()
                .any(|t| t.to_lowercase().contains(&wanted.to_lowercase())),
            "no panel for {wanted}: {titles:?}"
        );
    }

    let origin = Origin::start().await;
    let gateway = Gateway::start(&Backend::memory(), &rooms(&origin), EXTRA).await;
    let done = scripted_run(&gateway, &gateway).await;
    let scrape = settled(&gateway, 1.0, 2.0).await;
    let exported = scrape.names();
    let mut queried = BTreeSet::new();
    for (panel, expr) in &queries {
        let names = promql_metric_names(expr);
        assert!(!names.is_empty(), "{panel}: no metric in {expr}");
        for name in names {
            assert!(
                exported.contains(name.as_str()),
                "{panel}: `{name}` (in {expr}) is not on /metrics"
            );
            queried.insert(name);
        }
    }
    assert!(queried.len() >= 15, "{queried:?}");
    drop(done.streams);
}
