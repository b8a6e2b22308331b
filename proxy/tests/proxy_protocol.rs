//! PROXY protocol on the public listener (`[listen] proxy_protocol`), against a real
//! `anteroom serve`: a trusted balancer's v1 or v2 header names the client the origin is
//! told about; a trusted connection without one is closed before any request reaches the
//! origin; from any other peer the header is not read, so a client cannot name itself.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anteroom_admission::VisitorId;
use support::{mint_pass, room_toml, unix_now, Backend, Gateway, Origin};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

/// The balancer's address: the one peer trusted to send PROXY headers.
const BALANCER: &str = "127.0.0.9";
const REQUEST: &[u8] = b"GET /open HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n";

async fn gateway(origin: &Origin) -> Gateway {
    let rooms = room_toml("open", origin.addr, &["/open"], "mode = \"passthrough\"");
    let listen = format!("trusted_proxies = [\"{BALANCER}/32\"]\nproxy_protocol = true\n");
    Gateway::start(&Backend::memory(), &rooms, &listen).await
}

/// Send `bytes` from `source` and read until the gateway closes: what it answered.
async fn exchange(gateway: &Gateway, source: &str, bytes: &[u8]) -> String {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(source.parse::<IpAddr>().unwrap(), 0))
        .unwrap();
    let mut connection = socket.connect(gateway.public).await.unwrap();
    connection.write_all(bytes).await.unwrap();
    let mut answer = Vec::new();
    // A reset is an answer too (the connection refused): whatever arrived before it counts.
    let _ = tokio::time::timeout(Duration::from_secs(15), connection.read_to_end(&mut answer))
        .await
        .expect("the gateway answers or closes in time");
    String::from_utf8_lossy(&answer).into_owned()
}

fn v2_header(client: SocketAddr) -> Vec<u8> {
    let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    header.push(0x21); // version 2, PROXY
    match client {
        SocketAddr::V4(client) => {
            header.extend([0x11, 0, 12]);
            header.extend(client.ip().octets());
            header.extend([127, 0, 0, 1]);
            header.extend(client.port().to_be_bytes());
            header.extend(80u16.to_be_bytes());
        }
        SocketAddr::V6(client) => {
            header.extend([0x21, 0, 36]);
            header.extend(client.ip().octets());
            header.extend(std::net::Ipv6Addr::LOCALHOST.octets());
            header.extend(client.port().to_be_bytes());
            header.extend(80u16.to_be_bytes());
        }
    }
    header
}

/// The `X-Forwarded-For` the origin got on each request it saw.
fn forwarded_for(origin: &Origin) -> Vec<String> {
    origin
        .seen()
        .iter()
        .map(|seen| seen.header("x-forwarded-for").unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn a_trusted_balancers_header_names_the_client() {
    let origin = Origin::start().await;
    let gateway = gateway(&origin).await;

    let mut v1 = b"PROXY TCP4 203.0.113.9 198.51.100.1 56324 80\r\n".to_vec();
    v1.extend(REQUEST);
    let answer = exchange(&gateway, BALANCER, &v1).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let client: SocketAddr = "[2001:db8::9]:4000".parse().unwrap();
    let mut v2 = v2_header(client);
    v2.extend(REQUEST);
    let answer = exchange(&gateway, BALANCER, &v2).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // A balancer's own health check (v1 UNKNOWN): the connection is the balancer's.
    let mut local = b"PROXY UNKNOWN\r\n".to_vec();
    local.extend(REQUEST);
    let answer = exchange(&gateway, BALANCER, &local).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // Requests with a pass take the direct path (ADR 0009): the named client all the same.
    let now = unix_now();
    let pass = mint_pass("open", VisitorId::random(), now, now + 600);
    let with_pass = format!(
        "GET /open HTTP/1.1\r\nHost: shop.example\r\nX-Anteroom-Pass: {pass}\r\nConnection: close\r\n\r\n"
    );
    let mut v1 = b"PROXY TCP4 198.51.100.77 198.51.100.1 56325 80\r\n".to_vec();
    v1.extend(with_pass.as_bytes());
    let answer = exchange(&gateway, BALANCER, &v1).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let mut v2 = v2_header("[2001:db8::77]:4001".parse().unwrap());
    v2.extend(with_pass.as_bytes());
    let answer = exchange(&gateway, BALANCER, &v2).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    assert_eq!(
        forwarded_for(&origin),
        [
            "203.0.113.9",
            "2001:db8::9",
            BALANCER,
            "198.51.100.77",
            "2001:db8::77"
        ]
    );
}

#[tokio::test]
async fn a_trusted_connection_without_a_header_reaches_nothing_and_others_cannot_name_themselves() {
    let origin = Origin::start().await;
    let gateway = gateway(&origin).await;

    // From the balancer, a request with no header, then a malformed header: closed unanswered.
    for bytes in [
        REQUEST.to_vec(),
        [&b"PROXY TCP4 203.0.113.9 nonsense\r\n"[..], REQUEST].concat(),
    ] {
        let answer = exchange(&gateway, BALANCER, &bytes).await;
        assert_eq!(answer, "", "closed without an answer");
    }
    assert!(origin.seen().is_empty(), "nothing reached the origin");

    // Any other peer: a PROXY line is not HTTP, and its claimed client is never believed.
    let mut claim = b"PROXY TCP4 203.0.113.66 198.51.100.1 56324 80\r\n".to_vec();
    claim.extend(REQUEST);
    let answer = exchange(&gateway, "127.0.0.1", &claim).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let answer = exchange(&gateway, "127.0.0.1", REQUEST).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(forwarded_for(&origin), ["127.0.0.1"]);
}
