//! The bot guard against real `anteroom serve` processes: a scripted bot, a farm rotating
//! visitor ids behind one fingerprint, the proof-of-work endpoints (forged, expired,
//! other-room and replayed solutions), the allow list, `X-Forwarded-For` from untrusted and
//! trusted peers, an IPv6 bot rotating addresses inside its /64, counters shared by two gateways on one Redis, and 500 real-looking
//! browsers from distinct addresses that must all get through.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use anteroom_admission::{unix_now, VisitorId};
use anteroom_bot_guard::{issue, solve, ChallengeKey, ChallengeSpec};
use support::stream_client::{AnyStream, Said};
use support::{room_toml, Backend, Gateway, Origin, Visitor, SECRET};

const ROOM: &str = "sale";

async fn gateway(backend: &Backend, origin: &Origin, guard: &str, room_extra: &str) -> Gateway {
    let rooms = room_toml(
        ROOM,
        origin.addr,
        &["/sale"],
        &format!("mode = \"queue-all\"\nadmit_per_second = 1\n{room_extra}"),
    );
    let gateway = Gateway::start(backend, &rooms, &format!("[bot_guard]\n{guard}\n")).await;
    gateway
        .admin_patch(ROOM, serde_json::json!({ "paused": true }))
        .await;
    gateway
}

/// An HTTP client whose connections come from `source` (any 127.x.y.z works on loopback).
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A scripted client: no cookies kept (a new visitor id every time), a library's headers.
async fn bot_join(
    client: &reqwest::Client,
    gateway: &Gateway,
    extra: &[(&str, String)],
) -> (u16, serde_json::Value) {
    let mut request = client
        .get(gateway.url("/sale/tickets"))
        .header("user-agent", "python-requests/2.31.0")
        .header("accept", "application/json");
    for (name, value) in extra {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    )
}

async fn waiting(gateway: &Gateway) -> u64 {
    gateway.admin_room(ROOM).await["waiting"].as_u64().unwrap()
}

