//! Hold-attempt limits before seat-lock: per visitor and per client IP per minute, counted in
//! the bot guard's shared store (memory, or the Redis of the holds); over a limit → `429
//! too_many_attempts` + `Retry-After` and nothing held. `X-Forwarded-For` counts only from
//! `[listen] trusted_proxies`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod service_support;

use std::sync::Arc;
use std::time::Duration;

use anteroom_admission::VisitorId;
use anteroom_booking::holds::{HoldStore, MemoryHolds, RedisHolds};
use anteroom_booking::ledger::{Ledger, PostgresLedger, PostgresOptions, SqliteLedger};
use anteroom_booking::service::BookingService;
use anteroom_bot_guard::{Cidr, GuardStore, MemoryGuardStore, RedisGuardStore};
use anteroom_config::HoldsConfig;
use anteroom_queue::RedisOptions;
use anteroom_testkit::{PostgresServer, RedisServer};
use serde_json::{json, Value};
use service_support::{client, keyring, pass_for, serve_service, Api, ADMIN};

/// Per visitor 2, per IP 4 attempts a minute.
async fn api(
    holds: Arc<dyn HoldStore>,
    ledger: Arc<dyn Ledger>,
    guard: Arc<dyn GuardStore>,
    trusted: &str,
) -> Api {
    let limits = HoldsConfig {
        max_attempts_per_visitor_per_minute: 2,
        max_attempts_per_ip_per_minute: 4,
        ..HoldsConfig::default()
    };
    let service = BookingService::new(
        holds.clone(),
        ledger.clone(),
        keyring(),
        Some(ADMIN.as_bytes().to_vec()),
        limits,
        None,
    )
    .with_attempt_guard(guard, vec![Cidr::parse(trusted).unwrap()]);
    serve_service(Arc::new(service), holds, ledger, None, None, None).await
}

async fn event(api: &Api, room: &str) {
    let seats: Vec<String> = (0..8).map(|i| format!("S{i}")).collect();
    let (status, body) = api
        .create_event(json!({ "id": room, "seats": seats, "room": room }))
        .await;
    assert_eq!(status, 201, "{body}");
}

struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

/// `visitor` tries to hold `seat` of the event named like its room, with `X-Forwarded-For`.
async fn attempt(
    api: &Api,
    room: &str,
    visitor: VisitorId,
    seat: &str,
    forwarded_for: Option<&str>,
) -> Answer {
    let mut request = client()
        .post(api.url(&format!("/v1/events/{room}/holds")))
        .header("x-anteroom-pass", pass_for(visitor, room))
        .json(&json!({ "seats": [seat] }));
    if let Some(value) = forwarded_for {
        request = request.header("x-forwarded-for", value);
    }
    answer(request.send().await.unwrap()).await
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().parse().unwrap());
    Answer {
        status,
        retry_after,
        body: response.json().await.unwrap_or(Value::Null),
    }
}

fn assert_refused(answer: &Answer, whose: &str) {
    assert_eq!(answer.status, 429, "{}", answer.body);
    assert_eq!(answer.body["error"], "too_many_attempts", "{}", answer.body);
    assert!(
        answer.body["detail"].as_str().unwrap().contains(whose),
        "{}",
        answer.body
    );
    // GCRA at 2 or 4 a minute: the next attempt is 15–30 s away, rounded up to seconds.
    let seconds = answer.retry_after.expect("Retry-After");
    assert!((1..=60).contains(&seconds), "Retry-After {seconds}");
}

async fn state_of(api: &Api, room: &str, seat: &str) -> String {
    let map = api.seat_map_in(room, room).await;
    map.into_iter().find(|(s, _)| s == seat).unwrap().1
}

