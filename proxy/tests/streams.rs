//! Live status streams (SSE and WebSocket) against real `anteroom serve` processes, on the
//! memory store and on a real redis-server: the first status at once, positions that only go
//! down, the pass on admission, places kept by an open stream and freed without one, tabs
//! sharing a place, limits, metrics, and a clean end on shutdown with the place kept.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::time::{Duration, Instant};

use anteroom_admission::unix_now;
use support::stream_client::{AnyStream, Said, SseClient, WsClient};
use support::{keyring, room_toml, Backend, Gateway, Origin, Visitor};

const ROOM: &str = "live";
/// Long enough for a first status: it is sent the moment the stream opens.
const AT_ONCE: Duration = Duration::from_secs(2);

async fn gateway(backend: &Backend, origin: &Origin, room_extra: &str, extra: &str) -> Gateway {
    let rooms = room_toml(
        ROOM,
        origin.addr,
        &["/live"],
        &format!("mode = \"queue-all\"\n{room_extra}"),
    );
    Gateway::start(backend, &rooms, extra).await
}

/// A visitor who took a place (status endpoint); returns it with its cookie text.
async fn joined(gateway: &Gateway) -> (Visitor, String) {
    let mut visitor = Visitor::new();
    let answer = visitor
        .get_json(&gateway.url(&format!("/_anteroom/status?room={ROOM}")))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let cookie = format!("anteroom_vid={}", visitor.vid.clone().expect("visitor id"));
    (visitor, cookie)
}

async fn pause(gateway: &Gateway) {
    let room = gateway
        .admin_patch(ROOM, serde_json::json!({ "paused": true }))
        .await;
    assert_eq!(room["paused"], true, "{room}");
}

/// Statuses until admitted: positions never go up, the last carries a pass for this visitor.
async fn until_admitted(stream: &mut AnyStream, first: serde_json::Value) -> Vec<u64> {
    let mut positions = vec![first["position"].as_u64().expect("waiting with a position")];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            Instant::now() < deadline,
            "not admitted in time: {positions:?}"
        );
        let status = stream.status(Duration::from_secs(20)).await;
        match status["state"].as_str() {
            Some("admitted") => {
                let pass = status["pass"]
                    .as_str()
                    .expect("the pass in the admitted status");
                let claims = keyring()
                    .verify_pass(pass, ROOM, unix_now())
                    .expect("a valid pass for the room");
                let visitor = keyring()
                    .verify_visitor(status["visitor"].as_str().unwrap())
                    .unwrap();
                assert_eq!(claims.visitor, visitor);
                return positions;
            }
            Some("waiting") => {
                let position = status["position"].as_u64().unwrap();
                assert!(
                    position <= *positions.last().unwrap(),
                    "position went up: {positions:?} then {position}"
                );
                positions.push(position);
            }
            other => panic!("unexpected state {other:?}: {status}"),
        }
    }
}

async fn first_status_positions_and_pass(backend: Backend) {
    let origin = Origin::start().await;
    let gateway = gateway(
        &backend,
        &origin,
        "admit_per_second = 1\nmax_active = 1000",
        "",
    )
    .await;
    gateway.use_up_initial_burst(ROOM).await;
    let mut ahead = Vec::new();
    for _ in 0..4 {
        ahead.push(joined(&gateway).await);
    }
    let (_sse_visitor, sse_cookie) = joined(&gateway).await;
    let (_ws_visitor, ws_cookie) = joined(&gateway).await;

    let opened = Instant::now();
    let mut sse = AnyStream::open("sse", gateway.public, ROOM, Some(&sse_cookie)).await;
    let mut ws = AnyStream::open("ws", gateway.public, ROOM, Some(&ws_cookie)).await;
    let sse_first = sse.status(AT_ONCE).await;
    let ws_first = ws.status(AT_ONCE).await;
    assert!(opened.elapsed() < AT_ONCE);
    assert_eq!(sse_first["state"], "waiting");
    assert!(sse_first["pass"].is_null());
    let (sse_at, ws_at) = (
        sse_first["position"].as_u64().unwrap(),
        ws_first["position"].as_u64().unwrap(),
    );
    assert!(sse_at >= 5 && ws_at == sse_at + 1, "{sse_first} {ws_first}");
    assert_eq!(
        gateway
            .metric("anteroom_streams_open", &["kind=\"sse\""])
            .await,
        1.0
    );
    assert_eq!(
        gateway
            .metric("anteroom_streams_open", &["kind=\"ws\""])
            .await,
        1.0
    );

    // Let the line move fast: both streams see it move and end admitted with a pass.
    gateway
        .admin_patch(ROOM, serde_json::json!({ "admit_per_second": 4.0 }))
        .await;
    let (sse_positions, ws_positions) = tokio::join!(
        until_admitted(&mut sse, sse_first),
        until_admitted(&mut ws, ws_first)
    );
    assert!(
        sse_positions.len() >= 3,
        "the position moved live: {sse_positions:?}"
    );
    assert!(
        ws_positions.len() >= 3,
        "the position moved live: {ws_positions:?}"
    );
    // Every update of a line change is measured.
    let lag_count = gateway
        .metric("anteroom_stream_update_seconds_count", &["kind=\"sse\""])
        .await;
    assert!(lag_count >= 2.0, "lag observed {lag_count} times");
}

