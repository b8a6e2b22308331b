//! The booking API when things go wrong: expired holds, bad passes, bad input, a Redis
//! flush (the database wins) and a PostgreSQL restart (503, then retries succeed).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod service_support;

use std::time::{Duration, Instant};

use anteroom_admission::VisitorId;
use serde_json::json;
use service_support::{client, embedded, pass_for, with_redis_and_postgres, ADMIN, ROOM};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_hold_cannot_confirm_and_its_seat_is_free_again() {
    let api = with_redis_and_postgres(1).await;
    api.create_seated_event("exp", 3).await;
    let fan = VisitorId::random();
    let (status, hold) = api.hold("exp", fan, &["S0"]).await;
    assert_eq!(status, 201);
    let deadline = Instant::now() + Duration::from_secs(5);
    while api.seat_map("exp").await[0].1 != "free" {
        assert!(Instant::now() < deadline, "the hold never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = api
        .confirm(fan, hold["hold_id"].as_str().unwrap(), "late")
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "hold_expired");
    assert_eq!(api.ledger.sold("exp").await.unwrap(), 0);
    // Someone else's hold is not yours to confirm either.
    let (_, theirs) = api.hold("exp", VisitorId::random(), &["S1"]).await;
    let (status, body) = api
        .confirm(fan, theirs["hold_id"].as_str().unwrap(), "foreign")
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("hold_expired"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_pass_or_a_forged_pass_gets_401() {
    let api = embedded(300).await;
    api.create_seated_event("auth", 3).await;
    let forged = {
        let ring = anteroom_admission::Keyring::new(
            "k1",
            vec![("k1".into(), b"some-other-secret-0123456789abcdef".to_vec())],
        )
        .unwrap();
        ring.issue_pass(&anteroom_admission::PassClaims {
            room: ROOM.into(),
            visitor: VisitorId::random(),
            issued_at: 0,
            expires_at: u64::MAX / 2,
        })
    };
    let other_room = pass_for(VisitorId::random(), "another-room");
    for pass in [
        None,
        Some(forged.as_str()),
        Some(other_room.as_str()),
        Some("garbage"),
    ] {
        let mut request = client()
            .post(api.url("/v1/events/auth/holds"))
            .json(&json!({"seats": ["S0"]}));
        if let Some(pass) = pass {
            request = request.header("x-anteroom-pass", pass);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");
    }
    // The cookie works like the header.
    let response = client()
        .get(api.url("/v1/events/auth/seats"))
        .header(
            "cookie",
            format!("anteroom_pass={}", pass_for(VisitorId::random(), ROOM)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Creating events needs the admin token, not a pass.
    let response = client()
        .post(api.url("/v1/events"))
        .header("x-anteroom-pass", pass_for(VisitorId::random(), ROOM))
        .json(&json!({"id": "x", "capacity": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_json_4xx() {
    let api = embedded(300).await;
    api.create_seated_event("bad", 10).await;
    let fan = VisitorId::random();
    let pass = pass_for(fan, ROOM);
    let send = |path: &str, body: String| {
        client()
            .post(api.url(path))
            .header("x-anteroom-pass", &pass)
            .header("content-type", "application/json")
            .body(body)
    };
    let cases = [
        (
            send("/v1/events/bad/holds", "{not json".into()),
            400,
            "invalid_json",
        ),
        (
            send("/v1/events/nope/holds", r#"{"seats":["S0"]}"#.into()),
            404,
            "unknown_event",
        ),
        (
            send("/v1/events/bad/holds", r#"{"seats":["Z9"]}"#.into()),
            422,
            "unknown_seat",
        ),
        (
            send(
                "/v1/events/bad/holds",
                r#"{"seats":["S0","S1","S2","S3","S4","S5","S6"]}"#.into(),
            ),
            409,
            "too_many_seats",
        ),
        (
            send("/v1/events/bad/holds", r#"{"quantity":2}"#.into()),
            400,
            "invalid_request",
        ),
        (
            send("/v1/events/bad/holds", r#"{"seats":["S0"],"x":1}"#.into()),
            400,
            "invalid_json",
        ),
        (
            send(
                "/v1/events/bad/holds",
                format!(r#"{{"seats":["{}"]}}"#, "A".repeat(70_000)),
            ),
            413,
            "body_too_large",
        ),
        (
            send("/v1/bookings", r#"{"hold_id":"x"}"#.into()),
            400,
            "invalid_request",
        ),
        (send("/v1/nothing", "{}".into()), 404, "not_found"),
    ];
    for (request, status, code) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{code}");
        let body: serde_json::Value = response.json().await.expect("JSON error body");
        assert_eq!(body["error"], code, "{body}");
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    let response = client()
        .get(api.url("/v1/bookings"))
        .header("x-anteroom-pass", &pass)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let response = client()
        .post(api.url("/v1/events"))
        .bearer_auth(ADMIN)
        .json(&json!({"id": "bad", "capacity": 3, "room": ROOM}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409, "same id, other inventory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_redis_flush_the_database_still_refuses_a_second_sale() {
    let api = with_redis_and_postgres(300).await;
    api.create_seated_event("flush", 3).await;
    let first = VisitorId::random();
    let (_, hold) = api.hold("flush", first, &["S0"]).await;
    let (status, _) = api
        .confirm(first, hold["hold_id"].as_str().unwrap(), "first")
        .await;
    assert_eq!(status, 201);

    api.redis.as_ref().unwrap().flushall();

    // Redis forgot S0 was sold: a new fan can hold it...
    let second = VisitorId::random();
    let (status, hold) = api.hold("flush", second, &["S0"]).await;
    assert_eq!(status, 201, "{hold}");
    // ...but the database wins.
    let (status, body) = api
        .confirm(second, hold["hold_id"].as_str().unwrap(), "second")
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "seat_taken");
    let rows = api
        .postgres
        .as_ref()
        .unwrap()
        .query("SELECT count(*) FROM booking_seats WHERE event = 'flush' AND seat = 'S0'")
        .unwrap();
    assert_eq!(rows[0][0].as_deref(), Some("1"));
    // And the hold store learned it again.
    let (status, body) = api.hold("flush", VisitorId::random(), &["S0"]).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("seat_taken")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_gives_503_then_retries_succeed() {
    let mut api = with_redis_and_postgres(300).await;
    api.create_seated_event("pg", 3).await;
    let fan = VisitorId::random();
    let (_, hold) = api.hold("pg", fan, &["S0"]).await;
    let hold_id = hold["hold_id"].as_str().unwrap().to_string();

    api.postgres.as_mut().unwrap().stop();
    let (status, headers, body) = api
        .post(
            "/v1/bookings",
            fan,
            json!({"hold_id": hold_id}),
            Some("retry-me"),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert!(headers.get("retry-after").is_some());
    assert_eq!(body["error"], "unavailable");

    api.postgres.as_mut().unwrap().restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = api.confirm(fan, &hold_id, "retry-me").await;
        if status == 201 {
            assert_eq!(body["seats"], json!(["S0"]));
            break;
        }
        assert_eq!(status, 503, "only 503 while recovering: {body}");
        assert!(Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(api.ledger.sold("pg").await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_gives_503_then_sells_nothing_twice() {
    let mut api = with_redis_and_postgres(300).await;
    api.create_seated_event("crash", 3).await;
    let first = VisitorId::random();
    let (_, hold) = api.hold("crash", first, &["S0"]).await;
    let (status, _) = api
        .confirm(first, hold["hold_id"].as_str().unwrap(), "before")
        .await;
    assert_eq!(status, 201);

    // Redis crashes (its data is gone): holds cannot be taken, and say so.
    api.redis.as_mut().unwrap().stop();
    let second = VisitorId::random();
    let (status, headers, body) = api
        .post(
            "/v1/events/crash/holds",
            second,
            json!({"seats": ["S0"]}),
            None,
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert!(headers.get("retry-after").is_some());
    assert_eq!(body["error"], "unavailable");

    api.redis.as_mut().unwrap().restart();
    // Once Redis answers again, S0 (sold before the crash) may be held by the forgetful
    // store, but it cannot be sold twice.
    let deadline = Instant::now() + Duration::from_secs(20);
    let hold = loop {
        let (status, body) = api.hold("crash", second, &["S0"]).await;
        if status == 201 {
            break body;
        }
        assert_eq!(status, 503, "only 503 while reconnecting: {body}");
        assert!(Instant::now() < deadline, "never reconnected");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (status, body) = api
        .confirm(second, hold["hold_id"].as_str().unwrap(), "after")
        .await;
    assert_eq!((status, body["error"].as_str()), (409, Some("seat_taken")));
    assert_eq!(api.ledger.booked_seats("crash").await.unwrap(), ["S0"]);
    let rows = api
        .postgres
        .as_ref()
        .unwrap()
        .query("SELECT count(*) FROM booking_seats WHERE event = 'crash'")
        .unwrap();
    assert_eq!(rows[0][0].as_deref(), Some("1"), "one booking row for S0");
    // The other seats sell normally after the restart.
    let (status, hold) = api.hold("crash", second, &["S1"]).await;
    assert_eq!(status, 201, "{hold}");
    let (status, _) = api
        .confirm(second, hold["hold_id"].as_str().unwrap(), "after-2")
        .await;
    assert_eq!(status, 201);
}

/// What one confirming client ended with: retried with its own key while the answer was 503.
async fn confirm_until_answered(
    api: &service_support::Api,
    fan: VisitorId,
    hold_id: &str,
    key: &str,
    unavailable: &std::sync::atomic::AtomicUsize,
) -> (u16, serde_json::Value) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = api.confirm(fan, hold_id, key).await;
        if status != 503 {
            return (status, body);
        }
        unavailable.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        assert!(Instant::now() < deadline, "never recovered: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_mid_race_still_sells_each_seat_and_hold_once() {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let mut api = with_redis_and_postgres(300).await;
    let seats = api.create_seated_event("pg-race", 12).await;
    let (status, body) = api
        .create_event(json!({"id": "pg-ga", "capacity": 15, "room": ROOM}))
        .await;
    assert_eq!(status, 201, "{body}");
    let mut postgres = api.postgres.take().unwrap();
    let api = Arc::new(api);
    let unavailable = Arc::new(AtomicUsize::new(0));

    // 60 fans over ~3 s: each holds (a seat, two fans per seat, or 1 GA place) and
    // confirms its hold twice at once under two keys (a double tap with a fresh key).
    let fans: Vec<_> = (0..60)
        .map(|i| {
            let (api, unavailable) = (api.clone(), unavailable.clone());
            let seat = seats[i % 12].clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50 * i as u64)).await;
                let fan = VisitorId::random();
                let (status, hold) = if i % 2 == 0 {
                    api.hold("pg-race", fan, &[&seat]).await
                } else {
                    let (status, _, hold) = api
                        .post("/v1/events/pg-ga/holds", fan, json!({"quantity": 1}), None)
                        .await;
                    (status, hold)
                };
                if status != 201 {
                    return None;
                }
                let hold_id = hold["hold_id"].as_str().unwrap().to_string();
                let keys = [format!("a-{i}"), format!("b-{i}")];
                let (first, second) = tokio::join!(
                    confirm_until_answered(&api, fan, &hold_id, &keys[0], &unavailable),
                    confirm_until_answered(&api, fan, &hold_id, &keys[1], &unavailable),
                );
                Some((fan, hold_id, keys, [first, second]))
            })
        })
        .collect();
    // PostgreSQL goes down and comes back in the middle of it.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let postgres = tokio::task::spawn_blocking(move || {
        postgres.restart();
        postgres
    })
    .await
    .unwrap();

    let mut outcomes = Vec::new();
    for fan in fans {
        if let Some(outcome) = fan.await.unwrap() {
            outcomes.push(outcome);
        }
    }
    assert!(
        unavailable.load(Ordering::Relaxed) > 0,
        "the restart never hit a confirmation: the test proved nothing"
    );
    // Every client got an answer; both keys of one hold name the same booking, and asking
    // again with the same key answers the same.
    let mut bookings_per_hold: HashMap<String, String> = HashMap::new();
    for (fan, hold_id, keys, answers) in &outcomes {
        for (key, (status, body)) in keys.iter().zip(answers) {
            assert_eq!(*status, 201, "{hold_id} {key}: {body}");
            let booking = body["booking_id"].as_str().unwrap().to_string();
            let first = bookings_per_hold
                .entry(hold_id.clone())
                .or_insert_with(|| booking.clone());
            assert_eq!(*first, booking, "one hold, one booking");
            let (status, again) = api.confirm(*fan, hold_id, key).await;
            assert_eq!(
                (status, &again),
                (201, body),
                "the same key, the same answer"
            );
        }
    }
    // Counted in PostgreSQL itself.
    let scalar = |sql: &str| -> String {
        postgres.query(sql).unwrap()[0][0]
            .clone()
            .unwrap_or_default()
    };
    assert_eq!(
        scalar(
            "SELECT count(*) FROM (SELECT hold_id FROM bookings GROUP BY hold_id \
             HAVING count(*) > 1) AS twice"
        ),
        "0",
        "a hold booked twice"
    );
    assert_eq!(
        scalar(
            "SELECT count(*) FROM (SELECT seat FROM booking_seats WHERE event = 'pg-race' \
             AND status = 'confirmed' GROUP BY seat HAVING count(*) > 1) AS twice"
        ),
        "0",
        "a seat booked twice"
    );
    assert_eq!(
        scalar("SELECT count(*) FROM bookings")
            .parse::<usize>()
            .unwrap(),
        bookings_per_hold.len(),
        "one row per confirmed hold, no more"
    );
    assert_eq!(
        scalar("SELECT sold::text FROM ga_inventory WHERE event = 'pg-ga'"),
        scalar("SELECT coalesce(sum(quantity), 0)::text FROM bookings WHERE event = 'pg-ga'"),
        "GA sold counts each booking once"
    );
}
