//! Resilience: when Redis goes away, admitted visitors keep shopping (passes are verified
//! locally), newcomers get a clear 503 with Retry-After (the cap fails closed), and the
//! gateway recovers by itself when Redis returns — even one that lost every key.

mod support;

use std::time::{Duration, Instant};

use support::{room_toml, Gateway, Origin, Visitor};

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
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut fresh = Visitor::new();
        let answer = fresh.get(&gateway.url("/tour")).await;
        if answer.status == 200 {
            assert_eq!(answer.body, "origin:/tour");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "gateway did not recover: {} {}",
            answer.status,
            answer.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen_by_origin = origin.seen().len();
    assert_eq!(
        seen_by_origin, 5,
        "1 + 3 admitted requests + 1 after recovery"
    );
}
