//! The live seat map: a viewer gets the whole map, then every change — holds made here at
//! once, expiries within the poll interval.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod service_support;

use std::time::Duration;

use anteroom_admission::VisitorId;
use futures_util::StreamExt;
use serde_json::Value;
use service_support::{pass_for, with_redis_and_postgres, Api, ROOM};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn viewer(api: &Api, event: &str) -> Socket {
    let url = api
        .url(&format!("/v1/events/{event}/seats/ws"))
        .replace("http://", "ws://");
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "x-anteroom-pass",
        pass_for(VisitorId::random(), ROOM).parse().unwrap(),
    );
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("ws upgrade");
    socket
}

async fn next(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a message within 5 s")
            .expect("socket open")
            .expect("no socket error");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// Wait for the change of `seat` (other seats' changes may come first).
async fn change_of(socket: &mut Socket, seat: &str) -> String {
    loop {
        let message = next(socket).await;
        if message["type"] == "change" && message["seat"] == seat {
            return message["state"].as_str().unwrap().to_string();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_see_every_seat_change() {
    // Holds last 2 s: long enough that the "held" push cannot be overtaken by the expiry on
    // a loaded machine, short enough to watch the expiry arrive.
    let api = with_redis_and_postgres(2).await;
    api.create_seated_event("live", 4).await;
    let mut first = viewer(&api, "live").await;
    let mut second = viewer(&api, "live").await;
    for socket in [&mut first, &mut second] {
        let map = next(socket).await;
        assert_eq!(map["type"], "map");
        assert_eq!(map["seats"].as_array().unwrap().len(), 4);
        assert!(map["seats"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "free"));
    }

    let fan = VisitorId::random();
    let (status, hold) = api.hold("live", fan, &["S2"]).await;
    assert_eq!(status, 201);
    assert_eq!(change_of(&mut first, "S2").await, "held");
    assert_eq!(change_of(&mut second, "S2").await, "held");

    // The hold expires by itself: the viewers are told.
    assert_eq!(change_of(&mut first, "S2").await, "free");

    let (_, hold2) = api.hold("live", fan, &["S3"]).await;
    let (status, _) = api
        .confirm(fan, hold2["hold_id"].as_str().unwrap(), "live-key")
        .await;
    assert_eq!(status, 201);
    let mut states = Vec::new();
    while states.last().map(String::as_str) != Some("booked") {
        states.push(change_of(&mut second, "S3").await);
    }
    assert!(hold["hold_id"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seat_map_socket_needs_a_pass() {
    let api = with_redis_and_postgres(300).await;
    api.create_seated_event("closed", 2).await;
    let url = api
        .url("/v1/events/closed/seats/ws")
        .replace("http://", "ws://");
    let refused = tokio_tungstenite::connect_async(url).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!("expected a 401, got {:?}", other.map(|_| ())),
    }
}
