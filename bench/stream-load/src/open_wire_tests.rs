//! The client against a small in-process server speaking the wire format of the contract:
//! status (closes the connection), SSE (chunked) and WebSocket, each stream sending positions
//! 5, 7 (a rise), 3, then the admission with a pass.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{run_until, OpenOptions};
use crate::tally::Summary;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

const UPDATES: [&str; 4] = [
    r#"{"room":"r","visitor":"V","state":"waiting","position":5,"pass":null}"#,
    r#"{"room":"r","visitor":"V","state":"waiting","position":7,"pass":null}"#,
    r#"{"room":"r","visitor":"V","state":"waiting","position":3,"pass":null}"#,
    r#"{"room":"r","visitor":"V","state":"admitted","position":null,"pass":"v1.k.p.m"}"#,
];

async fn serve(listener: TcpListener, drop_ws_after_101: Arc<AtomicBool>) {
    let mut visitors = 0u64;
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        visitors += 1;
        let drop_ws = drop_ws_after_101.load(Ordering::Relaxed);
        tokio::spawn(connection(tcp, visitors, drop_ws));
    }
}

async fn connection(mut tcp: TcpStream, n: u64, drop_ws: bool) {
    // Peek at the request head so a WebSocket handshake can still read it whole.
    let mut peeked = vec![0u8; 4096];
    let head_len = loop {
        let got = tcp.peek(&mut peeked).await.unwrap();
        let text = String::from_utf8_lossy(&peeked[..got]).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            break end + 4;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let head = String::from_utf8_lossy(&peeked[..head_len]).to_string();
    if head.starts_with("GET /_anteroom/ws") {
        assert!(head
            .to_ascii_lowercase()
            .contains("x-anteroom-visitor: v1.visitor-"));
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        if drop_ws {
            return; // 101 sent, then gone (pingora#946)
        }
        for update in UPDATES {
            ws.send(Message::text(update)).await.unwrap();
        }
        while let Some(Ok(_)) = ws.next().await {}
        return;
    }
    tcp.read_exact(&mut peeked[..head_len]).await.unwrap();
    if head.starts_with("GET /_anteroom/status") {
        let body = format!(
            r#"{{"room":"r","visitor":"v1.visitor-{n}","state":"waiting","position":9,"pass":null}}"#
        );
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        tcp.write_all(reply.as_bytes()).await.unwrap();
        return;
    }
    assert!(head.starts_with("GET /_anteroom/events"), "{head}");
    let mut wire = String::from(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
    );
    let mut events = String::from("retry: 1000\n\n: hi\n\n");
    for (id, update) in UPDATES.iter().enumerate() {
        events.push_str(&format!("event: status\nid: {id}\ndata: {update}\n\n"));
    }
    // Chunks that cut events anywhere.
    for piece in events.as_bytes().chunks(37) {
        wire.push_str(&format!(
            "{:x}\r\n{}\r\n",
            piece.len(),
            String::from_utf8_lossy(piece)
        ));
    }
    tcp.write_all(wire.as_bytes()).await.unwrap();
    let mut sink = [0u8; 64];
    while !matches!(tcp.read(&mut sink).await, Ok(0) | Err(_)) {}
}

async fn run_against_fake(drop_ws: bool) -> Summary {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    let server = tokio::spawn(serve(listener, Arc::new(AtomicBool::new(drop_ws))));
    let options = OpenOptions {
        target,
        source: "127.0.0.1".parse().unwrap(),
        room: "r".into(),
        streams: 6,
        ws_share: 0.5,
        connect_concurrency: 4,
        open_timeout: 10,
        max_seconds: 30,
        ids_file: None,
        go_file: None,
        ready_file: None,
        reconnects: 0,
    };
    // Every update is sent at once; the hold only has to outlast their delivery.
    let summary = run_until(options, tokio::time::sleep(Duration::from_millis(500))).await;
    server.abort();
    summary
}

#[tokio::test]
async fn every_update_of_both_kinds_is_counted() {
    let s = run_against_fake(false).await;
    assert_eq!((s.requested, s.visitors, s.connected), (6, 6, 6));
    assert_eq!((s.sse_connected, s.ws_connected), (3, 3));
    assert_eq!(
        (
            s.ws_upgrade_attempts,
            s.ws_upgrades_101,
            s.ws_upgrades_dropped
        ),
        (3, 3, 0)
    );
    assert_eq!(s.updates, 24);
    assert_eq!(
        s.position_violations, 6,
        "5 -> 7 is a rise, once per stream"
    );
    assert_eq!(s.saw_own_admission, 6);
    assert_eq!(s.first_status_ms.len(), 6);
    assert_eq!(s.heartbeats, 3, "one SSE comment per SSE stream");
    // The first status (id 0) comes with the opening, not with a tick: not in the spread.
    assert_eq!(s.spreads.len(), 3);
    assert!(s.spreads.values().all(|spread| spread.streams == 3));
    assert_eq!(s.closed_by_server, 0);
    assert!(s.errors.is_empty() && s.refused.is_empty(), "{s:?}");
}

#[tokio::test]
async fn a_websocket_closed_right_after_its_101_counts_as_dropped() {
    let s = run_against_fake(true).await;
    assert_eq!(
        (
            s.ws_upgrade_attempts,
            s.ws_upgrades_101,
            s.ws_upgrades_dropped
        ),
        (3, 3, 3)
    );
    assert_eq!((s.connected, s.sse_connected, s.ws_connected), (3, 3, 0));
    assert_eq!(s.updates, 12);
}
