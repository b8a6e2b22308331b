//! `anteroom booking` as a process, and the booking service and the gateway together:
//! selling the last seat tells the whole line at once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anteroom_admission::VisitorId;
use serde_json::json;
use support::{client, mint_pass, room_toml, unix_now, Backend, Gateway, Origin, Visitor};

struct BookingProcess {
    child: Child,
    addr: SocketAddr,
}

impl Drop for BookingProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl BookingProcess {
    async fn start(store_toml: &str) -> BookingProcess {
        BookingProcess::start_with(store_toml, "", "").await
    }

    /// With lines added to `[listen]` and sections at the end.
    async fn start_with(store_toml: &str, listen: &str, tail: &str) -> BookingProcess {
        let dir = anteroom_testkit::unique_temp_dir("anteroom-booking");
        let addr: SocketAddr = ([127, 0, 0, 1], anteroom_testkit::free_port()).into();
        let config = format!(
            "[listen]\npublic = \"{addr}\"\n{listen}\n{store_toml}\n[database]\nurl = \"sqlite://{}\"\n\
             [keys]\nsigning = \"k1\"\nsecrets = {{ k1 = \"{}\" }}\n[admin]\ntoken = \"{}\"\n{tail}",
            dir.join("bookings.db").display(),
            support::SECRET,
            support::ADMIN_TOKEN
        );
        let path = dir.join("booking.toml");
        std::fs::write(&path, config).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_anteroom"))
            .args(["booking", "--config"])
            .arg(&path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut process = BookingProcess { child, addr };
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("anteroom booking exited: {status}");
            }
            assert!(Instant::now() < deadline, "booking service not listening");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        process
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn create_event(&self, body: serde_json::Value) -> u16 {
        client()
            .post(self.url("/v1/events"))
            .bearer_auth(support::ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Hold and book; the status of the hold if it was refused, else of the booking.
    async fn buy(&self, event: &str, room: &str, seats: &[&str]) -> u16 {
        let pass = mint_pass(room, VisitorId::random(), unix_now(), unix_now() + 600);
        let response = client()
            .post(self.url(&format!("/v1/events/{event}/holds")))
            .header("x-anteroom-pass", &pass)
            .json(&json!({ "seats": seats }))
            .send()
            .await
            .unwrap();
        if response.status() != 201 {
            return response.status().as_u16();
        }
        let hold: serde_json::Value = response.json().await.unwrap();
        client()
            .post(self.url("/v1/bookings"))
            .header("x-anteroom-pass", &pass)
            .header("idempotency-key", "buy")
            .json(&json!({ "hold_id": hold["hold_id"] }))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_booking_binary_serves_the_api_on_the_embedded_backends() {
    let booking = BookingProcess::start("[store]\nbackend = \"memory\"\n").await;
    assert_eq!(
        booking
            .create_event(json!({"id": "gig", "seats": ["A1", "A2"], "room": "tour"}))
            .await,
        201
    );
    assert_eq!(booking.buy("gig", "tour", &["A1"]).await, 201);
    assert_eq!(
        booking.buy("gig", "tour", &["A1"]).await,
        409,
        "no seat is sold twice"
    );
    let response = client()
        .get(booking.url("/v1/events/gig/seats"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "no pass, no seat map");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selling_the_last_seat_tells_the_whole_line_at_once() {
    let redis = Backend::redis();
    let Backend::Redis(server) = &redis else {
        unreachable!()
    };
    let origin = Origin::start().await;
    let rooms = room_toml(
        "tour",
        origin.addr,
        &["/tour"],
        "mode = \"queue-all\"\nadmit_per_second = 0.001\nmax_active = 100",
    );
    let gateway = Gateway::start(&redis, &rooms, "").await;
    gateway.use_up_initial_burst("tour").await;
    let mut line: Vec<Visitor> = Vec::new();
    for _ in 0..3 {
        let mut fan = Visitor::new();
        assert_eq!(fan.get_json(&gateway.url("/tour")).await.status, 429);
        line.push(fan);
    }

    let store = format!("[store]\nbackend = \"redis\"\nurl = \"{}\"\n", server.url());
    let booking = BookingProcess::start(&store).await;
    assert_eq!(
        booking
            .create_event(json!({"id": "gig", "seats": ["A1", "A2"], "room": "tour"}))
            .await,
        201
    );
    assert_eq!(booking.buy("gig", "tour", &["A1"]).await, 201);
    let status = line[0]
        .get_json(&gateway.url("/_anteroom/status?room=tour"))
        .await
        .json();
    assert_eq!(status["state"], "waiting", "one seat left: keep waiting");

    assert_eq!(booking.buy("gig", "tour", &["A2"]).await, 201);
    for fan in &mut line {
        let status = fan
            .get_json(&gateway.url("/_anteroom/status?room=tour"))
            .await
            .json();
        assert_eq!(status["state"], "sold_out", "{status}");
    }
}

/// The gateway appends the client it resolved to `X-Forwarded-For`; the booking service,
/// trusting the gateway, limits hold attempts per that client, not per gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_attempts_behind_the_gateway_are_limited_per_client() {
    let booking = BookingProcess::start_with(
        "[store]\nbackend = \"memory\"\n",
        "trusted_proxies = [\"127.0.0.1\"]",
        "[holds]\nmax_attempts_per_ip_per_minute = 2\n",
    )
    .await;
    let seats: Vec<String> = (0..6).map(|i| format!("S{i}")).collect();
    let event = json!({"id": "gig", "seats": seats, "room": "tour"});
    assert_eq!(booking.create_event(event).await, 201);
    let rooms = room_toml("tour", booking.addr, &["/v1"], "mode = \"queue-all\"");
    let gateway = Gateway::start(&Backend::memory(), &rooms, "").await;
    // Two clients, told apart by their source address on loopback.
    let from = |ip: [u8; 4]| {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(ip))
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    };
    let hold = |client: reqwest::Client, seat: &'static str| {
        let url = gateway.url("/v1/events/gig/holds");
        async move {
            let pass = mint_pass("tour", VisitorId::random(), unix_now(), unix_now() + 600);
            client
                .post(url)
                .header("x-anteroom-pass", pass)
                .json(&json!({ "seats": [seat] }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let first = from([127, 0, 0, 2]);
    assert_eq!(hold(first.clone(), "S0").await, 201);
    assert_eq!(hold(first.clone(), "S1").await, 201);
    assert_eq!(hold(first, "S2").await, 429, "the client's third attempt");
    // Counted per gateway (the booking service's peer) it would be refused too.
    assert_eq!(
        hold(from([127, 0, 0, 3]), "S2").await,
        201,
        "another client"
    );
}
