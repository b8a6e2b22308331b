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
        BookingProcess::start_on(store_toml, None, listen, tail).await
    }

    /// On the ledger at `database` (None: an SQLite file of its own).
    async fn start_on(
        store_toml: &str,
        database: Option<&str>,
        listen: &str,
        tail: &str,
    ) -> BookingProcess {
        let dir = anteroom_testkit::unique_temp_dir("anteroom-booking");
        let addr: SocketAddr = ([127, 0, 0, 1], anteroom_testkit::free_port()).into();
        let database = database.map_or_else(
            || format!("sqlite://{}", dir.join("bookings.db").display()),
            str::to_string,
        );
        let config = format!(
            "[listen]\npublic = \"{addr}\"\n{listen}\n{store_toml}\n[database]\nurl = \"{database}\"\n\
             [keys]\nsigning = \"k1\"\nsecrets = {{ k1 = \"{}\" }}\n[admin]\ntoken = \"{}\"\n{tail}",
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
        self.buy_with(event, &pass, seats).await.0
    }

    /// Hold and book with `pass`: the hold's refusal, or the booking's answer.
    async fn buy_with(&self, event: &str, pass: &str, seats: &[&str]) -> (u16, serde_json::Value) {
        let as_fan = [("x-anteroom-pass", pass)];
        let path = format!("/v1/events/{event}/holds");
        let (status, hold) = post_with(self, &path, &as_fan, json!({ "seats": seats }), None).await;
        if status != 201 {
            return (status, hold);
        }
        let body = json!({ "hold_id": hold["hold_id"] });
        post_with(self, "/v1/bookings", &as_fan, body, Some("buy")).await
    }
}