async fn scripted_bot_is_throttled(backend: Backend) {
    let origin = Origin::start().await;
    let gateway = gateway(
        &backend,
        &origin,
        "challenge = \"off\"\nmax_places_per_ip = 4",
        "",
    )
    .await;
    let bot = client_from("127.0.0.9");
    let mut places = 0;
    for _ in 0..200 {
        let (status, body) = bot_join(&bot, &gateway, &[]).await;
        assert_eq!(status, 429, "{body}");
        if body["position"].as_u64().is_some() {
            places += 1;
        }
    }
    // Every answer looks like a waiting visitor's, but at most four are real places.
    assert_eq!(places, 200, "a shadowed bot sees a position too");
    assert!(
        waiting(&gateway).await <= 4,
        "{}",
        gateway.admin_room(ROOM).await
    );
    let shadowed = gateway
        .metric("anteroom_bot_verdicts_total", &["verdict=\"shadow\""])
        .await;
    assert!(shadowed >= 150.0, "shadow verdicts: {shadowed}");

    // Real visitors from their own addresses join behind the bot and are all admitted;
    // the bot never gets more than its four places in.
    let mut fans = Vec::new();
    for n in 2..5 {
        let fan = client_from(&format!("127.0.1.{n}"));
        let answer = fan
            .get(gateway.url("/_anteroom/status?room=sale"))
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
            .header("accept-language", "en-GB,en;q=0.9")
            .header("accept-encoding", "gzip, deflate")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        let cookie = cookies_set(&answer);
        fans.push((fan, cookie));
    }
    let queued = waiting(&gateway).await;
    assert!(queued <= 7, "{queued}");
    gateway
        .admin_patch(
            ROOM,
            serde_json::json!({ "paused": false, "admit_per_second": 20.0 }),
        )
        .await;
    for (fan, cookie) in &fans {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let status =
                status_with(fan, &gateway.url("/_anteroom/status?room=sale"), cookie).await;
            if status["state"] == "admitted" {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "fan not admitted: {status}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let admitted = gateway.admin_room(ROOM).await["admitted_total"]
        .as_u64()
        .unwrap();
    assert!(
        admitted <= queued,
        "admitted {admitted} of {queued} real places"
    );
}

#[tokio::test]
async fn memory_a_scripted_bot_holds_at_most_its_places_and_is_shadowed() {
    scripted_bot_is_throttled(Backend::memory()).await;
}

#[tokio::test]
async fn redis_a_scripted_bot_holds_at_most_its_places_and_is_shadowed() {
    scripted_bot_is_throttled(Backend::redis()).await;
}

#[tokio::test]
async fn rotating_ids_behind_one_fingerprint_and_subnet_hold_at_most_k_places() {
    let origin = Origin::start().await;
    let backend = Backend::memory();
    let gateway = gateway(
        &backend,
        &origin,
        "challenge = \"off\"\nmax_places_per_ip = 1000\nmax_places_per_fingerprint = 4",
        "",
    )
    .await;
    let clients: Vec<reqwest::Client> = (1..=200)
        .map(|n| client_from(&format!("127.0.5.{n}")))
        .collect();
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let clients = clients.clone();
        let url = gateway.url("/sale/tickets");
        tasks.push(tokio::spawn(async move {
            for n in 0..250 {
                let client = &clients[(worker * 250 + n) % clients.len()];
                let response = client
                    .get(&url)
                    .header(
                        "user-agent",
                        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                    )
                    .header("accept", "application/json")
                    .header("accept-language", "en-US,en;q=0.5")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 429);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert!(
        waiting(&gateway).await <= 4,
        "{}",
        gateway.admin_room(ROOM).await
    );
    let by_fingerprint = gateway
        .metric(
            "anteroom_bot_verdicts_total",
            &["reason=\"places_fingerprint\""],
        )
        .await;
    assert!(by_fingerprint >= 1990.0, "{by_fingerprint}");
}

/// A challenge, as the endpoint hands it out, for a visitor cookie.
async fn get_challenge(
    gateway: &Gateway,
    room: &str,
    cookie: Option<&str>,
) -> (serde_json::Value, String) {
    let mut request =
        support::client().get(gateway.url(&format!("/_anteroom/challenge?room={room}")));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let cookie = cookie.map(str::to_string).unwrap_or_else(|| {
        response
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string()
    });
    (response.json().await.unwrap(), cookie)
}

async fn post_solution(
    gateway: &Gateway,
    room: &str,
    cookie: &str,
    challenge: &str,
    nonces: &str,
) -> (u16, serde_json::Value) {
    let response = support::client()
        .post(gateway.url(&format!("/_anteroom/challenge?room={room}")))
        .header("cookie", cookie)
        .header("content-type", "application/json")
        .body(serde_json::json!({ "challenge": challenge, "nonces": nonces }).to_string())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn nonces_text(nonces: &[u64]) -> String {
    nonces
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[tokio::test]
async fn a_solved_challenge_lets_in_once_and_forgeries_replays_and_expired_ones_do_not() {
    let origin = Origin::start().await;
    let backend = Backend::redis();
    let rooms = format!(
        "{}{}",
        room_toml(
            ROOM,
            origin.addr,
            &["/sale"],
            "mode = \"queue-all\"\nadmit_per_second = 1"
        ),
        room_toml(
            "other",
            origin.addr,
            &["/other"],
            "mode = \"queue-all\"\nadmit_per_second = 1"
        )
    );
    let gateway = Gateway::start(
        &backend,
        &rooms,
        "[bot_guard]\nchallenge = \"always\"\ndifficulty_floor = 0\ndifficulty_cap = 1\n",
    )
    .await;

    // Asking for a place: the status names the challenge, no position.
    let mut visitor = support::Visitor::new();
    let status = visitor
        .get_json(&gateway.url("/_anteroom/status?room=sale"))
        .await
        .json();
    assert_eq!(
        status["challenge"]["url"], "/_anteroom/challenge?room=sale",
        "{status}"
    );
    assert!(status["position"].is_null());
    let cookie = format!("anteroom_vid={}", visitor.vid.clone().unwrap());

    let (issued, cookie) = get_challenge(&gateway, ROOM, Some(&cookie)).await;
    let challenge = issued["challenge"].as_str().unwrap().to_string();
    let nonces = nonces_text(&solve(&challenge).unwrap());

    // Forged: any changed byte of the challenge.
    let mut forged = challenge.clone().into_bytes();
    let last = forged.len() - 3;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let (code, body) = post_solution(
        &gateway,
        ROOM,
        &cookie,
        &String::from_utf8(forged).unwrap(),
        &nonces,
    )
    .await;
    assert_eq!(
        (code, body["error"].as_str()),
        (400, Some("challenge_failed")),
        "{body}"
    );
    // Another room's challenge.
    let (code, body) = post_solution(&gateway, "other", &cookie, &challenge, &nonces).await;
    assert_eq!(
        (code, body["detail"].as_str()),
        (400, Some("wrong_room")),
        "{body}"
    );
    // Expired (signed with the gateway's key, but issued long ago).
    let key = ChallengeKey::derive(SECRET.as_bytes());
    let visitor_id: VisitorId = support::keyring()
        .verify_visitor(visitor.vid.as_deref().unwrap())
        .unwrap();
    let old = issue(
        &ChallengeSpec::new(ROOM, visitor_id, 0, unix_now() - 1000, 120),
        &key,
    );
    let old_nonces = nonces_text(&solve(&old).unwrap());
    let (code, body) = post_solution(&gateway, ROOM, &cookie, &old, &old_nonces).await;
    assert_eq!(
        (code, body["detail"].as_str()),
        (400, Some("expired")),
        "{body}"
    );

    // The real solution takes a place; the same solution again is refused.
    let (code, body) = post_solution(&gateway, ROOM, &cookie, &challenge, &nonces).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["position"], 1, "{body}");
    assert!(body["challenge"].is_null());
    let (code, body) = post_solution(&gateway, ROOM, &cookie, &challenge, &nonces).await;
    assert_eq!(
        (code, body["error"].as_str()),
        (409, Some("challenge_used")),
        "{body}"
    );

    // Ten concurrent replays of one fresh solution: exactly one accepted.
    let (issued, cookie) = get_challenge(&gateway, ROOM, None).await;
    let challenge = issued["challenge"].as_str().unwrap().to_string();
    let nonces = nonces_text(&solve(&challenge).unwrap());
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (url, cookie, challenge, nonces) = (
            gateway.url("/_anteroom/challenge?room=sale"),
            cookie.clone(),
            challenge.clone(),
            nonces.clone(),
        );
        tasks.push(tokio::spawn(async move {
            support::client()
                .post(url)
                .header("cookie", cookie)
                .body(serde_json::json!({ "challenge": challenge, "nonces": nonces }).to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut codes = Vec::new();
    for task in tasks {
        codes.push(task.await.unwrap());
    }
    codes.sort();
    assert_eq!(codes, [200, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
    assert_eq!(
        gateway
            .metric(
                "anteroom_challenges_total",
                &[&format!("room=\"{ROOM}\""), "outcome=\"replayed\""]
            )
            .await,
        10.0
    );
}

#[tokio::test]
async fn the_allow_list_bypasses_the_guard_and_untrusted_forwarding_is_ignored() {
    let origin = Origin::start().await;
    let backend = Backend::memory();
    // Allow-listed: fifty rotating ids from one address all take places.
    let open = gateway(
        &backend,
        &origin,
        "challenge = \"off\"\nallow_cidrs = [\"127.0.0.0/8\"]",
        "",
    )
    .await;
    let bot = client_from("127.0.0.9");
    for _ in 0..50 {
        assert_eq!(bot_join(&bot, &open, &[]).await.0, 429);
    }
    assert_eq!(waiting(&open).await, 50);
    drop(open);

    // X-Forwarded-For from a peer that is not a trusted proxy changes nothing.
    let strict = gateway(&backend, &origin, "challenge = \"off\"", "").await;
    for n in 0..10 {
        let forwarded = [("x-forwarded-for", format!("203.0.113.{n}"))];
        bot_join(&bot, &strict, &forwarded).await;
    }
    assert_eq!(waiting(&strict).await, 4);
}

/// A paused room (no admission tick takes anyone out of the line meanwhile) whose gateway
/// trusts the balancer at 127.0.0.9 to name clients in `X-Forwarded-For`.
async fn behind_a_balancer(backend: &Backend, origin: &Origin, guard: &str) -> Gateway {
    let rooms = room_toml(
        ROOM,
        origin.addr,
        &["/sale"],
        "mode = \"queue-all\"\nadmit_per_second = 1",
    );
    let gateway = Gateway::start(
        backend,
        &rooms,
        &format!("trusted_proxies = [\"127.0.0.9/32\"]\n[bot_guard]\nchallenge = \"off\"\n{guard}"),
    )
    .await;
    gateway
        .admin_patch(ROOM, serde_json::json!({ "paused": true }))
        .await;
    gateway
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client() {
    let origin = Origin::start().await;
    let gateway = behind_a_balancer(&Backend::memory(), &origin, "").await;
    let balancer = client_from("127.0.0.9");
    for n in 0..10 {
        let forwarded = [("x-forwarded-for", format!("198.51.{n}.7"))];
        bot_join(&balancer, &gateway, &forwarded).await;
    }
    assert_eq!(
        waiting(&gateway).await,
        10,
        "ten clients behind one balancer"
    );
}

/// A bot with an IPv6 network behind a trusted proxy: a new address of one /64 and a new
/// header fingerprint for every join (what any host can do: it picks its own addresses in its
/// /64). The per-IP place limit counts the /64, so it still holds four places; a client in
/// the next /64 of the same /56 is someone else.
async fn an_ipv6_bot_rotating_addresses_in_its_slash_64(backend: Backend) {
    let origin = Origin::start().await;
    let gateway = behind_a_balancer(
        &backend,
        &origin,
        "max_places_per_ip = 4\nmax_places_per_fingerprint = 4\n",
    )
    .await;
    let balancer = client_from("127.0.0.9");
    for n in 0..12 {
        let forwarded = [
            (
                "x-forwarded-for",
                format!("2001:db8:0:1ab::{:x}", 0x100 + n),
            ),
            ("accept-language", format!("en-{n}")),
        ];
        assert_eq!(bot_join(&balancer, &gateway, &forwarded).await.0, 429);
    }
    assert_eq!(
        waiting(&gateway).await,
        4,
        "{}",
        gateway.admin_room(ROOM).await
    );
    let by_ip = gateway
        .metric("anteroom_bot_verdicts_total", &["reason=\"places_ip\""])
        .await;
    assert_eq!(by_ip, 8.0);
    let next = [("x-forwarded-for", "2001:db8:0:1ac::1".to_string())];
    bot_join(&balancer, &gateway, &next).await;
    assert_eq!(waiting(&gateway).await, 5, "the next /64 is another client");
}

/// A shared address (carrier-grade NAT, a campus) allowed more places than a fingerprint:
/// distinct browsers behind it all take theirs, and one fingerprint still only its own.
#[tokio::test]
async fn a_shared_address_allowed_more_places_takes_them() {
    let origin = Origin::start().await;
    let gateway = behind_a_balancer(
        &Backend::memory(),
        &origin,
        "max_places_per_ip = 100\nmax_places_per_fingerprint = 2\n",
    )
    .await;
    let balancer = client_from("127.0.0.9");
    let nat = ("x-forwarded-for", "198.51.100.7".to_string());
    for n in 0..6 {
        let browser = [nat.clone(), ("accept-language", format!("en-{n}"))];
        assert_eq!(bot_join(&balancer, &gateway, &browser).await.0, 429);
    }
    assert_eq!(
        waiting(&gateway).await,
        6,
        "six browsers behind one address"
    );
    for _ in 0..3 {
        let same = [nat.clone(), ("accept-language", "en-0".to_string())];
        bot_join(&balancer, &gateway, &same).await;
    }
    assert_eq!(waiting(&gateway).await, 7, "one fingerprint: two places");
}

/// Visitors who keep streams open keep their places held, and no more: a stream ends at half
/// the hold (its client reconnects and meets the guard again, refreshing the place), so after
/// several holds the address still has its two places and a third visitor gets none. (Streams
/// that never ended let the guard forget the two after one hold while they kept their places
/// in the line: every hold, two more.)
async fn streams_keep_their_places_held_and_no_more(backend: Backend) {
    let origin = Origin::start().await;
    let gateway = gateway(
        &backend,
        &origin,
        "challenge = \"off\"\nmax_places_per_ip = 2",
        "session_seconds = 2\nabandon_after_seconds = 2",
    )
    .await;
    let status_url = gateway.url(&format!("/_anteroom/status?room={ROOM}"));
    let mut cookies = Vec::new();
    for _ in 0..2 {
        let mut visitor = Visitor::new();
        assert_eq!(visitor.get_json(&status_url).await.status, 200);
        cookies.push(format!("anteroom_vid={}", visitor.vid.unwrap()));
    }
    assert_eq!(waiting(&gateway).await, 2);
    let public = gateway.public;
    let open = |cookie: String| async move {
        AnyStream::open("sse", public, ROOM, Some(cookie.as_str())).await
    };
    let mut streams = [
        open(cookies[0].clone()).await,
        open(cookies[1].clone()).await,
    ];
    // Two and a half holds, reconnecting each stream when it ends, as the waiting page does.
    let until = Instant::now() + Duration::from_millis(5_000);
    let mut renewals = 0;
    while Instant::now() < until {
        for (stream, cookie) in streams.iter_mut().zip(&cookies) {
            match stream.next(Duration::from_millis(50)).await {
                Some(Said::Status(_)) | None => {}
                Some(_) => {
                    renewals += 1;
                    *stream = open(cookie.clone()).await;
                }
            }
        }
    }
    assert!(
        renewals >= 4,
        "streams end at half the hold: {renewals} renewals"
    );
    assert_eq!(waiting(&gateway).await, 2, "both kept their places");
    let mut third = Visitor::new();
    let answer = third.get_json(&status_url).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        waiting(&gateway).await,
        2,
        "the address's two places are still held: {}",
        answer.body
    );
    let by_ip = gateway
        .metric("anteroom_bot_verdicts_total", &["reason=\"places_ip\""])
        .await;
    assert_eq!(by_ip, 1.0);
}

#[tokio::test]
async fn memory_streams_keep_their_places_held_and_no_more() {
    streams_keep_their_places_held_and_no_more(Backend::memory()).await;
}

#[tokio::test]
async fn redis_streams_keep_their_places_held_and_no_more() {
    streams_keep_their_places_held_and_no_more(Backend::redis()).await;
}

/// The status object `client` gets at `url` with `cookie`.
async fn status_with(client: &reqwest::Client, url: &str, cookie: &str) -> serde_json::Value {
    client
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The `name=value` pairs a response set, joined as a `Cookie` header.
fn cookies_set(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok()?.split(';').next().map(str::to_string))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A visitor shadowed after it joined (hammering without its clearance) is never handed a
/// pass when its turn comes — not on a request that carries its clearance (which skips the
/// guard), not on its live stream — while a clean visitor behind it is admitted.
#[tokio::test]
async fn a_visitor_shadowed_after_joining_is_never_admitted() {
    let origin = Origin::start().await;
    let gateway = gateway(&Backend::memory(), &origin, "challenge = \"off\"", "").await;
    let status_url = gateway.url("/_anteroom/status?room=sale");
    let bot = client_from("127.0.0.9");
    let joined = bot.get(&status_url).send().await.unwrap();
    let cookies = cookies_set(&joined);
    assert!(cookies.contains("anteroom_guard="), "{cookies}");
    let vid_only: String = cookies
        .split("; ")
        .filter(|pair| pair.starts_with("anteroom_vid="))
        .collect();
    for _ in 0..40 {
        let answer = bot
            .get(&status_url)
            .header("cookie", &vid_only)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    let shadowed = gateway
        .metric(
            "anteroom_bot_verdicts_total",
            &["verdict=\"shadow\"", "reason=\"velocity_visitor\""],
        )
        .await;
    assert!(
        shadowed >= 1.0,
        "the hammering visitor is shadowed: {shadowed}"
    );
    let mut stream = AnyStream::open("sse", gateway.public, ROOM, Some(&cookies)).await;
    stream.status(Duration::from_secs(5)).await;

    let fan = client_from("127.0.3.1");
    let fan_cookies = cookies_set(&fan.get(&status_url).send().await.unwrap());
    gateway
        .admin_patch(
            ROOM,
            serde_json::json!({ "paused": false, "admit_per_second": 20.0 }),
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let bot_status = status_with(&bot, &status_url, &cookies).await;
        assert!(
            bot_status["pass"].is_null(),
            "a shadowed visitor got a pass: {bot_status}"
        );
        if let Some(Said::Status(update)) = stream.next(Duration::from_millis(20)).await {
            assert!(update["pass"].is_null(), "on its stream: {update}");
        }
        let fan_status = status_with(&fan, &status_url, &fan_cookies).await;
        if fan_status["state"] == "admitted" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the fan behind is not admitted: {fan_status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The bot's turn came first (it joined first): it was admitted by the line, never handed
    // a pass. Once more after the fan's admission, both ways.
    let last = status_with(&bot, &status_url, &cookies).await;
    assert!(
        last["pass"].is_null() && last["state"] != "admitted",
        "{last}"
    );
}

/// `GET /v1/rooms/sale/guard`: the rules this instance applies, and the live change.
async fn guard_rules(gateway: &Gateway) -> serde_json::Value {
    support::client()
        .get(gateway.admin_url(&format!("/v1/rooms/{ROOM}/guard")))
        .bearer_auth(support::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A burst of fans behind one carrier-grade NAT address, as at a sale's opening minute: with
/// the default per-IP velocity (20 per 10 s) most of seventy are challenged and, past three
/// times the limit, shadowed; with the room's `velocity_per_ip` raised live for that network,
/// all take their places.
#[tokio::test]
async fn a_busy_shared_address_gets_through_with_its_velocity_raised() {
    let origin = Origin::start().await;
    let gateway = behind_a_balancer(
        &Backend::memory(),
        &origin,
        "max_places_per_ip = 1000\nmax_places_per_fingerprint = 1000\n",
    )
    .await;
    let balancer = client_from("127.0.0.9");
    let burst = |from: &'static str| {
        let (balancer, gateway) = (&balancer, &gateway);
        async move {
            for n in 0..70 {
                let fan = [
                    ("x-forwarded-for", from.to_string()),
                    ("accept-language", format!("en-{n}")),
                ];
                bot_join(balancer, gateway, &fan).await;
            }
        }
    };
    burst("198.51.100.7").await;
    let throttled = gateway
        .metric("anteroom_bot_verdicts_total", &["reason=\"velocity_ip\""])
        .await;
    assert!(throttled >= 10.0, "default limits: {throttled} throttled");
    let placed_before = waiting(&gateway).await;
    assert!(placed_before < 70, "{placed_before}");

    // Raised live for the room with `anteroom ctl guard`.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_anteroom"))
        .args(["ctl", "--admin", &gateway.admin_url(""), "--token"])
        .args([support::ADMIN_TOKEN, "guard", ROOM])
        .args(["--velocity-per-ip", "1000", "--velocity-per-subnet", "1000"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let rules = guard_rules(&gateway).await;
        if rules["rules"]["velocity_per_ip"] == 1000 {
            break;
        }
        assert!(Instant::now() < deadline, "not applied: {rules}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = waiting(&gateway).await;
    burst("198.51.100.8").await;
    assert_eq!(
        waiting(&gateway).await,
        before + 70,
        "every fan behind the busy address took a place"
    );
}

#[tokio::test]
async fn memory_an_ipv6_bot_rotating_addresses_holds_at_most_its_places() {
    an_ipv6_bot_rotating_addresses_in_its_slash_64(Backend::memory()).await;
}

#[tokio::test]
async fn redis_an_ipv6_bot_rotating_addresses_holds_at_most_its_places() {
    an_ipv6_bot_rotating_addresses_in_its_slash_64(Backend::redis()).await;
}

/// A request carrying a pass skips reading what the guard needs (the admitted path pays
/// nothing for it); when no pass is valid, the guard still sees everything: a bot cannot hide
/// its User-Agent behind `X-Anteroom-Pass: x`, nor is a real browser with a stale pass taken
/// for a client without headers.
#[tokio::test]
async fn a_pass_that_is_not_valid_hides_nothing_from_the_guard() {
    let origin = Origin::start().await;
    let backend = Backend::memory();
    let gateway = gateway(
        &backend,
        &origin,
        "block_user_agents = [\"python-requests\"]",
        "",
    )
    .await;
    let bot = client_from("127.0.0.9");
    assert_eq!(bot_join(&bot, &gateway, &[]).await.0, 403);
    for junk in [
        ("x-anteroom-pass", "x".to_string()),
        ("cookie", "anteroom_pass=x".to_string()),
    ] {
        let (status, body) = bot_join(&bot, &gateway, std::slice::from_ref(&junk)).await;
        assert_eq!(status, 403, "{junk:?}: {body}");
    }
    let stale = [("cookie", "anteroom_pass=a-pass-of-another-room")];
    let answer: serde_json::Value = browser_join_with(&client_from("127.0.2.1"), &gateway, &stale)
        .await
        .json()
        .await
        .unwrap();
    assert!(answer["position"].as_u64().is_some(), "{answer}");
    assert!(
        answer["challenge"].is_null(),
        "a real browser is not challenged: {answer}"
    );
}

#[tokio::test]
async fn counters_are_shared_by_two_gateways_on_one_redis() {
    let origin = Origin::start().await;
    let backend = Backend::redis();
    let guard = "challenge = \"off\"\nmax_places_per_ip = 4";
    let a = gateway(&backend, &origin, guard, "").await;
    let b = gateway(&backend, &origin, guard, "").await;
    let bot = client_from("127.0.0.9");
    for n in 0..12 {
        let gateway = if n % 2 == 0 { &a } else { &b };
        bot_join(&bot, gateway, &[]).await;
    }
    // Four places in all, not four per gateway.
    assert_eq!(waiting(&a).await, 4);
    let shadow_a = a
        .metric("anteroom_bot_verdicts_total", &["verdict=\"shadow\""])
        .await;
    let shadow_b = b
        .metric("anteroom_bot_verdicts_total", &["verdict=\"shadow\""])
        .await;
    assert_eq!(shadow_a + shadow_b, 8.0);
}

/// Realistic browsers, each from its own address, at a normal pace: none is challenged,
/// shadowed or blocked.
#[tokio::test]
async fn five_hundred_real_browsers_all_get_through() {
    let origin = Origin::start().await;
    let backend = Backend::memory();
    // The guard as configured by default; the room admits 50 a second, so 500 in line is a
    // ten-second wait (a long line would price a proof of work for everyone: `demand`).
    let rooms = room_toml(
        ROOM,
        origin.addr,
        &["/sale"],
        "mode = \"queue-all\"\nadmit_per_second = 50",
    );
    let gateway = Gateway::start(&backend, &rooms, "[bot_guard]\nenabled = true\n").await;
    gateway
        .admin_patch(ROOM, serde_json::json!({ "paused": true }))
        .await;
    let browsers: [&[(&str, &str)]; 4] = [
        &[
            ("user-agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
            ("upgrade-insecure-requests", "1"),
            ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"),
            ("accept-encoding", "gzip, deflate"),
            ("accept-language", "en-US,en;q=0.9"),
        ],
        &[
            ("user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
            ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            ("accept-language", "de-DE,de;q=0.8,en-US;q=0.5,en;q=0.3"),
            ("accept-encoding", "gzip, deflate"),
            ("upgrade-insecure-requests", "1"),
        ],
        &[
            ("user-agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"),
            ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            ("accept-language", "fr-FR,fr;q=0.9"),
            ("accept-encoding", "gzip, deflate"),
        ],
        &[
            ("user-agent", "Mozilla/5.0 (Linux; Android 14; SM-A146B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36"),
            ("upgrade-insecure-requests", "1"),
            ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"),
            ("accept-encoding", "gzip, deflate"),
            ("accept-language", "es-ES,es;q=0.9"),
        ],
    ];
    for n in 0..500u32 {
        let client = client_from(&format!(
            "127.{}.{}.{}",
            10 + n / 250,
            (n % 250) / 10,
            1 + n % 10 * 20
        ));
        let mut request = client.get(gateway.url(&format!("/sale/event?n={n}")));
        for (name, value) in browsers[n as usize % browsers.len()] {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "browser {n}");
        let page = response.text().await.unwrap();
        assert!(
            page.contains("position") || page.contains("Position"),
            "browser {n}"
        );
        if n % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let verdicts: Vec<String> = gateway
        .metrics_text()
        .await
        .lines()
        .filter(|l| l.starts_with("anteroom_bot_verdicts_total"))
        .map(str::to_string)
        .collect();
    assert_eq!(waiting(&gateway).await, 500, "{verdicts:#?}");
    for verdict in ["challenge", "shadow", "block"] {
        assert_eq!(
            gateway
                .metric(
                    "anteroom_bot_verdicts_total",
                    &[&format!("verdict=\"{verdict}\"")]
                )
                .await,
            0.0,
            "{verdict}"
        );
    }
}

/// A browser's join (Firefox's headers, JSON answer), without cookies: a new visitor each time.
async fn browser_join(client: &reqwest::Client, gateway: &Gateway) -> reqwest::Response {
    browser_join_with(client, gateway, &[]).await
}

/// A browser's join (Firefox's headers, as an app asking for JSON), with `extra` headers.
async fn browser_join_with(
    client: &reqwest::Client,
    gateway: &Gateway,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = client
        .get(gateway.url("/sale/tickets"))
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        )
        .header("accept", "application/json")
        .header("accept-language", "en-US,en;q=0.5");
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn velocity_limits_hold_for_the_sum_of_two_gateways() {
    let origin = Origin::start().await;
    let backend = Backend::redis();
    // Places are plentiful here: only the per-IP velocity (20 per 10 s) can stop anyone.
    let guard =
        "challenge = \"adaptive\"\nmax_places_per_ip = 1000\nmax_places_per_fingerprint = 1000";
    let a = gateway(&backend, &origin, guard, "").await;
    let b = gateway(&backend, &origin, guard, "").await;
    let client = client_from("127.0.0.9");
    for n in 0..30 {
        let gateway = if n % 2 == 0 { &a } else { &b };
        let response = browser_join(&client, gateway).await;
        assert_eq!(response.status(), 429);
    }
    // Fifteen requests through each: under the limit per gateway, over it together.
    let velocity_ip = |text: String| {
        text.lines()
            .filter(|line| {
                line.starts_with("anteroom_bot_verdicts_total")
                    && line.contains("reason=\"velocity_ip\"")
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let over_a = velocity_ip(a.metrics_text().await);
    let over_b = velocity_ip(b.metrics_text().await);
    assert_eq!(over_a + over_b, 10.0, "a {over_a}, b {over_b}");
}

#[tokio::test]
async fn live_rules_reach_every_gateway_within_a_second() {
    let origin = Origin::start().await;
    let backend = Backend::redis();
    let a = gateway(&backend, &origin, "challenge = \"off\"", "").await;
    let b = gateway(&backend, &origin, "challenge = \"off\"", "").await;
    let admin = |gateway: &Gateway| gateway.admin_url("/v1/rooms/sale/guard");

    // A change with several mistakes is refused whole, each named.
    let refused = support::client()
        .patch(admin(&a))
        .bearer_auth(support::ADMIN_TOKEN)
        .json(&serde_json::json!({ "challenge": "sometimes", "allow_cidrs": ["10.1.2.3/8"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let detail = refused.json::<serde_json::Value>().await.unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        detail.contains("challenge") && detail.contains("allow_cidrs"),
        "{detail}"
    );

    // `anteroom ctl guard` changes it through A.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_anteroom"))
        .args([
            "ctl",
            "--admin",
            &a.admin_url(""),
            "--token",
            support::ADMIN_TOKEN,
        ])
        .args([
            "guard",
            "sale",
            "--challenge",
            "always",
            "--max-places",
            "2",
        ])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(printed.contains("challenge: \"always\""), "{printed}");

    // B applies it within a second, and a new visitor there is asked for a proof of work.
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    loop {
        let rules = guard_rules(&b).await;
        if rules["rules"]["challenge"] == "always" {
            assert_eq!(rules["rules"]["max_places_per_ip"], 2);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not applied on B in 1 s: {rules}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut visitor = support::Visitor::new();
    let status = visitor
        .get_json(&b.url("/_anteroom/status?room=sale"))
        .await
        .json();
    assert_eq!(
        status["challenge"]["url"], "/_anteroom/challenge?room=sale",
        "{status}"
    );
}

/// What Redis runs while it is watched (`redis-cli monitor` into a file): the commands the
/// clients sent, and those scripts ran (marked `lua]`).
struct Monitor {
    child: std::process::Child,
    path: std::path::PathBuf,
}

impl Monitor {
    fn start(backend: &Backend) -> Monitor {
        let Backend::Redis(server) = backend else {
            panic!("a Redis backend")
        };
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "anteroom-monitor-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let child = std::process::Command::new("redis-cli")
            .args(["-p", &server.port().to_string(), "monitor"])
            .stdout(std::fs::File::create(&path).unwrap())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !std::fs::read_to_string(&path).unwrap().starts_with("OK") {
            assert!(
                std::time::Instant::now() < deadline,
                "monitor did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Monitor { child, path }
    }

    /// The commands run since `start` (after a pause for the last to arrive).
    async fn stop(mut self) -> Vec<String> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let text = std::fs::read_to_string(&self.path).unwrap();
        std::fs::remove_file(&self.path).unwrap();
        text.lines()
            .filter(|line| line.contains('"'))
            .map(str::to_string)
            .collect()
    }
}

/// The SHA-1 of a script as Redis names it (`SCRIPT LOAD`; loading again changes nothing).
fn script_sha(backend: &Backend, script: &str) -> String {
    let Backend::Redis(server) = backend else {
        panic!("a Redis backend")
    };
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &server.port().to_string(), "script", "load", script])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The round trips of joins, from what ran: the guard's (its check-and-join script sent),
/// plain joins (the queue's join script sent), and shadow lookups (an `EXISTS` of a shadow
/// key, sent or run by a script).
fn join_round_trips(ran: &[String], [guard_sha, join_sha]: &[String; 2]) -> (usize, usize, usize) {
    let sent: Vec<&String> = ran.iter().filter(|line| !line.contains(" lua] ")).collect();
    let shadow_lookups = ran
        .iter()
        .filter(|line| line.to_lowercase().contains("\"exists\" \"bg:{sale}:s:"))
        .count();
    let sending = |sha: &str| {
        sent.iter()
            .filter(|line| line.contains(&format!("\"{sha}\"")))
            .count()
    };
    (sending(guard_sha), sending(join_sha), shadow_lookups)
}

/// An allowed fan costs the guard and the join one round trip in all: the guard's script
/// counts it and takes its place (ADR 0007). A visitor id made on the request is not looked
/// up for a shadow (it cannot have one yet); a returning one is, in that same round trip.
#[tokio::test]
async fn a_new_visitor_costs_the_guard_one_round_trip_and_a_returning_one_is_looked_up() {
    let origin = Origin::start().await;
    let backend = Backend::redis();
    let gateway = gateway(&backend, &origin, "challenge = \"off\"", "").await;
    let shas = [
        script_sha(&backend, &anteroom_bot_guard::check_and_join_lua()),
        script_sha(&backend, anteroom_queue::JOIN_LUA),
    ];
    let monitor = Monitor::start(&backend);
    for source in ["127.0.0.21", "127.0.0.22", "127.0.0.23"] {
        let (status, body) = bot_join(&client_from(source), &gateway, &[]).await;
        assert_eq!((status, body["state"].as_str()), (429, Some("paused")));
    }
    let ran = monitor.stop().await;
    assert_eq!(
        join_round_trips(&ran, &shas),
        (3, 0, 0),
        "one guard round trip each, no join of its own, no shadow lookup for new ids: {ran:#?}"
    );
    assert_eq!(waiting(&gateway).await, 3, "each took a place");
    assert_eq!(
        gateway
            .metric("anteroom_store_seconds_count", &["op=\"join\""])
            .await,
        0.0,
        "no join round trip"
    );
    assert_eq!(
        gateway
            .metric("anteroom_store_seconds_count", &["op=\"guard_join\""])
            .await,
        3.0
    );
    assert_eq!(gateway.metric("anteroom_joins_total", &[]).await, 3.0);

    // The same visitor again, without its clearance: its id is known now, so it is looked up
    // — inside the same one round trip.
    let mut visitor = support::Visitor::new();
    visitor.get_json(&gateway.url("/sale/tickets")).await;
    let jar_without_clearance = visitor.vid.clone().unwrap();
    let monitor = Monitor::start(&backend);
    let answer = client_from("127.0.0.24")
        .get(gateway.url("/sale/tickets"))
        .header("accept", "application/json")
        .header("cookie", format!("anteroom_vid={jar_without_clearance}"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 429);
    let ran = monitor.stop().await;
    assert_eq!(
        join_round_trips(&ran, &shas),
        (1, 0, 1),
        "looked up within the one round trip: {ran:#?}"
    );
    assert_eq!(
        waiting(&gateway).await,
        4,
        "the same place, not a second one"
    );
}

/// A fan over a limit is not joined by the guard's round trip (no place taken) and gets the
/// verdict it always got: over the places per IP, a shadow; over the IP's velocity with
/// challenges on, a challenge.
#[tokio::test]
async fn a_fan_over_a_limit_takes_no_place_and_gets_the_same_verdict() {
    let origin = Origin::start().await;
    let backend = Backend::redis();
    let places = gateway(
        &backend,
        &origin,
        "challenge = \"off\"\nmax_places_per_ip = 2",
        "",
    )
    .await;
    let bot = client_from("127.0.0.31");
    for _ in 0..5 {
        let (status, _) = bot_join(&bot, &places, &[]).await;
        assert_eq!(status, 429);
    }
    assert_eq!(waiting(&places).await, 2, "two places, then none");
    let shadowed = places
        .metric(
            "anteroom_bot_verdicts_total",
            &["verdict=\"shadow\"", "reason=\"places_ip\""],
        )
        .await;
    assert_eq!(shadowed, 3.0);
    assert_eq!(places.metric("anteroom_joins_total", &[]).await, 2.0);

    // Velocity: 20 per 10 s per IP; a browser-like fan from one address with challenges on
    // is challenged from the 21st join and takes no place for it.
    let fans = gateway(
        &backend,
        &origin,
        "challenge = \"adaptive\"\nmax_places_per_ip = 1000\nmax_places_per_fingerprint = 1000",
        "",
    )
    .await;
    let client = client_from("127.0.0.32");
    let mut challenged = 0;
    for _ in 0..25 {
        let body: serde_json::Value = browser_join(&client, &fans).await.json().await.unwrap();
        if body["challenge"].is_object() {
            challenged += 1;
            assert!(body["position"].is_null(), "no place: {body}");
        }
    }
    assert_eq!(challenged, 5);
    assert_eq!(
        fans.metric(
            "anteroom_bot_verdicts_total",
            &["verdict=\"challenge\"", "reason=\"velocity_ip\""]
        )
        .await,
        5.0
    );
    assert_eq!(fans.metric("anteroom_joins_total", &[]).await, 20.0);
}
