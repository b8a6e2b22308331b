#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Resilience: when Redis goes away, admitted visitors keep shopping (passes are verified
//! locally), newcomers get a clear 503 with Retry-After (the cap fails closed), and the
//! gateway recovers by itself when Redis returns — even one that lost every key.

mod support;

use std::time::{Duration, Instant};

use support::{client, room_toml, Answer, Gateway, Origin, Visitor};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_fails_closed_for_newcomers_and_open_for_the_admitted() {
    let mut redis = anteroom_testkit::RedisServer::start();
    let origin = Origin::start().await;
    let rooms = room_toml(
        "tour",
        origin.addr,
        &["/tour"],
        "mode = \"safety-net\"\nadmit_per_second = 100.0\nmax_active = 100",
    );
    let store = format!("[store]\nbackend = \"redis\"\nurl = \"{}\"\n", redis.url());
    let gateway = Gateway::start_with_store_toml(&store, &rooms, "").await;

    let mut admitted = Visitor::new();
    assert_eq!(admitted.get(&gateway.url("/tour")).await.status, 200);
    assert!(admitted.pass.is_some());

    redis.stop();

    // The admitted visitor never notices.
    for _ in 0..3 {
        let answer = admitted.get(&gateway.url("/tour/cart")).await;
        assert_eq!(answer.status, 200, "admitted path must not need the store");
        assert_eq!(answer.body, "origin:/tour/cart");
    }
    // A newcomer is told to come back, not let in and not left hanging.
    let started = Instant::now();
    let newcomer = Visitor::new().get_json(&gateway.url("/tour")).await;
    assert_eq!(newcomer.status, 503, "{}", newcomer.body);
    assert_eq!(newcomer.json()["error"], "queue_unavailable");
    assert!(newcomer.header("retry-after").is_some());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered within the store's command timeout"
    );
    let page = Visitor::new().get(&gateway.url("/tour")).await;
    assert_eq!(page.status, 503);
    assert!(page.body.contains("be right back"), "{}", page.body);

    // Redis returns empty (no persistence): the gateway re-seeds the room and lets people in.
    redis.restart();
    let mut fresh = Visitor::new();
    let answer = until_served(
        &mut fresh,
        &gateway.url("/tour"),
        false,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(answer.body, "origin:/tour");
    let seen_by_origin = origin.seen().len();
    assert_eq!(
        seen_by_origin, 5,
        "1 + 3 admitted requests + 1 after recovery"
    );
}

/// Status code and JSON body of a health endpoint.
async fn probe(url: String) -> (u16, serde_json::Value) {
    match client().get(url).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or_default())
        }
        Err(error) => panic!("health endpoint unreachable: {error}"),
    }
}

/// Poll every health endpoint until all answer `status`, or panic at the deadline.
async fn health_becomes(gateway: &Gateway, status: u16, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let answers = [
            probe(format!("http://{}/healthz", gateway.metrics)).await,
            probe(gateway.admin_url("/healthz")).await,
            probe(gateway.admin_url("/readyz")).await,
        ];
        if answers.iter().all(|(code, _)| *code == status) {
            let connected = status == 200;
            for (_, body) in &answers {
                assert_eq!(body["store_connected"], connected, "{body}");
            }
            return;
        }
        assert!(
            Instant::now() < deadline,
            "health did not turn {status} within {within:?}: {answers:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Redis (AOF on) down for longer than the abandon window, then back from its file: every
/// waiting visitor keeps the place and the order, and the health endpoints told the truth
/// meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_longer_than_the_abandon_window_keeps_the_line() {
    const VISITORS: usize = 10;
    const ABANDON_SECONDS: u64 = 5;
    let mut redis = anteroom_testkit::RedisServer::start_with_aof();
    let origin = Origin::start().await;
    let rooms = room_toml(
        "tour",
        origin.addr,
        &["/tour"],
        &format!(
            "mode = \"queue-all\"\nadmit_per_second = 100.0\nmax_active = 100\n\
             abandon_after_seconds = {ABANDON_SECONDS}"
        ),
    );
    let store = format!("[store]\nbackend = \"redis\"\nurl = \"{}\"\n", redis.url());
    let gateway = Gateway::start_with_store_toml(&store, &rooms, "").await;
    health_becomes(&gateway, 200, Duration::from_secs(5)).await;
    gateway
        .admin_patch("tour", serde_json::json!({"paused": true}))
        .await;
    let mut line = Vec::new();
    for index in 0..VISITORS {
        let mut visitor = Visitor::new();
        let answer = visitor.get_json(&gateway.url("/tour")).await;
        assert_eq!(answer.status, 429, "{}", answer.body);
        assert_eq!(answer.json()["position"], index + 1);
        line.push(visitor);
    }

    redis.stop();
    let stopped = Instant::now();
    health_becomes(&gateway, 503, Duration::from_secs(8)).await;
    // Down for longer than the abandon window: nobody could poll meanwhile.
    let outage = Duration::from_secs(ABANDON_SECONDS + 2);
    tokio::time::sleep(outage.saturating_sub(stopped.elapsed())).await;
    let redis = tokio::task::spawn_blocking(move || {
        redis.restart();
        redis
    })
    .await
    .unwrap();
    assert!(stopped.elapsed() > Duration::from_secs(ABANDON_SECONDS));

    // The line is back from the AOF, whole and in order, and nobody was admitted.
    let status_url = gateway.url("/_anteroom/status?room=tour");
    until_served(&mut line[0], &status_url, true, Duration::from_secs(15)).await;
    for (index, visitor) in line.iter_mut().enumerate() {
        let status = visitor.get_json(&status_url).await.json();
        assert_eq!(status["state"], "paused", "{status}");
        assert_eq!(status["position"], index + 1, "visitor {index}: {status}");
        assert_eq!(status["waiting"], VISITORS, "{status}");
    }
    // Still there after more ticks than one: the outage did not count toward abandonment.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for (index, visitor) in line.iter_mut().enumerate() {
        let status = visitor.get_json(&status_url).await.json();
        assert_eq!(status["position"], index + 1, "visitor {index}: {status}");
    }
    health_becomes(&gateway, 200, Duration::from_secs(10)).await;
    assert!(origin.seen().is_empty());
    drop(redis);
}

/// Ask `url` as `visitor` until the gateway answers 200 again (it has recovered), or fail
/// after `within`.
async fn until_served(visitor: &mut Visitor, url: &str, json: bool, within: Duration) -> Answer {
    let deadline = Instant::now() + within;
    loop {
        let answer = if json {
            visitor.get_json(url).await
        } else {
            visitor.get(url).await
        };
        if answer.status == 200 {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "gateway did not recover: {} {}",
            answer.status,
            answer.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
