//! Security: passes that are forged, tampered with, expired, for another room or revoked
//! never reach the origin and are counted; visitor ids cannot be forged to take a place;
//! the origin only ever sees passes the gateway verified; the admin API needs its token.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use anteroom_admission::VisitorId;
use support::{mint_pass, mint_pass_with, room_toml, unix_now, Backend, Gateway, Origin, Visitor};

const ROOMS_QUEUE_ALL: &str = "mode = \"queue-all\"\nadmit_per_second = 0.001\nmax_active = 100";

/// A Redis-backed gateway with two slow queue-all rooms; the backend must outlive it.
async fn gateway_with_two_rooms(origin: &Origin) -> (Gateway, Backend) {
    let backend = Backend::redis();
    let rooms = format!(
        "{}{}",
        room_toml("tour", origin.addr, &["/tour"], ROOMS_QUEUE_ALL),
        room_toml("other", origin.addr, &["/other"], ROOMS_QUEUE_ALL)
    );
    let gateway = Gateway::start(&backend, &rooms, "").await;
    gateway.use_up_initial_burst("tour").await;
    (gateway, backend)
}

/// Present `pass` as a header; the request must be queued (429), not proxied.
async fn refused(gateway: &Gateway, pass: &str) -> u16 {
    support::client()
        .get(gateway.url("/tour/seats"))
        .header("x-anteroom-pass", pass)
        .header("accept", "application/json")
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_passes_are_refused_and_counted_by_reason() {
    let origin = Origin::start().await;
    let (gateway, _redis) = gateway_with_two_rooms(&origin).await;
    let visitor = VisitorId::random();
    let now = unix_now();
    let valid = mint_pass("tour", visitor, now, now + 600);

    let forged = mint_pass_with(
        "another-secret-that-is-long-enough-0123",
        "tour",
        visitor,
        now,
        now + 600,
    );
    let expired = mint_pass("tour", visitor, now - 700, now - 100);
    let other_room = mint_pass("other", visitor, now, now + 600);
    let mut tampered = valid.clone();
    // Flip one character of the payload: the MAC no longer matches.
    let payload_start = "v1.k1.".len();
    let flipped = if &tampered[payload_start..=payload_start] == "e" {
        "f"
    } else {
        "e"
    };
    tampered.replace_range(payload_start..=payload_start, flipped);
    let unknown_key = valid.replacen("v1.k1.", "v1.k9.", 1);

    for (pass, reason) in [
        (&forged, "bad_signature"),
        (&tampered, "bad_signature"),
        (&expired, "expired"),
        (&other_room, "wrong_room"),
        (&unknown_key, "unknown_key"),
        (&"garbage".to_string(), "malformed"),
    ] {
        assert_eq!(
            refused(&gateway, pass).await,
            429,
            "{reason} pass must be queued"
        );
        let counted = gateway
            .metric(
                "anteroom_pass_rejected_total",
                &["room=\"tour\"", &format!("reason=\"{reason}\"")],
            )
            .await;
        assert!(counted >= 1.0, "{reason} not counted");
    }
    assert_eq!(
        gateway
            .metric(
                "anteroom_pass_rejected_total",
                &["room=\"tour\"", "reason=\"bad_signature\""]
            )
            .await,
        2.0
    );
    assert!(origin.seen().is_empty(), "no bad pass reached the origin");

    // The valid pass goes through, and only the verified pass is forwarded.
    let response = support::client()
        .get(gateway.url("/tour/seats"))
        .header("x-anteroom-pass", &valid)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(origin.seen().len(), 1);
    assert_eq!(origin.seen()[0].pass.as_deref(), Some(valid.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_pass_header_never_reaches_the_origin_even_in_passthrough() {
    let origin = Origin::start().await;
    let rooms = room_toml("tour", origin.addr, &["/tour"], "mode = \"passthrough\"");
    let gateway = Gateway::start(&Backend::memory(), &rooms, "").await;
    let response = support::client()
        .get(gateway.url("/tour"))
        .header("x-anteroom-pass", "v1.k1.forged.forged")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(origin.seen().len(), 1);
    assert_eq!(
        origin.seen()[0].pass,
        None,
        "the client's made-up pass was stripped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_visitor_id_cannot_take_someones_place() {
    let origin = Origin::start().await;
    let (gateway, _redis) = gateway_with_two_rooms(&origin).await;
    let mut owner = Visitor::new();
    let owned = owner.get_json(&gateway.url("/tour")).await.json();
    assert_eq!(owned["position"], 1);
    let signed = owner.vid.clone().expect("visitor cookie");
    let raw = signed.split('.').next().unwrap().to_string();

    // The bare id, or the id with a made-up signature, is not that visitor.
    for forged in [raw.clone(), format!("{raw}.k1.AAAAAAAAAAAAAAAAAAAAAA")] {
        let mut thief = Visitor {
            vid: Some(forged.clone()),
            pass: None,
        };
        let status = thief.get_json(&gateway.url("/tour")).await.json();
        assert_ne!(
            status["position"], 1,
            "forged id {forged} got the owner's place"
        );
        assert_ne!(thief.vid.as_deref(), Some(signed.as_str()));
        assert!(!status["visitor"].as_str().unwrap().starts_with(&raw));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_pass_stops_working_on_every_request() {
    let origin = Origin::start().await;
    let rooms = room_toml(
        "tour",
        origin.addr,
        &["/tour"],
        "mode = \"queue-all\"\nadmit_per_second = 100.0\nmax_active = 10",
    );
    let redis = Backend::redis();
    let gateway = Gateway::start(&redis, &rooms, "").await;
    let mut fan = Visitor::new();
    fan.wait_admitted(&gateway, "tour", std::time::Duration::from_secs(5))
        .await;
    assert_eq!(fan.get(&gateway.url("/tour")).await.status, 200);
    let vid = fan.vid.clone().unwrap();

    // A moment later than the pass's issue second, so the revocation covers it.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let response = support::client()
        .post(gateway.admin_url("/v1/rooms/tour/revoke"))
        .bearer_auth(support::ADMIN_TOKEN)
        .json(&serde_json::json!({ "visitor": vid }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let mut with_old_pass = Visitor {
        vid: None,
        pass: fan.pass.clone(),
    };
    let answer = with_old_pass.get_json(&gateway.url("/tour")).await;
    assert_eq!(
        answer.status, 429,
        "a revoked pass is refused and its bearer queued: {}",
        answer.body
    );
    assert_eq!(origin.seen().len(), 1);
    assert!(
        gateway
            .metric("anteroom_pass_rejected_total", &["reason=\"revoked\""])
            .await
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_requires_its_token() {
    let origin = Origin::start().await;
    let (gateway, _redis) = gateway_with_two_rooms(&origin).await;
    let client = support::client();
    for token in [None, Some("wrong-token"), Some("")] {
        let mut request = client.get(gateway.admin_url("/v1/rooms"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");
    }
    let patch = client
        .patch(gateway.admin_url("/v1/rooms/tour"))
        .json(&serde_json::json!({"admit_per_second": 1000.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 401);
    let room = gateway.admin_room("tour").await;
    assert_eq!(
        room["admit_per_second"], 0.001,
        "an unauthorized PATCH changed nothing"
    );

    let bad = client
        .patch(gateway.admin_url("/v1/rooms/tour"))
        .bearer_auth(support::ADMIN_TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let unknown = client
        .patch(gateway.admin_url("/v1/rooms/tour"))
        .bearer_auth(support::ADMIN_TOKEN)
        .json(&serde_json::json!({"speed": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    let body: serde_json::Value = unknown.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("speed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_rooms_and_endpoints_get_json_errors() {
    let origin = Origin::start().await;
    let (gateway, _redis) = gateway_with_two_rooms(&origin).await;
    let mut fan = Visitor::new();
    let unknown = fan
        .get_json(&gateway.url("/_anteroom/status?room=nope"))
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"], "unknown_room");
    let missing = fan.get_json(&gateway.url("/_anteroom/status")).await;
    assert_eq!(missing.status, 404);
    let nothing = fan
        .get_json(&gateway.url("/_anteroom/nothing?room=tour"))
        .await;
    assert_eq!(nothing.status, 404);
    assert_eq!(nothing.json()["error"], "not_found");
}
