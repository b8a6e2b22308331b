//! The booking API's ordinary paths over real HTTP: events, releasing holds, reading a
//! booking back, general admission, and the JSON answers to calls that are not allowed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod service_support;

use anteroom_admission::VisitorId;
use serde_json::json;
use service_support::{client, embedded, pass_for, with_redis_and_postgres, Api};

async fn release_and_read_back(api: Api) {
    api.create_seated_event("flow", 4).await;
    let fan = VisitorId::random();
    let stranger = VisitorId::random();

    let (status, hold) = api.hold("flow", fan, &["S1", "S0"]).await;
    assert_eq!(status, 201, "{hold}");
    assert_eq!(hold["seats"], json!(["S0", "S1"]), "sorted");
    assert!(hold["fencing_token"].as_u64().is_some());
    let expires_at = hold["expires_at"].as_u64().expect("unix ms");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        expires_at > now_ms + 200_000 && expires_at < now_ms + 400_000,
        "ttl 300 s"
    );
    let hold_id = hold["hold_id"].as_str().unwrap().to_string();
    let path = format!("/v1/holds/{hold_id}");

    assert_eq!(api.delete(&path, stranger).await, 404, "not theirs");
    assert_eq!(api.seat_map("flow").await[0].1, "held");
    assert_eq!(api.delete(&path, fan).await, 204);
    assert!(api
        .seat_map("flow")
        .await
        .iter()
        .all(|(_, state)| state == "free"));
    assert_eq!(api.delete(&path, fan).await, 404, "already released");
    let (status, body) = api.confirm(fan, &hold_id, "released").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("hold_expired"))
    );

    let (_, hold) = api.hold("flow", fan, &["S3"]).await;
    let (status, booking) = api
        .confirm(fan, hold["hold_id"].as_str().unwrap(), "read-back")
        .await;
    assert_eq!(status, 201, "{booking}");
    let id = booking["booking_id"].as_str().unwrap();
    let (status, shown) = api.get(&format!("/v1/bookings/{id}"), Some(fan)).await;
    assert_eq!(status, 200);
    assert_eq!(shown, booking);
    let (status, body) = api.get(&format!("/v1/bookings/{id}"), Some(stranger)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_booking"))
    );
    let (status, _) = api.get(&format!("/v1/bookings/{id}"), None).await;
    assert_eq!(status, 401);
    let (status, _) = api.get("/v1/bookings/not-a-booking", Some(fan)).await;
    assert_eq!(status, 404);
    // A booked seat is gone for good, also for its buyer.
    let (status, body) = api.hold("flow", fan, &["S3"]).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("seat_taken")));

    // Cancelled, the booking's hold buys nothing under a new key; its own key replays the
    // answer with the status as it now is.
    let (status, _, cancelled) = api
        .post(
            &format!("/v1/bookings/{id}/cancel"),
            fan,
            json!({}),
            Some("undo"),
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    let bought_hold = hold["hold_id"].as_str().unwrap();
    let (status, body) = api.confirm(fan, bought_hold, "after-cancel").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("hold_expired")),
        "{body}"
    );
    let (status, replay) = api.confirm(fan, bought_hold, "read-back").await;
    assert_eq!(
        (status, replay["status"].as_str()),
        (201, Some("cancelled"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_postgres_release_and_read_back() {
    release_and_read_back(with_redis_and_postgres(300).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_release_and_read_back() {
    release_and_read_back(embedded(300).await).await;
}

async fn general_admission(api: Api) {
    let (status, _) = api
        .create_event(json!({"id": "field", "capacity": 5, "room": "tour"}))
        .await;
    assert_eq!(status, 201);
    let fan = VisitorId::random();
    let other = VisitorId::random();
    let (status, map) = api.get("/v1/events/field/seats", Some(fan)).await;
    assert_eq!(status, 200);
    assert_eq!(map, json!({"capacity": 5, "available": 5, "sold": 0}));

    let (status, _, hold) = api
        .post("/v1/events/field/holds", fan, json!({"quantity": 3}), None)
        .await;
    assert_eq!(status, 201, "{hold}");
    assert_eq!(hold["quantity"], 3);
    assert_eq!(hold["seats"], json!([]));
    let (status, _, body) = api
        .post(
            "/v1/events/field/holds",
            other,
            json!({"quantity": 3}),
            None,
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "not_enough_left");
    assert_eq!(body["available"], 2);
    let (status, _, body) = api
        .post(
            "/v1/events/field/holds",
            other,
            json!({"seats": ["A1"]}),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );

    let (status, booking) = api
        .confirm(fan, hold["hold_id"].as_str().unwrap(), "ga")
        .await;
    assert_eq!(status, 201, "{booking}");
    assert_eq!(booking["quantity"], 3);
    let (_, map) = api.get("/v1/events/field/seats", Some(other)).await;
    assert_eq!(map, json!({"capacity": 5, "available": 2, "sold": 3}));
    assert_eq!(api.ledger.sold("field").await.unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_postgres_general_admission() {
    general_admission(with_redis_and_postgres(300).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_general_admission() {
    general_admission(embedded(300).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_events() {
    let api = embedded(300).await;
    let spec = json!({"id": "ev", "seats": ["A1", "A2"], "room": "tour"});
    assert_eq!(api.create_event(spec.clone()).await.0, 201);
    let (status, body) = api.create_event(spec).await;
    assert_eq!(status, 200, "identical: already there");
    assert_eq!(body["seats"], json!(["A1", "A2"]));
    for (spec, status, code) in [
        (
            json!({"id": "ev", "seats": ["A1"], "room": "tour"}),
            409,
            "event_exists",
        ),
        (
            json!({"id": "bad id!", "capacity": 3, "room": "tour"}),
            422,
            "invalid_request",
        ),
        (
            json!({"id": "x", "seats": ["A1"], "capacity": 3, "room": "tour"}),
            400,
            "invalid_request",
        ),
        (json!({"id": "x", "room": "tour"}), 400, "invalid_request"),
        (
            json!({"id": "x", "capacity": 0, "room": "tour"}),
            400,
            "invalid_request",
        ),
        (
            json!({"id": "x", "seats": ["A1", "A1"], "room": "tour"}),
            400,
            "invalid_request",
        ),
        (
            json!({"id": "x", "seats": ["no spaces"], "room": "tour"}),
            422,
            "invalid_request",
        ),
        (
            json!({"id": "x", "capacity": 3, "extra": 1}),
            400,
            "invalid_json",
        ),
    ] {
        let (got, body) = api.create_event(spec.clone()).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(code)),
            "{spec}"
        );
    }
    let response = client()
        .post(api.url("/v1/events"))
        .bearer_auth("wrong-token")
        .json(&json!({"id": "y", "capacity": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // Every event names its room: without one, a pass of any room could book it.
    for spec in [
        json!({"id": "open", "seats": ["A1"]}),
        json!({"id": "open", "capacity": 5, "room": " "}),
    ] {
        let (status, body) = api.create_event(spec.clone()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("room_required")),
            "{spec}"
        );
        assert!(body["detail"].as_str().unwrap().contains("room"), "{body}");
    }
    assert_eq!(
        api.get("/v1/events/open/seats", Some(VisitorId::random()))
            .await
            .0,
        404,
        "nothing was created"
    );
    // A pass of another room is no pass for the event.
    let response = client()
        .get(api.url("/v1/events/ev/seats"))
        .header(
            "x-anteroom-pass",
            pass_for(VisitorId::random(), "elsewhere"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_json_and_401_comes_first() {
    let api = embedded(300).await;
    api.create_seated_event("json", 2).await;
    let fan = VisitorId::random();
    // Without a pass nothing is looked up: unknown or not, the answer is 401.
    for path in [
        "/v1/events/nope/seats",
        "/v1/events/json/seats",
        "/v1/bookings/0123456789abcdef0123456789abcdef",
    ] {
        let (status, body) = api.get(path, None).await;
        assert_eq!(status, 401, "{path}");
        assert_eq!(body["error"], "unauthorized");
    }
    // A hold of an event that does not exist is no live hold.
    let (status, body) = api
        .confirm(fan, "0123456789abcdef0123456789abcdef.nope", "k")
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("hold_expired"))
    );

    // Wrong method: 405 with a JSON body.
    let response = client()
        .delete(api.url("/v1/events/json/seats"))
        .header("x-anteroom-pass", pass_for(fan, "tour"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "method_not_allowed");

    // The WebSocket endpoint called as plain HTTP.
    let (status, body) = api.get("/v1/events/json/seats/ws", Some(fan)).await;
    assert!((400..500).contains(&status), "{status}");
    assert_eq!(body["error"], "websocket_required");

    // A malformed booking id or hold id is simply unknown.
    let (status, body) = api.get("/v1/bookings/%FF%FE", Some(fan)).await;
    assert!(status == 400 || status == 404, "{status}");
    assert!(body["error"].is_string());
    assert_eq!(api.delete("/v1/holds/not-a-hold", fan).await, 404);
}
