//! The waitlist over HTTP, on real Redis + PostgreSQL (and the whole flow also on Redis +
//! the embedded SQLite ledger): cancel a booking (owner or operator,
//! Idempotency-Key), join a sold-out event's line, watch the entry (polling and SSE) turn
//! into an offer, accept it (double tap → one booking), the operator's overview, audit and
//! metrics, places going back on sale (sold-out cleared) when nobody waits, and the
//! webhook relay delivering every offer once the hook is back, de-dupable by id (that too
//! on both ledgers).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod service_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anteroom_admission::{Keyring, OfferClaims, VisitorId};
use anteroom_booking::service::{run_promoter, run_relay, BookingService};
use anteroom_config::{HoldsConfig, WaitlistConfig, WaitlistPosition};
use serde_json::{json, Value};
use service_support::{
    client, eventually, keyring, pass_for, room_settings, serve_service,
    with_redis_postgres_and_rooms, with_redis_sqlite_and_rooms, Api, ADMIN, ROOM,
};

/// Which ledger the service keeps its bookings and waitlist in.
#[derive(Clone, Copy, Debug)]
enum Ledger {
    Postgres,
    Sqlite,
}

/// The harness's stores and servers (`base`), served again by a service with `config`
/// and its promoter and relay running (PostgreSQL ledger).
async fn waitlist_api(config: WaitlistConfig) -> (Api, Api) {
    waitlist_api_on(Ledger::Postgres, config).await
}

async fn waitlist_api_on(ledger: Ledger, config: WaitlistConfig) -> (Api, Api) {
    let base = match ledger {
        Ledger::Postgres => with_redis_postgres_and_rooms(300).await,
        Ledger::Sqlite => with_redis_sqlite_and_rooms(300).await,
    };
    let rooms = base.rooms.clone().unwrap();
    rooms.init_room(ROOM, &room_settings()).await.unwrap();
    let service = Arc::new(
        BookingService::new(
            base.holds.clone(),
            base.ledger.clone(),
            keyring(),
            Some(ADMIN.as_bytes().to_vec()),
            HoldsConfig::default(),
            Some(rooms.clone()),
        )
        .with_waitlist_config(config),
    );
    service.reconcile().await.unwrap();
    run_promoter(&service);
    run_relay(&service).unwrap();
    let api = serve_service(
        service,
        base.holds.clone(),
        base.ledger.clone(),
        Some(rooms),
        None,
        None,
    )
    .await;
    (base, api)
}

async fn sold_out(api: &Api) -> bool {
    api.rooms
        .as_ref()
        .unwrap()
        .settings(ROOM)
        .await
        .unwrap()
        .sold_out
}

/// Hold and confirm `seat` for a new fan: (fan, booking id).
async fn buy(api: &Api, event: &str, seat: &str) -> (VisitorId, String) {
    let fan = VisitorId::random();
    let (status, hold) = api.hold(event, fan, &[seat]).await;
    assert_eq!(status, 201, "{hold}");
    let (status, booking) = api
        .confirm(
            fan,
            hold["hold_id"].as_str().unwrap(),
            &format!("buy-{seat}"),
        )
        .await;
    assert_eq!(status, 201, "{booking}");
    (fan, booking["booking_id"].as_str().unwrap().to_string())
}

