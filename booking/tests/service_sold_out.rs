//! Sold out early, and what the hold store re-learns from the ledger: the last seat sold
//! marks the gateway room `sold_out` in the shared queue store; a service starting after a
//! Redis flush (or after the room appeared) catches up from the ledger.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod service_support;

use std::sync::Arc;

use anteroom_admission::VisitorId;
use anteroom_booking::service::watch_hold_store;
use anteroom_queue::{MemoryStore, QueueStore};
use serde_json::json;
use service_support::{
    embedded_with_rooms, eventually, room_settings, serve_service, service,
    with_redis_and_postgres, with_redis_postgres_and_rooms, Api, ROOM,
};

async fn sold_out(api: &Api, room: &str) -> bool {
    api.rooms
        .as_ref()
        .unwrap()
        .settings(room)
        .await
        .unwrap()
        .sold_out
}

/// Book `seats` for one fan (hold + confirm); asserts both succeed.
async fn buy(api: &Api, event: &str, seats: &[&str], key: &str) {
    let fan = VisitorId::random();
    let (status, hold) = api.hold(event, fan, seats).await;
    assert_eq!(status, 201, "{hold}");
    let (status, booking) = api
        .confirm(fan, hold["hold_id"].as_str().unwrap(), key)
        .await;
    assert_eq!(status, 201, "{booking}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_seat_sold_marks_the_room_sold_out_in_the_shared_store() {
    let api = with_redis_postgres_and_rooms(300).await;
    let rooms = api.rooms.clone().unwrap();
    rooms.init_room(ROOM, &room_settings()).await.unwrap();
    api.create_seated_event("last", 3).await;

    buy(&api, "last", &["S0", "S1"], "k1").await;
    assert!(!sold_out(&api, ROOM).await, "one seat is still for sale");
    buy(&api, "last", &["S2"], "k2").await;
    assert!(
        sold_out(&api, ROOM).await,
        "every seat sold: the line is told"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn general_admission_sold_out_reaches_the_gateways_own_store() {
    // One process (`anteroom demo`): the gateway's memory store is handed in.
    let rooms: Arc<dyn QueueStore> = Arc::new(MemoryStore::new());
    rooms.init_room(ROOM, &room_settings()).await.unwrap();
    let api = embedded_with_rooms(300, Some(rooms)).await;
    let (status, body) = api
        .create_event(json!({"id": "ga", "capacity": 3, "room": ROOM}))
        .await;
    assert_eq!(status, 201, "{body}");
    let fan = VisitorId::random();
    let (status, _, hold) = api
        .post("/v1/events/ga/holds", fan, json!({"quantity": 3}), None)
        .await;
    assert_eq!(status, 201, "{hold}");
    assert!(!sold_out(&api, ROOM).await, "held is not sold");
    let (status, booking) = api
        .confirm(fan, hold["hold_id"].as_str().unwrap(), "ga-key")
        .await;
    assert_eq!(status, 201, "{booking}");
    assert_eq!(booking["quantity"], 3);
    assert!(sold_out(&api, ROOM).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_unknown_when_the_event_sold_out_is_marked_at_the_next_start() {
    let api = with_redis_postgres_and_rooms(300).await;
    api.create_seated_event("early", 1).await;
    // The gateway has not registered the room yet: the sale goes through regardless.
    buy(&api, "early", &["S0"], "k").await;
    let rooms = api.rooms.clone().unwrap();
    assert!(rooms.settings(ROOM).await.is_err(), "room not registered");

    rooms.init_room(ROOM, &room_settings()).await.unwrap();
    assert!(!sold_out(&api, ROOM).await);
    // A restarted service catches up from the ledger.
    service(api.holds.clone(), api.ledger.clone(), 300, Some(rooms)).await;
    assert!(sold_out(&api, ROOM).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_flush_a_restarted_service_refuses_sold_seats_at_hold_time() {
    let api = with_redis_and_postgres(300).await;
    api.create_seated_event("relearn", 3).await;
    buy(&api, "relearn", &["S0", "S1"], "k").await;
    let (status, body) = api
        .create_event(json!({"id": "relearn-ga", "capacity": 4, "room": ROOM}))
        .await;
    assert_eq!(status, 201, "{body}");

    api.redis.as_ref().unwrap().flushall();

    // Without a restart, general admission records its capacity again on the next hold.
    let fan = VisitorId::random();
    let (status, _, hold) = api
        .post(
            "/v1/events/relearn-ga/holds",
            fan,
            json!({"quantity": 1}),
            None,
        )
        .await;
    assert_eq!(status, 201, "{hold}");

    // A service starting now re-learns the booked seats from the ledger...
    let restarted = service(api.holds.clone(), api.ledger.clone(), 300, None).await;
    let restarted = serve_service(
        restarted,
        api.holds.clone(),
        api.ledger.clone(),
        None,
        None,
        None,
    )
    .await;
    // ...so a sold seat is refused when held, not only when confirmed.
    let (status, body) = restarted
        .hold("relearn", VisitorId::random(), &["S1", "S2"])
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "seat_taken");
    assert_eq!(body["seats"], json!(["S1"]));
    let map = restarted.seat_map("relearn").await;
    assert_eq!(
        map.iter()
            .map(|(_, state)| state.as_str())
            .collect::<Vec<_>>(),
        ["booked", "booked", "free"]
    );
    assert_eq!(api.ledger.sold("relearn").await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_while_running_is_detected_and_the_ledger_taught_again() {
    let api = with_redis_postgres_and_rooms(300).await;
    let rooms = api.rooms.clone().unwrap();
    rooms.init_room(ROOM, &room_settings()).await.unwrap();
    let watcher = watch_hold_store(&api.service, std::time::Duration::from_millis(100));
    api.create_seated_event("flush-seats", 2).await;
    buy(&api, "flush-seats", &["S0"], "seat-key").await;
    let (status, body) = api
        .create_event(json!({"id": "flush-ga", "capacity": 5, "room": ROOM}))
        .await;
    assert_eq!(status, 201, "{body}");
    api.buy_quantity("flush-ga", 3, "ga-key").await;
    api.buy_quantity("flush-ga", 2, "ga-key-2").await;
    assert!(sold_out(&api, ROOM).await, "every GA place sold");

    // Everything in Redis goes: holds, booked seats, GA counters, the gateway's rooms.
    api.redis.as_ref().unwrap().flushall();
    // The watcher notices (the sentinel is gone) and re-teaches the hold store...
    let holds = api.holds.clone();
    assert!(
        eventually(std::time::Duration::from_secs(10), || {
            let holds = holds.clone();
            async move { holds.intact().await.unwrap_or(false) }
        })
        .await,
        "the flush was never noticed"
    );
    // ...GA from what was sold: nothing left, not the whole capacity again.
    assert_eq!(api.holds.available("flush-ga").await.unwrap(), 0);
    let (status, body) = api.hold_quantity("flush-ga", VisitorId::random(), 1).await;
    assert_eq!(
        (status, &body["error"]),
        (409, &json!("not_enough_left")),
        "{body}"
    );
    // ...seated: the sold seat is refused at hold time, the free one is not.
    let (status, body) = api.hold("flush-seats", VisitorId::random(), &["S0"]).await;
    assert_eq!(
        (status, &body["error"]),
        (409, &json!("seat_taken")),
        "{body}"
    );
    let (status, body) = api.hold("flush-seats", VisitorId::random(), &["S1"]).await;
    assert_eq!(status, 201, "{body}");

    // The gateway re-seeds its room after the flush (without the mark): the booking
    // service marks it sold out again from the ledger.
    rooms.init_room(ROOM, &room_settings()).await.unwrap();
    assert!(
        eventually(std::time::Duration::from_secs(10), || async {
            sold_out(&api, ROOM).await
        })
        .await,
        "sold_out was not re-asserted after the flush"
    );
    watcher.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn places_held_until_they_expire_are_not_sold_out() {
    let api = with_redis_postgres_and_rooms(1).await;
    let rooms = api.rooms.clone().unwrap();
    rooms.init_room(ROOM, &room_settings()).await.unwrap();
    let (status, body) = api
        .create_event(json!({"id": "expiring", "capacity": 2, "room": ROOM}))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, hold) = api.hold_quantity("expiring", VisitorId::random(), 2).await;
    assert_eq!(status, 201, "{hold}");
    assert_eq!(api.holds.available("expiring").await.unwrap(), 0);
    assert!(!sold_out(&api, ROOM).await, "held is not sold");
    // The holds lapse unconfirmed: the places come back and the line stays open.
    let holds = api.holds.clone();
    assert!(
        eventually(std::time::Duration::from_secs(10), || {
            let holds = holds.clone();
            async move { holds.available("expiring").await.ok() == Some(2) }
        })
        .await
    );
    api.service.check_hold_store().await;
    assert!(!sold_out(&api, ROOM).await, "expired holds sold nothing");
    // The sale then ends right: the last places confirmed mark the room.
    api.buy_quantity("expiring", 2, "last").await;
    assert!(sold_out(&api, ROOM).await);
}