/// Behind an untrusted peer (the test client, 127.0.0.1, is outside 10.0.0.0/8): the visitor
/// limit, then the IP limit across visitors whatever `X-Forwarded-For` they claim.
async fn limits_from_an_untrusted_peer(api: &Api) {
    event(api, "visitor").await;
    let fan = VisitorId::random();
    for seat in ["S0", "S1"] {
        assert_eq!(attempt(api, "visitor", fan, seat, None).await.status, 201);
    }
    let third = attempt(api, "visitor", fan, "S2", None).await;
    assert_refused(&third, "by this visitor");
    assert_eq!(state_of(api, "visitor", "S2").await, "free", "nothing held");
    // The refused attempt counted against the address too (3 of 4): one more is allowed.
    let other = attempt(api, "visitor", VisitorId::random(), "S2", None).await;
    assert_eq!(other.status, 201, "another visitor is not limited");

    event(api, "ip").await;
    for (n, seat) in ["S0", "S1", "S2", "S3"].iter().enumerate() {
        let claimed = format!("198.51.100.{n}");
        let answer = attempt(api, "ip", VisitorId::random(), seat, Some(&claimed)).await;
        assert_eq!(answer.status, 201, "{}", answer.body);
    }
    let fifth = attempt(api, "ip", VisitorId::random(), "S4", Some("198.51.100.9")).await;
    assert_refused(&fifth, "from this address");
    assert_eq!(state_of(api, "ip", "S4").await, "free", "nothing held");
}

/// A new event for `room`, and four attempts (the IP limit) by four visitors, the n-th one
/// claiming to come from `client(n)`: all held.
async fn use_up_the_ip_limit(api: &Api, room: &str, client: impl Fn(usize) -> String) {
    event(api, room).await;
    for (n, seat) in ["S0", "S1", "S2", "S3"].iter().enumerate() {
        let answer = attempt(api, room, VisitorId::random(), seat, Some(&client(n))).await;
        assert_eq!(answer.status, 201, "{}", answer.body);
    }
}

/// Behind a trusted proxy: `X-Forwarded-For` names the client (its right-most untrusted
/// entry; what a client wrote further left is not believed); an IPv6 client counts by its /64.
async fn limits_behind_a_trusted_proxy(api: &Api) {
    use_up_the_ip_limit(api, "xff", |_| "198.51.100.7".to_string()).await;
    let forged = attempt(
        api,
        "xff",
        VisitorId::random(),
        "S4",
        Some("203.0.113.1, 198.51.100.7"),
    )
    .await;
    assert_refused(&forged, "from this address");
    let elsewhere = attempt(api, "xff", VisitorId::random(), "S4", Some("198.51.100.8")).await;
    assert_eq!(elsewhere.status, 201, "another client address counts apart");

    // An IPv6 client is its /64: a host picking a new address in it for every attempt
    // still has four a minute; the next /64 is another client.
    use_up_the_ip_limit(api, "v6", |n| format!("2001:db8:0:1ab::{:x}", 0x1000 + n)).await;
    let fifth = attempt(
        api,
        "v6",
        VisitorId::random(),
        "S4",
        Some("2001:db8:0:1ab:ffff:ffff:ffff:fffe"),
    )
    .await;
    assert_refused(&fifth, "from this address");
    assert_eq!(state_of(api, "v6", "S4").await, "free", "nothing held");
    let next = attempt(
        api,
        "v6",
        VisitorId::random(),
        "S4",
        Some("2001:db8:0:1ac::1"),
    )
    .await;
    assert_eq!(next.status, 201, "the next /64 counts apart: {}", next.body);
}