async fn admin_get(api: &Api, path: &str) -> (u16, Value) {
    let response = client()
        .get(api.url(path))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn cancel(
    api: &Api,
    booking: &str,
    fan: Option<VisitorId>,
    key: Option<&str>,
) -> (u16, Value) {
    let mut request = client().post(api.url(&format!("/v1/bookings/{booking}/cancel")));
    request = match fan {
        Some(fan) => request.header("x-anteroom-pass", pass_for(fan, ROOM)),
        None => request.bearer_auth(ADMIN),
    };
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Read SSE `entry` events from an open stream until one has `state`.
async fn stream_until(response: &mut reqwest::Response, state: &str) -> Value {
    let mut buffer = String::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("an SSE event in time")
            .unwrap()
            .expect("stream open");
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            if let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) {
                let value: Value = serde_json::from_str(data).unwrap();
                if value["state"] == state {
                    return value;
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_join_offer_accept_over_http_postgres() {
    cancel_join_offer_accept_over_http(Ledger::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_join_offer_accept_over_http_sqlite() {
    cancel_join_offer_accept_over_http(Ledger::Sqlite).await;
}

async fn cancel_join_offer_accept_over_http(ledger: Ledger) {
    let (_base, api) = waitlist_api_on(
        ledger,
        WaitlistConfig {
            offer_ttl_seconds: 600,
            ..WaitlistConfig::default()
        },
    )
    .await;
    api.create_seated_event("show", 2).await;
    let early = VisitorId::random();
    let (status, _, body) = api
        .post("/v1/events/show/waitlist", early, json!({}), None)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("not_sold_out"))
    );

    let (owner_a, booking_a) = buy(&api, "show", "S0").await;
    let (owner_b, booking_b) = buy(&api, "show", "S1").await;
    assert!(sold_out(&api).await);

    // Two fans join; joining again answers with the same entry.
    let (carol, dave) = (VisitorId::random(), VisitorId::random());
    let (status, _, c) = api
        .post("/v1/events/show/waitlist", carol, json!({}), None)
        .await;
    assert_eq!(
        (status, c["state"].as_str(), c["position"].as_u64()),
        (201, Some("waiting"), Some(1)),
        "{c}"
    );
    let (status, _, d) = api
        .post("/v1/events/show/waitlist", dave, json!({}), None)
        .await;
    assert_eq!((status, d["position"].as_u64()), (201, Some(2)));
    let (status, _, again) = api
        .post("/v1/events/show/waitlist", carol, json!({}), None)
        .await;
    assert_eq!((status, &again["entry_id"]), (200, &c["entry_id"]));
    let carol_entry = c["entry_id"].as_str().unwrap().to_string();
    let status = client()
        .post(api.url("/v1/events/show/waitlist"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401, "a pass is required");
    let (status, _) = api
        .get(&format!("/v1/waitlist/{carol_entry}"), Some(dave))
        .await;
    assert_eq!(status, 404, "another fan's entry is unknown to them");

    // Carol watches her entry live.
    let mut live = client()
        .get(api.url(&format!("/v1/waitlist/{carol_entry}/events")))
        .header("x-anteroom-pass", pass_for(carol, ROOM))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    stream_until(&mut live, "waiting").await;

    // Cancellation: a key is required, a stranger cannot, the owner can (twice: same answer).
    assert_eq!(cancel(&api, &booking_a, Some(owner_a), None).await.0, 400);
    assert_eq!(
        cancel(&api, &booking_a, Some(owner_b), Some("x")).await.0,
        404
    );
    let (status, cancelled) = cancel(&api, &booking_a, Some(owner_a), Some("c1")).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["released_to"], "waitlist");
    assert_eq!(
        cancel(&api, &booking_a, Some(owner_a), Some("c2")).await.1,
        cancelled
    );
    assert!(
        sold_out(&api).await,
        "a place reserved for the line keeps the room sold out"
    );
    let map: HashMap<String, String> = api.seat_map("show").await.into_iter().collect();
    assert_eq!(
        map["S0"], "booked",
        "reserved for the line: not shown as free"
    );
    let (status, taken) = api.hold("show", VisitorId::random(), &["S0"]).await;
    assert_eq!(
        (status, taken["error"].as_str()),
        (409, Some("seat_taken")),
        "not on public sale"
    );

    // The offer shows at once on the stream and in the status, whatever the webhook does.
    let offered = stream_until(&mut live, "offered").await;
    assert_eq!(offered["offer"]["seat"], "S0");
    let offer = offered["offer"]["offer_id"].as_str().unwrap().to_string();
    let (_, status_now) = api
        .get(&format!("/v1/waitlist/{carol_entry}"), Some(carol))
        .await;
    assert_eq!(status_now["state"], "offered");
    let (_, dave_now) = api
        .get(
            &format!("/v1/waitlist/{}", d["entry_id"].as_str().unwrap()),
            Some(dave),
        )
        .await;
    assert_eq!(dave_now["position"], 1, "Dave moves up");

    // The offer carries its signed token, in the stream and in the status alike.
    let token = offered["offer"]["token"].as_str().unwrap().to_string();
    assert_eq!(status_now["offer"]["token"], token.as_str());
    let claims = keyring().verify_offer_token(&token, 0).unwrap();
    assert_eq!(
        (
            claims.offer.as_str(),
            claims.entry.as_str(),
            claims.event.as_str()
        ),
        (offer.as_str(), carol_entry.as_str(), "show")
    );
    assert_eq!(claims.visitor, carol);

    // Accept needs the token: without it 400; a forged, altered, expired or other-entry one
    // is refused with 409 and nothing is booked.
    let accept = format!("/v1/offers/{offer}/accept");
    let with = |token: &str| json!({ "offer_token": token });
    let (status, _, no_token) = api.post(&accept, carol, json!({}), Some("t0")).await;
    assert_eq!(
        (status, no_token["error"].as_str()),
        (400, Some("invalid_json"))
    );
    let mut altered = token.clone().into_bytes();
    let middle = altered.len() / 2;
    altered[middle] = if altered[middle] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let forged = Keyring::new("k1", vec![("k1".into(), vec![9; 32])])
        .unwrap()
        .issue_offer_token(&claims);
    let expired = keyring().issue_offer_token(&OfferClaims {
        expires_at_ms: 1,
        ..claims.clone()
    });
    let other_entry = keyring().issue_offer_token(&OfferClaims {
        entry: d["entry_id"].as_str().unwrap().to_string(),
        ..claims.clone()
    });
    let other_offer = keyring().issue_offer_token(&OfferClaims {
        offer: "0".repeat(32),
        ..claims.clone()
    });
    for (name, bad, code) in [
        ("forged", forged.as_str(), "offer_token_invalid"),
        ("altered", altered.as_str(), "offer_token_invalid"),
        ("expired", expired.as_str(), "offer_closed"),
        ("other entry", other_entry.as_str(), "offer_token_invalid"),
        ("other offer", other_offer.as_str(), "offer_token_invalid"),
        ("a pass", &pass_for(carol, ROOM), "offer_token_invalid"),
    ] {
        let (status, _, refused) = api.post(&accept, carol, with(bad), Some(name)).await;
        assert_eq!(
            (status, refused["error"].as_str()),
            (409, Some(code)),
            "{name}: {refused}"
        );
    }
    // Dave cannot take Carol's offer, not even with her token.
    let (status, _, refused) = api.post(&accept, dave, with(&token), Some("d1")).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (409, Some("offer_token_invalid"))
    );
    let (_, still) = api
        .get(&format!("/v1/waitlist/{carol_entry}"), Some(carol))
        .await;
    assert_eq!(still["state"], "offered", "refused tokens booked nothing");

    // Carol's double tap, with her token, gives one booking.
    let (status, _, missing_key) = api.post(&accept, carol, with(&token), None).await;
    assert_eq!(status, 400, "{missing_key}");
    let (s1, _, first) = api.post(&accept, carol, with(&token), Some("tap-1")).await;
    let (s2, _, second) = api.post(&accept, carol, with(&token), Some("tap-2")).await;
    assert_eq!((s1, s2), (201, 201), "{first} {second}");
    assert_eq!(first["booking_id"], second["booking_id"]);
    assert_eq!(first["seats"], json!(["S0"]));
    let map: HashMap<String, String> = api.seat_map("show").await.into_iter().collect();
    assert_eq!(map["S0"], "booked");
    let accepted = stream_until(&mut live, "accepted").await;
    assert_eq!(
        accepted["offer"]["token"],
        Value::Null,
        "a closed offer shows no token"
    );

    // The operator's view: depth, offers, lag; Carol's whole history.
    let status = client()
        .get(api.url("/v1/events/show/waitlist"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
    let (status, overview) = admin_get(&api, "/v1/events/show/waitlist").await;
    assert_eq!(status, 200);
    assert_eq!(
        (overview["waiting"].as_u64(), overview["accepted"].as_u64()),
        (Some(1), Some(1))
    );
    let (status, audit) = admin_get(&api, &format!("/v1/waitlist/{carol_entry}/audit")).await;
    assert_eq!(status, 200);
    let steps: Vec<String> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}:{}",
                r["subject"].as_str().unwrap(),
                r["to"].as_str().unwrap()
            )
        })
        .collect();
    for step in [
        "entry:waiting",
        "offer:open",
        "entry:offered",
        "offer:accepted",
        "entry:accepted",
        "booking:confirmed",
    ] {
        assert!(steps.contains(&step.to_string()), "{step} in {steps:?}");
    }
    let metrics = client()
        .get(api.url("/metrics"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "anteroom_waitlist_depth{event=\"show\"} 1",
        "anteroom_waitlist_offers_total{outcome=\"accepted\"} 1",
        "anteroom_waitlist_offers_total{outcome=\"offered\"} 1",
        "anteroom_waitlist_promotion_lag_seconds_count 1",
        "anteroom_waitlist_outbox_backlog{event=\"show\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }

    // Dave leaves; the operator cancels B's booking: nobody waits, so S1 is on sale again
    // and the room is no longer sold out.
    let dave_entry = d["entry_id"].as_str().unwrap();
    assert_eq!(
        api.delete(&format!("/v1/waitlist/{dave_entry}"), dave)
            .await,
        200
    );
    let (status, released) = cancel(&api, &booking_b, None, Some("op-1")).await;
    assert_eq!(
        (status, released["released_to"].as_str()),
        (200, Some("sale")),
        "{released}"
    );
    assert!(
        !sold_out(&api).await,
        "places back on sale: the line moves again"
    );
    let (status, hold) = api.hold("show", VisitorId::random(), &["S1"]).await;
    assert_eq!(status, 201, "{hold}");
}

/// A webhook that refuses everything until `up`, and counts deliveries by message id.
#[derive(Clone, Default)]
struct Hook {
    up: Arc<std::sync::atomic::AtomicBool>,
    refused: Arc<std::sync::atomic::AtomicUsize>,
    received: Arc<Mutex<Vec<String>>>,
    /// The offer token each message carried, by message id.
    tokens: Arc<Mutex<HashMap<String, String>>>,
}

async fn start_hook(hook: Hook) -> String {
    use axum::http::{HeaderMap, StatusCode};
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let hook = hook.clone();
            async move {
                if !hook.up.load(std::sync::atomic::Ordering::SeqCst) {
                    hook.refused
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                let id = headers["x-anteroom-message-id"]
                    .to_str()
                    .unwrap()
                    .to_string();
                let payload: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(payload["id"], id.as_str(), "the body carries the id too");
                if let Some(token) = payload["offer"]["token"].as_str() {
                    hook.tokens
                        .lock()
                        .unwrap()
                        .insert(id.clone(), token.to_string());
                }
                hook.received.lock().unwrap().push(id);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhook_down_then_back_gets_every_offer_once_by_id_postgres() {
    webhook_down_then_back_gets_every_offer_once_by_id(Ledger::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhook_down_then_back_gets_every_offer_once_by_id_sqlite() {
    webhook_down_then_back_gets_every_offer_once_by_id(Ledger::Sqlite).await;
}

async fn webhook_down_then_back_gets_every_offer_once_by_id(ledger: Ledger) {
    let hook = Hook::default();
    let url = start_hook(hook.clone()).await;
    let (_base, api) = waitlist_api_on(
        ledger,
        WaitlistConfig {
            webhook_url: Some(url),
            position: WaitlistPosition::Band,
            ..WaitlistConfig::default()
        },
    )
    .await;
    api.create_seated_event("hooked", 5).await;
    let mut bookings = Vec::new();
    for seat in ["S0", "S1", "S2", "S3", "S4"] {
        bookings.push(buy(&api, "hooked", seat).await);
    }
    let mut entries = Vec::new();
    for _ in 0..5 {
        let fan = VisitorId::random();
        let (status, _, entry) = api
            .post("/v1/events/hooked/waitlist", fan, json!({}), None)
            .await;
        assert_eq!(status, 201);
        assert_eq!(entry["position"], "1-100", "a band, not the exact place");
        entries.push((fan, entry["entry_id"].as_str().unwrap().to_string()));
    }
    for (i, (fan, booking)) in bookings.iter().enumerate() {
        assert_eq!(
            cancel(&api, booking, Some(*fan), Some(&format!("c{i}")))
                .await
                .0,
            200
        );
    }
    // Offers show in the fans' status while the hook is down...
    for (fan, entry) in &entries {
        let path = format!("/v1/waitlist/{entry}");
        assert!(
            eventually(Duration::from_secs(10), || async {
                api.get(&path, Some(*fan)).await.1["state"] == "offered"
            })
            .await
        );
    }
    assert!(
        eventually(Duration::from_secs(10), || async {
            hook.refused.load(std::sync::atomic::Ordering::SeqCst) >= 5
        })
        .await,
        "the relay tried while the hook was down"
    );
    assert!(hook.received.lock().unwrap().is_empty());
    // ... and once the hook is back, every offer is delivered; ids de-duplicate.
    hook.up.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(
        eventually(Duration::from_secs(40), || async {
            let (_, overview) = admin_get(&api, "/v1/events/hooked/waitlist").await;
            overview["outbox_backlog"] == 0
        })
        .await,
        "backlog drained"
    );
    let received = hook.received.lock().unwrap().clone();
    let distinct: std::collections::HashSet<&String> = received.iter().collect();
    assert_eq!(distinct.len(), 5, "every offer delivered: {received:?}");
    let tokens = hook.tokens.lock().unwrap().clone();
    for (fan, entry) in &entries {
        let (_, now) = api.get(&format!("/v1/waitlist/{entry}"), Some(*fan)).await;
        let id = now["offer"]["offer_id"].as_str().unwrap();
        assert!(
            distinct.contains(&id.to_string()),
            "offer {id} delivered under its own id"
        );
        // The webhook carried the token the fan's status shows, made out to that fan.
        assert_eq!(
            tokens.get(id).map(String::as_str),
            now["offer"]["token"].as_str(),
            "{id}"
        );
        let claims = keyring().verify_offer_token(&tokens[id], 0).unwrap();
        assert_eq!(
            (claims.visitor, claims.entry.as_str()),
            (*fan, entry.as_str())
        );
    }
}

/// An HTTPS webhook presenting `certs`' server certificate: every delivery's body and
/// `X-Anteroom-Signature`, answered `200`.
async fn start_tls_hook(
    certs: &anteroom_testkit::TestCertificates,
) -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&certs.cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(&certs.key).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/hook", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (acceptor, record) = (acceptor.clone(), record.clone());
            tokio::spawn(async move {
                // A client that refuses our certificate ends here: nothing is recorded.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head, body) = loop {
                    let n = tls.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "the request ended early");
                    request.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&request).into_owned();
                    let Some((head, body)) = text.split_once("\r\n\r\n") else {
                        continue;
                    };
                    let length: usize = head
                        .lines()
                        .find_map(|line| {
                            let (name, value) = line.split_once(':')?;
                            name.eq_ignore_ascii_case("content-length")
                                .then(|| value.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break (head.to_string(), body.to_string());
                    }
                };
                let signature = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("x-anteroom-signature")
                            .then(|| value.trim().to_string())
                    })
                    .unwrap_or_default();
                record.lock().unwrap().push((signature, body));
                tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await
                    .unwrap();
                let _ = tls.shutdown().await;
            });
        }
    });
    (url, seen)
}

/// One sold-out seat, one fan waiting, the seat cancelled: the fan's offer (its entry).
async fn one_offer(api: &Api, event: &str) -> (VisitorId, String) {
    api.create_seated_event(event, 1).await;
    let (owner, booking) = buy(api, event, "S0").await;
    let fan = VisitorId::random();
    let (status, _, entry) = api
        .post(
            &format!("/v1/events/{event}/waitlist"),
            fan,
            json!({}),
            None,
        )
        .await;
    assert_eq!(status, 201, "{entry}");
    let entry = entry["entry_id"].as_str().unwrap().to_string();
    assert_eq!(
        cancel(api, &booking, Some(owner), Some("c-hook")).await.0,
        200
    );
    let path = format!("/v1/waitlist/{entry}");
    assert!(
        eventually(Duration::from_secs(10), || async {
            api.get(&path, Some(fan)).await.1["state"] == "offered"
        })
        .await
    );
    (fan, entry)
}

const HOOK_SECRET: &str = "0123456789abcdef0123456789abcdef-hook";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_https_webhook_gets_every_offer_signed_and_an_untrusted_one_gets_none() {
    use anteroom_booking::service::webhook::signature;
    let certs = anteroom_testkit::TestCertificates::generate();
    let (url, seen) = start_tls_hook(&certs).await;
    let (_base, api) = waitlist_api(WaitlistConfig {
        webhook_url: Some(url),
        webhook_ca: Some(certs.ca.clone()),
        webhook_secret: Some(anteroom_config::Secret(HOOK_SECRET.as_bytes().to_vec())),
        ..WaitlistConfig::default()
    })
    .await;
    let (_fan, entry) = one_offer(&api, "tls-hooked").await;
    assert!(
        eventually(Duration::from_secs(20), || async {
            !seen.lock().unwrap().is_empty()
        })
        .await,
        "delivered over https"
    );
    let (header, body) = seen.lock().unwrap()[0].clone();
    let payload: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(payload["offer"]["entry_id"], entry.as_str(), "{body}");
    // The receiver's check: the signature over "<t>." + body with the shared secret, and a
    // recent t.
    let sent_at: u64 = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split(',').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        anteroom_admission::unix_now().abs_diff(sent_at) < 60,
        "{header}"
    );
    assert_eq!(
        header,
        signature(HOOK_SECRET.as_bytes(), sent_at, body.as_bytes())
    );
    assert_ne!(
        header,
        signature(
            b"another-secret-of-thirty-two-bytes!!",
            sent_at,
            body.as_bytes()
        )
    );

    // A receiver whose certificate no trusted CA signed never gets an offer; the fan still
    // sees it in the status, and the outbox keeps it for later.
    let strangers = anteroom_testkit::TestCertificates::generate();
    let (url, unseen) = start_tls_hook(&strangers).await;
    let (base, api) = waitlist_api(WaitlistConfig {
        webhook_url: Some(url),
        webhook_ca: Some(certs.ca.clone()),
        ..WaitlistConfig::default()
    })
    .await;
    one_offer(&api, "untrusted-hook").await;
    let postgres = base.postgres.as_ref().unwrap();
    let tried_twice = || async {
        let rows = postgres
            .query("SELECT attempts FROM waitlist_outbox WHERE delivered_at_ms IS NULL")
            .unwrap();
        rows.iter()
            .filter_map(|row| row.first().cloned().flatten())
            .any(|attempts| attempts.parse::<u32>().unwrap() >= 2)
    };
    assert!(
        eventually(Duration::from_secs(20), tried_twice).await,
        "the relay tried (and failed) twice"
    );
    let (_, overview) = admin_get(&api, "/v1/events/untrusted-hook/waitlist").await;
    assert_eq!(overview["outbox_backlog"], 1, "{overview}");
    assert!(
        unseen.lock().unwrap().is_empty(),
        "no delivery to an untrusted certificate"
    );
}
