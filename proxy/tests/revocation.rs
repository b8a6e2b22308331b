#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Revocation, exact and bounded: a pass is refused by its expiry against the store's
//! revocation cutoff (both on the store's clock), whatever clock issued it; every revocation
//! reaches every gateway however many there are; leaving revokes the pass.

mod support;

use std::time::{Duration, Instant};

use anteroom_admission::VisitorId;
use anteroom_queue::{QueueStore, RedisOptions, RedisStore};
use support::{keyring, mint_pass, room_toml, unix_now, Backend, Gateway, Origin, Visitor};

const QUEUE_ALL: &str = "mode = \"queue-all\"\nadmit_per_second = 100.0\nmax_active = 100";

async fn revoked_count(gateway: &Gateway) -> f64 {
    gateway
        .metric("anteroom_pass_rejected_total", &["reason=\"revoked\""])
        .await
}

/// A request carrying only this pass: 200 from the origin if it is accepted.
async fn with_pass(gateway: &Gateway, pass: &str) -> u16 {
    let mut bearer = Visitor {
        vid: None,
        pass: Some(pass.to_string()),
    };
    bearer.get_json(&gateway.url("/tour/x")).await.status
}

async fn admin_revoke(gateway: &Gateway, visitor: &str) {
    let response = support::client()
        .post(gateway.admin_url("/v1/rooms/tour/revoke"))
        .bearer_auth(support::ADMIN_TOKEN)
        .json(&serde_json::json!({ "visitor": visitor }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_issued_just_before_a_revoke_is_refused_whatever_clock_issued_it() {
    let origin = Origin::start().await;
    let rooms = room_toml("tour", origin.addr, &["/tour"], QUEUE_ALL);
    let redis = Backend::redis();
    let gateway = Gateway::start(&redis, &rooms, "").await;
    let mut fan = Visitor::new();
    fan.wait_admitted(&gateway, "tour", Duration::from_secs(5))
        .await;
    let pass = fan.pass.clone().unwrap();
    let claims = keyring().verify_pass(&pass, "tour", unix_now()).unwrap();
    // The same session's pass as another gateway whose clock runs 3 s ahead would have
    // issued it a moment before the revocation.
    let from_a_fast_clock = mint_pass(
        "tour",
        claims.visitor,
        claims.issued_at + 3,
        claims.expires_at,
    );
    assert_eq!(with_pass(&gateway, &from_a_fast_clock).await, 200);
    assert_eq!(with_pass(&gateway, &pass).await, 200);

    admin_revoke(&gateway, &claims.visitor.to_hex()).await;

    assert_eq!(with_pass(&gateway, &pass).await, 429);
    assert_eq!(
        with_pass(&gateway, &from_a_fast_clock).await,
        429,
        "a pass issued before the revocation is refused whatever its issue time says"
    );
    assert_eq!(revoked_count(&gateway).await, 2.0);
    assert_eq!(origin.seen().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_revokes_the_pass() {
    let origin = Origin::start().await;
    let rooms = room_toml("tour", origin.addr, &["/tour"], QUEUE_ALL);
    let backend = Backend::memory();
    let gateway = Gateway::start(&backend, &rooms, "").await;
    let mut fan = Visitor::new();
    fan.wait_admitted(&gateway, "tour", Duration::from_secs(5))
        .await;
    let pass = fan.pass.clone().unwrap();
    assert_eq!(fan.get(&gateway.url("/tour/cart")).await.status, 200);

    let left = fan.leave(&gateway, "tour").await;
    assert_eq!(left.status, 200);
    assert_eq!(left.json()["left"], true);
    assert_eq!(fan.pass, None, "the pass cookie is dropped");

    // Kept anyway (a copy, an app that stored it): refused at once, counted as revoked.
    assert_eq!(with_pass(&gateway, &pass).await, 429);
    assert_eq!(revoked_count(&gateway).await, 1.0);
    assert_eq!(origin.seen().len(), 1, "only the request before leaving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_and_one_revocations_are_all_enforced() {
    const TOTAL: u64 = 10_001;
    let origin = Origin::start().await;
    let rooms = room_toml("tour", origin.addr, &["/tour"], QUEUE_ALL);
    let redis = Backend::redis();
    let Backend::Redis(server) = &redis else {
        unreachable!()
    };
    let gateway = Gateway::start(&redis, &rooms, "").await;
    let store = std::sync::Arc::new(
        RedisStore::connect(&server.url(), RedisOptions::default())
            .await
            .unwrap(),
    );
    let visitor = |n: u64| {
        let mut bytes = [0x5e; 16];
        bytes[8..].copy_from_slice(&n.to_be_bytes());
        VisitorId(bytes)
    };
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for n in (t..TOTAL - 1).step_by(8) {
                store.revoke("tour", visitor(n)).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // The 10,001st, last of all: the newest entry of the log.
    store.revoke("tour", visitor(TOTAL - 1)).await.unwrap();
    let now = unix_now();
    let pass_of = |n: u64| mint_pass("tour", visitor(n), now, now + 60);
    // The newest revocations reach the gateway too (the list used to stop at the oldest
    // 10,000), within a refresh or a few.
    let deadline = Instant::now() + Duration::from_secs(10);
    while with_pass(&gateway, &pass_of(TOTAL - 1)).await != 429 {
        assert!(
            Instant::now() < deadline,
            "the newest revocation never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for n in [0, 1, 5_000, 9_999, 10_000, TOTAL - 1] {
        assert_eq!(with_pass(&gateway, &pass_of(n)).await, 429, "visitor {n}");
    }
    assert_eq!(
        with_pass(&gateway, &pass_of(TOTAL + 1)).await,
        200,
        "a visitor never revoked still passes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_and_runtime_flags_survive_a_flush() {
    let origin = Origin::start().await;
    let rooms = room_toml("tour", origin.addr, &["/tour"], QUEUE_ALL);
    let redis = Backend::redis();
    let Backend::Redis(server) = &redis else {
        unreachable!()
    };
    let first = Gateway::start(&redis, &rooms, "").await;
    let mut fan = Visitor::new();
    fan.wait_admitted(&first, "tour", Duration::from_secs(5))
        .await;
    let pass = fan.pass.clone().unwrap();
    let claims = keyring().verify_pass(&pass, "tour", unix_now()).unwrap();
    admin_revoke(&first, &claims.visitor.to_hex()).await;
    first
        .admin_patch(
            "tour",
            serde_json::json!({"paused": true, "sold_out": true, "message": "all gone"}),
        )
        .await;

    server.flushall();

    // The gateway notices within a tick and seeds the room from what it last saw.
    let store = RedisStore::connect(&server.url(), RedisOptions::default())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let settings = loop {
        if let Ok(settings) = store.settings("tour").await {
            break settings;
        }
        assert!(Instant::now() < deadline, "the room was never re-seeded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(settings.paused, "paused survives the flush");
    assert!(settings.sold_out, "sold out survives the flush");
    assert_eq!(settings.message.as_deref(), Some("all gone"));
    assert_eq!(
        settings.admit_per_second, 100.0,
        "configured knobs as they were"
    );

    // A gateway that starts only now learns the revocation from the store.
    let second = Gateway::start(&redis, &rooms, "").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while with_pass(&second, &pass).await == 200 {
        assert!(
            Instant::now() < deadline,
            "the revocation was lost in the flush"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(revoked_count(&second).await >= 1.0);
    assert_eq!(second.admin_room("tour").await["sold_out"], true);
}