async fn sqlite() -> Arc<dyn Ledger> {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    ledger.migrate().await.unwrap();
    Arc::new(ledger)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_limits_hold_attempts_per_visitor_and_per_ip() {
    let guard: Arc<dyn GuardStore> = Arc::new(MemoryGuardStore::new());
    let holds: Arc<dyn HoldStore> = Arc::new(MemoryHolds::new());
    let untrusted = api(holds.clone(), sqlite().await, guard.clone(), "10.0.0.0/8").await;
    limits_from_an_untrusted_peer(&untrusted).await;
    let trusted = api(holds, sqlite().await, guard, "127.0.0.0/8").await;
    limits_behind_a_trusted_proxy(&trusted).await;
}

/// Real Redis holds and a real PostgreSQL ledger (the servers live as long as the guards).
async fn redis_and_postgres() -> (
    RedisServer,
    PostgresServer,
    Arc<dyn HoldStore>,
    Arc<dyn Ledger>,
) {
    let redis = RedisServer::start();
    let postgres = PostgresServer::start();
    let holds: Arc<dyn HoldStore> = Arc::new(
        RedisHolds::connect(&redis.url(), RedisOptions::default())
            .await
            .unwrap(),
    );
    let ledger = PostgresLedger::connect(&postgres.url(), PostgresOptions::default())
        .await
        .unwrap();
    ledger.migrate().await.unwrap();
    (redis, postgres, holds, Arc::new(ledger))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_limits_hold_attempts_per_visitor_and_per_ip() {
    let (redis, _postgres, holds, ledger) = redis_and_postgres().await;
    let guard = || async {
        Arc::new(
            RedisGuardStore::connect(&redis.url(), RedisOptions::default())
                .await
                .unwrap(),
        ) as Arc<dyn GuardStore>
    };
    // Two instances on one Redis: the limits hold for their sum.
    let untrusted = api(holds.clone(), ledger.clone(), guard().await, "10.0.0.0/8").await;
    limits_from_an_untrusted_peer(&untrusted).await;
    let trusted = api(holds, ledger, guard().await, "127.0.0.0/8").await;
    limits_behind_a_trusted_proxy(&trusted).await;
    let other_instance = api(
        untrusted.holds.clone(),
        untrusted.ledger.clone(),
        guard().await,
        "10.0.0.0/8",
    )
    .await;
    let answer = attempt(&other_instance, "ip", VisitorId::random(), "S5", None).await;
    assert_refused(&answer, "from this address");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_guard_store_lets_attempts_through() {
    let mut redis = RedisServer::start();
    let options = RedisOptions {
        command_timeout: Duration::from_millis(300),
        ..RedisOptions::default()
    };
    let guard = Arc::new(
        RedisGuardStore::connect(&redis.url(), options)
            .await
            .unwrap(),
    );
    let api = api(
        Arc::new(MemoryHolds::new()),
        sqlite().await,
        guard,
        "10.0.0.0/8",
    )
    .await;
    event(&api, "down").await;
    redis.stop();
    let answer = attempt(&api, "down", VisitorId::random(), "S0", None).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let attempts = api.service.attempts.as_ref().unwrap();
    assert_eq!(attempts.unavailable_total(), 1);
}

/// `visitor` joins the waitlist of the event named like its room: (status, body).
async fn join(api: &Api, room: &str, visitor: VisitorId) -> Answer {
    let response = client()
        .post(api.url(&format!("/v1/events/{room}/waitlist")))
        .header("x-anteroom-pass", pass_for(visitor, room))
        .send()
        .await
        .unwrap();
    answer(response).await
}

/// Joins count against the same per-visitor and per-IP limits as hold attempts, in
/// counters of their own (a visitor at its hold limit may still join, and the reverse).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waitlist_joins_are_limited_per_visitor_and_per_ip_on_redis() {
    let (redis, _postgres, holds, ledger) = redis_and_postgres().await;
    let guard = Arc::new(
        RedisGuardStore::connect(&redis.url(), RedisOptions::default())
            .await
            .unwrap(),
    );
    let api = api(holds, ledger, guard, "10.0.0.0/8").await;
    let (status, body) = api
        .create_event(json!({ "id": "line", "seats": ["S0"], "room": "line" }))
        .await;
    assert_eq!(status, 201, "{body}");
    // The buyer sells the event out (one hold attempt, then the confirmation).
    let buyer = VisitorId::random();
    let held = attempt(&api, "line", buyer, "S0", None).await;
    assert_eq!(held.status, 201, "{}", held.body);
    let booked = client()
        .post(api.url("/v1/bookings"))
        .header("x-anteroom-pass", pass_for(buyer, "line"))
        .header("idempotency-key", "buy")
        .json(&json!({ "hold_id": held.body["hold_id"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(booked.status(), 201);
    // Their next hold attempt is the last the visitor limit (2) allows; then 429.
    assert_eq!(attempt(&api, "line", buyer, "S0", None).await.status, 409);
    assert_refused(
        &attempt(&api, "line", buyer, "S0", None).await,
        "by this visitor",
    );

    // Joins have counters of their own: the buyer may still join (twice: 201 then 200),
    // and a third join is over the visitor limit.
    assert_eq!(join(&api, "line", buyer).await.status, 201);
    assert_eq!(join(&api, "line", buyer).await.status, 200);
    assert_refused(&join(&api, "line", buyer).await, "by this visitor");
    // Three joins from this address so far: one more visitor, then the address limit (4).
    assert_eq!(join(&api, "line", VisitorId::random()).await.status, 201);
    let over = join(&api, "line", VisitorId::random()).await;
    assert_refused(&over, "from this address");
    let (_, overview) = {
        let response = client()
            .get(api.url("/v1/events/line/waitlist"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };
    assert_eq!(overview["waiting"], 2, "a refused join joined nothing");
}
