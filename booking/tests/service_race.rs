//! The booking API's acceptance races, over real HTTP: 2,000 fans for 50 seats, then one
//! confirmed booking per seat in the database; ten taps of the same Idempotency-Key.
//! Run on Redis + PostgreSQL, and on the embedded memory + SQLite.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod service_support;

use std::collections::{HashMap, HashSet};

use anteroom_admission::VisitorId;
use service_support::{embedded, with_redis_and_postgres, Api};

async fn two_thousand_fans_fifty_seats(api: Api) {
    let seats = api.create_seated_event("race", 50).await;
    let api = std::sync::Arc::new(api);
    let mut attempts = Vec::new();
    for i in 0..2000 {
        let api = api.clone();
        let seat = seats[i % 50].clone();
        attempts.push(tokio::spawn(async move {
            let fan = VisitorId::random();
            let (status, body) = api.hold("race", fan, &[&seat]).await;
            (fan, status, body)
        }));
    }
    let mut winners: HashMap<String, (VisitorId, String)> = HashMap::new();
    let mut refused = 0;
    for attempt in attempts {
        let (fan, status, body) = attempt.await.unwrap();
        match status {
            201 => {
                let seat = body["seats"][0].as_str().unwrap().to_string();
                let hold = body["hold_id"].as_str().unwrap().to_string();
                assert!(
                    winners.insert(seat.clone(), (fan, hold)).is_none(),
                    "{seat} held twice"
                );
            }
            409 => {
                assert_eq!(body["error"], "seat_taken");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(winners.len(), 50, "exactly 50 holds");
    assert_eq!(refused, 1950);

    for (seat, (fan, hold)) in &winners {
        let (status, body) = api.confirm(*fan, hold, &format!("key-{seat}")).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["status"], "confirmed");
    }
    let booked: HashSet<String> = api
        .ledger
        .booked_seats("race")
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(booked, seats.iter().cloned().collect::<HashSet<_>>());
    if let Some(postgres) = &api.postgres {
        let rows = postgres
            .query(
                "SELECT count(*) FROM booking_seats WHERE event = 'race' AND status = 'confirmed'",
            )
            .unwrap();
        assert_eq!(
            rows[0][0].as_deref(),
            Some("50"),
            "one confirmed row per seat"
        );
    }
    assert!(api
        .seat_map("race")
        .await
        .iter()
        .all(|(_, state)| state == "booked"));
}

async fn ten_taps_of_one_key_make_one_booking(api: Api) {
    api.create_seated_event("tap", 5).await;
    let fan = VisitorId::random();
    let (status, hold) = api.hold("tap", fan, &["S1", "S2"]).await;
    assert_eq!(status, 201, "{hold}");
    let hold_id = hold["hold_id"].as_str().unwrap().to_string();
    let api = std::sync::Arc::new(api);
    let taps: Vec<_> = (0..10)
        .map(|_| {
            let (api, hold_id) = (api.clone(), hold_id.clone());
            tokio::spawn(async move { api.confirm(fan, &hold_id, "double-tap").await })
        })
        .collect();
    let mut answers = Vec::new();
    for tap in taps {
        let (status, body) = tap.await.unwrap();
        assert_eq!(status, 201, "{body}");
        answers.push(body);
    }
    assert!(
        answers.windows(2).all(|pair| pair[0] == pair[1]),
        "ten identical answers"
    );
    assert_eq!(answers[0]["seats"], serde_json::json!(["S1", "S2"]));
    // And later, after the hold is long consumed, still the same answer.
    let (status, again) = api.confirm(fan, &hold_id, "double-tap").await;
    assert_eq!(status, 201);
    assert_eq!(again, answers[0]);
    if let Some(postgres) = &api.postgres {
        let rows = postgres
            .query("SELECT count(DISTINCT booking_id) FROM booking_seats WHERE event = 'tap'")
            .unwrap();
        assert_eq!(
            rows[0][0].as_deref(),
            Some("1"),
            "one booking in the database"
        );
    }
    assert_eq!(api.ledger.sold("tap").await.unwrap(), 2);
}

/// One general-admission hold, ten taps each with its own Idempotency-Key (a client that
/// makes a new key per tap): one booking, every tap answered with it, the places sold once.
async fn ten_keys_on_one_ga_hold_make_one_booking(api: Api) {
    let (status, body) = api
        .create_event(
            serde_json::json!({"id": "ga-keys", "capacity": 10, "room": service_support::ROOM}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let fan = VisitorId::random();
    let (status, _, hold) = api
        .post(
            "/v1/events/ga-keys/holds",
            fan,
            serde_json::json!({"quantity": 3}),
            None,
        )
        .await;
    assert_eq!(status, 201, "{hold}");
    let hold_id = hold["hold_id"].as_str().unwrap().to_string();
    let api = std::sync::Arc::new(api);
    let taps: Vec<_> = (0..10)
        .map(|i| {
            let (api, hold_id) = (api.clone(), hold_id.clone());
            tokio::spawn(async move { api.confirm(fan, &hold_id, &format!("tap-{i}")).await })
        })
        .collect();
    let mut ids = HashSet::new();
    for tap in taps {
        let (status, body) = tap.await.unwrap();
        assert_eq!(status, 201, "{body}");
        ids.insert(body["booking_id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 1, "every key answered with the one booking");
    // A new key later, with the hold long consumed: still that booking.
    let (status, later) = api.confirm(fan, &hold_id, "tap-later").await;
    assert_eq!(status, 201, "{later}");
    assert!(ids.contains(later["booking_id"].as_str().unwrap()));
    assert_eq!(api.ledger.sold("ga-keys").await.unwrap(), 3, "sold once");
    if let Some(postgres) = &api.postgres {
        let rows = postgres
            .query(&format!(
                "SELECT count(*) FROM bookings WHERE hold_id = '{hold_id}'"
            ))
            .unwrap();
        assert_eq!(rows[0][0].as_deref(), Some("1"), "one row in PostgreSQL");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_postgres_ten_keys_one_ga_hold_one_booking() {
    ten_keys_on_one_ga_hold_make_one_booking(with_redis_and_postgres(300).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_ten_keys_one_ga_hold_one_booking() {
    ten_keys_on_one_ga_hold_make_one_booking(embedded(300).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_postgres_2000_fans_for_50_seats() {
    two_thousand_fans_fifty_seats(with_redis_and_postgres(300).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_2000_fans_for_50_seats() {
    two_thousand_fans_fifty_seats(embedded(300).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_postgres_ten_taps_one_booking() {
    ten_taps_of_one_key_make_one_booking(with_redis_and_postgres(300).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_ten_taps_one_booking() {
    ten_taps_of_one_key_make_one_booking(embedded(300).await).await;
}