/// A Redis-backed gateway whose queue-all room `tour` admits nobody for now (`extra`: more
/// room settings), its origin, and the Redis server.
async fn standing_line(extra: &str) -> (Backend, Origin, Gateway) {
    let redis = Backend::redis();
    let origin = Origin::start().await;
    let settings =
        format!("mode = \"queue-all\"\nadmit_per_second = 0.001\nmax_active = 100\n{extra}");
    let rooms = room_toml("tour", origin.addr, &["/tour"], &settings);
    let gateway = Gateway::start(&redis, &rooms, "").await;
    gateway.use_up_initial_burst("tour").await;
    (redis, origin, gateway)
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
    let (redis, _origin, gateway) = standing_line("").await;
    let Backend::Redis(server) = &redis else {
        unreachable!()
    };
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

/// POST `path` at the booking service with `headers`, a body and an optional key:
/// (status, JSON body).
async fn post_with(
    booking: &BookingProcess,
    path: &str,
    headers: &[(&str, &str)],
    body: serde_json::Value,
    key: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut request = client().post(booking.url(path)).json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

/// A fan who waited in the gateway's line and never got a pass: when the room sells out,
/// the gateway hands them a waitlist token (status, `410` JSON, streams), with which they
/// join the event's waitlist at the booking service, follow it, and accept the offer; a
/// forged, expired or other room's token is `401`, and the token never holds or books.
async fn a_fan_without_a_pass_joins_with_the_gateways_waitlist_token(database: Option<&str>) {
    use anteroom_admission::WaitlistClaims;
    let (redis, _origin, gateway) = standing_line("waitlist_url = \"/shop/waitlist\"").await;
    let Backend::Redis(server) = &redis else {
        unreachable!()
    };
    let mut fan = Visitor::new();
    assert_eq!(fan.get_json(&gateway.url("/tour")).await.status, 429);
    let status_url = gateway.url("/_anteroom/status?room=tour");
    let waiting = fan.get_json(&status_url).await.json();
    assert_eq!(waiting["waitlist"], json!(null), "no token before sell-out");

    let store = format!("[store]\nbackend = \"redis\"\nurl = \"{}\"\n", server.url());
    let booking = BookingProcess::start_on(&store, database, "", "").await;
    assert_eq!(
        booking
            .create_event(json!({"id": "gig", "seats": ["A1"], "room": "tour"}))
            .await,
        201
    );
    let owner = VisitorId::random();
    let owner_pass = mint_pass("tour", owner, unix_now(), unix_now() + 600);
    let (status, sold) = booking.buy_with("gig", &owner_pass, &["A1"]).await;
    assert_eq!(status, 201, "{sold}");

    // Sold out: the gateway's status carries the link and this visitor's token.
    let status = fan.get_json(&status_url).await.json();
    assert_eq!(status["state"], "sold_out", "{status}");
    assert_eq!(status["waitlist"]["join"], "/shop/waitlist");
    let token = status["waitlist"]["token"].as_str().unwrap().to_string();
    let vid = fan.vid.clone().unwrap();
    let visitor = VisitorId::from_hex(vid.split('.').next().unwrap()).unwrap();
    let claims = support::keyring()
        .verify_waitlist_token(&token, unix_now())
        .unwrap();
    assert_eq!((claims.room.as_str(), claims.visitor), ("tour", visitor));
    let late = Visitor::new().get_json(&gateway.url("/tour")).await;
    assert_eq!(late.status, 410);
    assert!(late.json()["waitlist"]["token"].is_string(), "apps get one");

    // Refused tokens: 401 with a JSON error, and nothing joined.
    let forged = anteroom_admission::Keyring::new("k1", vec![("k1".into(), vec![9; 32])])
        .unwrap()
        .issue_waitlist_token(&claims);
    let expired = support::keyring().issue_waitlist_token(&WaitlistClaims {
        expires_at: unix_now() - 1,
        ..claims.clone()
    });
    let other_room = support::keyring().issue_waitlist_token(&WaitlistClaims {
        room: "other".into(),
        ..claims.clone()
    });
    for (name, bad, code) in [
        ("forged", forged.as_str(), "waitlist_token_invalid"),
        ("expired", expired.as_str(), "waitlist_token_invalid"),
        ("other room", other_room.as_str(), "unauthorized"),
    ] {
        let (status, refused) = post_with(
            &booking,
            "/v1/events/gig/waitlist",
            &[("x-anteroom-waitlist", bad)],
            json!({}),
            None,
        )
        .await;
        assert_eq!(
            (status, refused["error"].as_str()),
            (401, Some(code)),
            "{name}: {refused}"
        );
    }

    // The token is no pass: it cannot hold, book, or pass as a pass.
    let with_token = [("x-anteroom-waitlist", token.as_str())];
    let (status, _) = post_with(
        &booking,
        "/v1/events/gig/holds",
        &with_token,
        json!({"seats": ["A1"]}),
        None,
    )
    .await;
    assert_eq!(status, 401, "no hold with a waitlist token");
    let (status, _) = post_with(
        &booking,
        "/v1/bookings",
        &with_token,
        json!({"hold_id": format!("{}.gig", anteroom_booking::new_id())}),
        Some("k"),
    )
    .await;
    assert_eq!(status, 401, "no booking with a waitlist token");
    let (status, _) = post_with(
        &booking,
        "/v1/events/gig/holds",
        &[("x-anteroom-pass", token.as_str())],
        json!({"seats": ["A1"]}),
        None,
    )
    .await;
    assert_eq!(status, 401, "not a pass either");

    // Joined with the gateway's token; the owner cancels; the fan is offered the seat.
    let (status, entry) = post_with(
        &booking,
        "/v1/events/gig/waitlist",
        &with_token,
        json!({}),
        None,
    )
    .await;
    assert_eq!(
        (status, entry["position"].as_u64()),
        (201, Some(1)),
        "{entry}"
    );
    let entry_id = entry["entry_id"].as_str().unwrap().to_string();
    let booking_id = sold["booking_id"].as_str().unwrap();
    let (status, cancelled) = post_with(
        &booking,
        &format!("/v1/bookings/{booking_id}/cancel"),
        &[("x-anteroom-pass", &owner_pass)],
        json!({}),
        Some("c1"),
    )
    .await;
    assert_eq!(
        (status, cancelled["released_to"].as_str()),
        (200, Some("waitlist")),
        "{cancelled}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let offered = loop {
        let now: serde_json::Value = client()
            .get(booking.url(&format!("/v1/waitlist/{entry_id}")))
            .header("x-anteroom-waitlist", &token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if now["state"] == "offered" {
            break now;
        }
        assert!(Instant::now() < deadline, "no offer in time: {now}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Another visitor's token sees nothing of the entry.
    let stranger = support::keyring().issue_waitlist_token(&WaitlistClaims {
        visitor: VisitorId::random(),
        ..claims.clone()
    });
    let status = client()
        .get(booking.url(&format!("/v1/waitlist/{entry_id}")))
        .header("x-anteroom-waitlist", &stranger)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404);

    // Accept with the waitlist token and the offer's token: one booking, the seat is theirs.
    let offer_id = offered["offer"]["offer_id"].as_str().unwrap();
    let body = json!({"offer_token": offered["offer"]["token"]});
    let accept = format!("/v1/offers/{offer_id}/accept");
    let (s1, first) = post_with(&booking, &accept, &with_token, body.clone(), Some("t1")).await;
    let (s2, second) = post_with(&booking, &accept, &with_token, body, Some("t2")).await;
    assert_eq!((s1, s2), (201, 201), "{first} {second}");
    assert_eq!(first["booking_id"], second["booking_id"]);
    assert_eq!(first["seats"], json!(["A1"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_without_a_pass_joins_with_a_waitlist_token_sqlite() {
    a_fan_without_a_pass_joins_with_the_gateways_waitlist_token(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_without_a_pass_joins_with_a_waitlist_token_postgres() {
    let postgres = tokio::task::spawn_blocking(anteroom_testkit::PostgresServer::start)
        .await
        .unwrap();
    a_fan_without_a_pass_joins_with_the_gateways_waitlist_token(Some(&postgres.url())).await;
}