#[tokio::test]
async fn memory_streams_send_at_once_move_monotonically_and_deliver_the_pass() {
    first_status_positions_and_pass(Backend::memory()).await;
}

#[tokio::test]
async fn redis_streams_send_at_once_move_monotonically_and_deliver_the_pass() {
    first_status_positions_and_pass(Backend::redis()).await;
}

/// Wait on a stream until a status satisfies `done`.
async fn until(
    stream: &mut AnyStream,
    within: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "condition not met in {within:?}");
        match stream.next(left).await {
            Some(Said::Status(status)) if done(&status) => return status,
            Some(Said::Status(_)) => {}
            other => panic!("stream ended: {other:?}"),
        }
    }
}

async fn places_hold_and_free(backend: Backend) {
    let origin = Origin::start().await;
    let gateway = gateway(
        &backend,
        &origin,
        "admit_per_second = 1\nabandon_after_seconds = 2",
        "",
    )
    .await;
    gateway.use_up_initial_burst(ROOM).await;
    pause(&gateway).await;
    // quiet (no stream, no polls) stands first, then one with a stream, then one who
    // reconnects in time.
    let (_quiet, _) = joined(&gateway).await;
    let (_streaming, streaming_cookie) = joined(&gateway).await;
    let (_reconnecting, reconnecting_cookie) = joined(&gateway).await;

    let mut streaming = AnyStream::open("sse", gateway.public, ROOM, Some(&streaming_cookie)).await;
    let first = streaming.status(AT_ONCE).await;
    assert_eq!(first["position"], 2, "{first}");

    let mut reconnecting =
        AnyStream::open("ws", gateway.public, ROOM, Some(&reconnecting_cookie)).await;
    assert_eq!(reconnecting.status(AT_ONCE).await["position"], 3);
    drop(reconnecting);
    tokio::time::sleep(Duration::from_millis(800)).await; // offline for less than the window
    let mut reconnecting =
        AnyStream::open("ws", gateway.public, ROOM, Some(&reconnecting_cookie)).await;
    assert_eq!(
        reconnecting.status(AT_ONCE).await["position"],
        3,
        "kept on reconnect"
    );

    // The quiet visitor's place is freed after the window: everyone behind moves up, live.
    let moved = until(&mut streaming, Duration::from_secs(10), |status| {
        status["position"] == 1
    })
    .await;
    assert_eq!(moved["state"], "paused");
    until(&mut reconnecting, Duration::from_secs(5), |status| {
        status["position"] == 2
    })
    .await;

    // Three more windows with no poll: the open streams keep their places.
    let held_until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < held_until {
        if let Some(said) = streaming.next(Duration::from_millis(500)).await {
            match said {
                Said::Status(status) => assert_eq!(status["position"], 1, "{status}"),
                other => panic!("stream ended: {other:?}"),
            }
        }
    }
    let room = gateway.admin_room(ROOM).await;
    assert_eq!(room["waiting"], 2, "{room}");
}

#[tokio::test]
async fn memory_an_open_stream_holds_the_place_and_a_quiet_visitor_loses_it() {
    places_hold_and_free(Backend::memory()).await;
}

#[tokio::test]
async fn redis_an_open_stream_holds_the_place_and_a_quiet_visitor_loses_it() {
    places_hold_and_free(Backend::redis()).await;
}

#[tokio::test]
async fn tabs_share_a_place_and_limits_refuse_clearly() {
    let origin = Origin::start().await;
    let backend = Backend::memory();
    let gateway = gateway(
        &backend,
        &origin,
        "admit_per_second = 1",
        "[streams]\nmax_open = 3\nmax_per_visitor = 2\n",
    )
    .await;
    gateway.use_up_initial_burst(ROOM).await;
    pause(&gateway).await;
    let (_ahead, _) = joined(&gateway).await;
    let (_tabs, cookie) = joined(&gateway).await;
    let mut one = AnyStream::open("sse", gateway.public, ROOM, Some(&cookie)).await;
    let mut two = AnyStream::open("ws", gateway.public, ROOM, Some(&cookie)).await;
    let (a, b) = (one.status(AT_ONCE).await, two.status(AT_ONCE).await);
    assert_eq!(a["position"], 2);
    assert_eq!(b["position"], 2, "two tabs, one place");
    assert_eq!(gateway.admin_room(ROOM).await["waiting"], 2);

    // A third tab of the same visitor: 429 with a JSON reason, over SSE and over WS.
    let mut third = SseClient::open(gateway.public, ROOM, Some(&cookie)).await;
    assert_eq!(third.status, 429);
    assert_eq!(third.error_body().await["error"], "too_many_streams");
    assert_eq!(
        WsClient::open(gateway.public, ROOM, Some(&cookie))
            .await
            .err(),
        Some(429)
    );

    // The instance's limit: one more stream fits, the next gets 503.
    let (_other, other_cookie) = joined(&gateway).await;
    let _fits = AnyStream::open("sse", gateway.public, ROOM, Some(&other_cookie)).await;
    let (_late, late_cookie) = joined(&gateway).await;
    let mut refused = SseClient::open(gateway.public, ROOM, Some(&late_cookie)).await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.error_body().await["error"], "streams_full");
    assert_eq!(
        gateway
            .metric(
                "anteroom_streams_refused_total",
                &["reason=\"instance_full\""]
            )
            .await,
        1.0
    );

    // Closing streams gives their slots back.
    drop(one);
    drop(two);
    let deadline = Instant::now() + Duration::from_secs(5);
    while gateway
        .metric("anteroom_streams_open", &["kind=\"ws\""])
        .await
        != 0.0
    {
        assert!(
            Instant::now() < deadline,
            "the closed WS stream is still counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut again = SseClient::open(gateway.public, ROOM, Some(&late_cookie)).await;
    assert_eq!(again.status, 200);
    assert!(matches!(again.next(AT_ONCE).await, Some(Said::Status(_))));
}

#[tokio::test]
async fn streams_end_cleanly_on_shutdown_and_the_next_process_keeps_the_place() {
    let origin = Origin::start().await;
    let backend = Backend::redis();
    let first = gateway(&backend, &origin, "admit_per_second = 1", "").await;
    first.use_up_initial_burst(ROOM).await;
    pause(&first).await;
    let (_ahead, _) = joined(&first).await;
    let (_watcher, cookie) = joined(&first).await;
    let mut sse = AnyStream::open("sse", first.public, ROOM, Some(&cookie)).await;
    let mut ws = AnyStream::open("ws", first.public, ROOM, Some(&cookie)).await;
    assert_eq!(sse.status(AT_ONCE).await["position"], 2);
    assert_eq!(ws.status(AT_ONCE).await["position"], 2);

    let status = std::process::Command::new("kill")
        .args(["-TERM", &first.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(matches!(
        sse.next(Duration::from_secs(5)).await,
        Some(Said::Ended(None))
    ));
    assert!(matches!(
        ws.next(Duration::from_secs(5)).await,
        Some(Said::Ended(Some(1001)))
    ));

    let next = gateway(&backend, &origin, "admit_per_second = 1", "").await;
    let mut again = AnyStream::open("sse", next.public, ROOM, Some(&cookie)).await;
    assert_eq!(
        again.status(AT_ONCE).await["position"],
        2,
        "the place survived the restart"
    );
}

/// Browsers reuse a keep-alive connection for `EventSource`: a stream opened as the second
/// request of a connection is served like the first; a stream target in another form than
/// the plain one gets a clear refusal, not a hang.
#[tokio::test]
async fn a_stream_on_a_reused_connection_and_other_forms() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let origin = Origin::start().await;
    let backend = Backend::memory();
    let gateway = gateway(&backend, &origin, "admit_per_second = 1", "").await;
    gateway.use_up_initial_burst(ROOM).await;
    pause(&gateway).await;

    let mut socket = tokio::net::TcpStream::connect(gateway.public)
        .await
        .unwrap();
    let status = format!(
        "GET /_anteroom/status?room={ROOM} HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\n\r\n"
    );
    socket.write_all(status.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head, cookie) = loop {
        let n = socket.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed after the first request");
        answer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&answer).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length: "))
                .unwrap()
                .parse()
                .unwrap();
            if body.len() >= length {
                let vid = head
                    .lines()
                    .find_map(|line| line.strip_prefix("set-cookie: anteroom_vid="))
                    .unwrap()
                    .split(';')
                    .next()
                    .unwrap()
                    .to_string();
                break (head.to_string(), format!("anteroom_vid={vid}"));
            }
        }
    };
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let events = format!(
        "GET /_anteroom/events?room={ROOM} HTTP/1.1\r\nHost: a\r\nCookie: {cookie}\r\n\r\n"
    );
    socket.write_all(events.as_bytes()).await.unwrap();
    let mut streamed = Vec::new();
    let deadline = Instant::now() + AT_ONCE;
    while !String::from_utf8_lossy(&streamed).contains("event: status") {
        assert!(
            Instant::now() < deadline,
            "no event on the reused connection: {:?}",
            String::from_utf8_lossy(&streamed)
        );
        let n = tokio::time::timeout(AT_ONCE, socket.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        streamed.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&streamed);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"position\":1"), "{text}");

    // The absolute form reaches the proxy's endpoint handling: refused with a reason.
    let mut raw = tokio::net::TcpStream::connect(gateway.public)
        .await
        .unwrap();
    let absolute = format!(
        "GET http://127.0.0.1/_anteroom/events?room={ROOM} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    );
    raw.write_all(absolute.as_bytes()).await.unwrap();
    let mut reply = vec![0u8; 4096];
    let n = tokio::time::timeout(AT_ONCE, raw.read(&mut reply))
        .await
        .unwrap()
        .unwrap();
    let reply = String::from_utf8_lossy(&reply[..n]);
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("stream_form"), "{reply}");
}
