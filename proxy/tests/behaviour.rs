//! The gateway's behaviour, end to end through a real `anteroom serve` and a real origin,
//! run once on the memory store and once on a real redis-server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::time::Duration;

use support::{room_toml, Backend, Gateway, Origin, Visitor};

/// Generate one test per store for each scenario.
macro_rules! on_both_stores {
    ($($scenario:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Backend::memory()).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Backend::redis()).await;
                }
            )*
        }
    };
}

on_both_stores!(
    visitor_without_pass_gets_the_waiting_page,
    apps_get_429_with_retry_after_and_the_status_object,
    refresh_and_second_tab_keep_one_place,
    admitted_visitor_reaches_the_origin_with_the_pass_forwarded,
    safety_net_lets_exactly_max_active_through_then_queues,
    leave_frees_the_place_and_moves_the_line_up,
    closed_room_shows_a_clear_page,
    passthrough_proxies_everyone,
    requests_outside_rooms_go_to_the_default_origin,
    origin_down_gets_a_branded_502,
    upgrade_requests_pass_the_same_checks,
    operator_changes_apply_live,
    sold_out_reaches_the_whole_line_at_once,
);

const QUEUE_ALL_SLOW: &str = "mode = \"queue-all\"\nadmit_per_second = 0.001\nmax_active = 100";

/// A gateway with one room, "tour" on /tour, whose line stands still: queue-all at one
/// admission per 1000 s, the initial burst already used.
async fn slow_line(backend: &Backend) -> (Origin, Gateway) {
    let origin = Origin::start().await;
    let rooms = room_toml("tour", origin.addr, &["/tour"], QUEUE_ALL_SLOW);
    let gateway = Gateway::start(backend, &rooms, "").await;
    gateway.use_up_initial_burst("tour").await;
    (origin, gateway)
}

async fn visitor_without_pass_gets_the_waiting_page(backend: Backend) {
    let (origin, gateway) = slow_line(&backend).await;

    let answer = Visitor::new().get(&gateway.url("/tour/seats")).await;
    assert_eq!(answer.status, 200);
    assert!(answer
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/html"));
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert!(answer.body.contains("You're in line"), "{}", answer.body);
    assert!(
        answer.body.contains("/_anteroom/status?room="),
        "page must poll the status"
    );
    assert!(
        origin.seen().is_empty(),
        "the origin must not see a queued visitor"
    );
}

async fn apps_get_429_with_retry_after_and_the_status_object(backend: Backend) {
    let (origin, gateway) = slow_line(&backend).await;

    let mut first = Visitor::new();
    let mut second = Visitor::new();
    let a = first.get_json(&gateway.url("/tour")).await;
    let b = second.get_json(&gateway.url("/tour")).await;
    assert_eq!(a.status, 429);
    assert!(a
        .header("retry-after")
        .and_then(|v| v.parse::<u64>().ok())
        .is_some());
    let (a, b) = (a.json(), b.json());
    assert_eq!(a["room"], "tour");
    assert_eq!(a["state"], "waiting");
    assert_eq!(a["position"], 1);
    assert_eq!(b["position"], 2);
    assert_eq!(b["waiting"], 2);
    assert_eq!(a["pass"], serde_json::Value::Null);
    assert!(a["eta_seconds"]["low"].as_u64() <= a["eta_seconds"]["high"].as_u64());
    assert_eq!(
        a["visitor"].as_str(),
        first.vid.as_deref(),
        "status names the signed visitor id"
    );
    assert!(
        origin.seen().is_empty(),
        "queued visitors never reach the origin"
    );
}

async fn refresh_and_second_tab_keep_one_place(backend: Backend) {
    let (origin, gateway) = slow_line(&backend).await;

    let mut ahead = Visitor::new();
    ahead.get_json(&gateway.url("/tour")).await;
    let mut fan = Visitor::new();
    let first = fan.get_json(&gateway.url("/tour")).await.json();
    // A refresh, a second tab (same cookie), the status endpoint: all the same place.
    let refresh = fan.get_json(&gateway.url("/tour/other")).await.json();
    let mut tab = fan.clone();
    let tab_status = tab
        .get_json(&gateway.url("/_anteroom/status?room=tour"))
        .await
        .json();
    assert_eq!(first["position"], 2);
    assert_eq!(refresh["position"], 2);
    assert_eq!(tab_status["position"], 2);
    assert_eq!(tab_status["waiting"], 2, "no second place was created");
    assert!(
        origin.seen().is_empty(),
        "queued visitors never reach the origin"
    );
}

async fn admitted_visitor_reaches_the_origin_with_the_pass_forwarded(backend: Backend) {
    let origin = Origin::start().await;
    let rooms = room_toml(
        "tour",
        origin.addr,
        &["/tour"],
        "mode = \"queue-all\"\nadmit_per_second = 20.0\nmax_active = 100",
    );
    let gateway = Gateway::start(&backend, &rooms, "").await;

    let mut fan = Visitor::new();
    let queued = fan.get_json(&gateway.url("/tour/seats")).await;
    assert_eq!(queued.status, 429, "queue-all queues everyone first");
    let status = fan
        .wait_admitted(&gateway, "tour", Duration::from_secs(10))
        .await;
    let pass = status["pass"]
        .as_str()
        .expect("admitted status carries the pass")
        .to_string();
    assert!(pass.starts_with("v1.k1."), "{pass}");
    assert_eq!(
        fan.pass.as_deref(),
        Some(pass.as_str()),
        "the status response sets the pass cookie"
    );

    let answer = fan.get(&gateway.url("/tour/seats")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, "origin:/tour/seats");
    let seen = origin.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].pass.as_deref(),
        Some(pass.as_str()),
        "origin receives the pass"
    );

    // Apps send the pass as a header instead of a cookie.
    let response = support::client()
        .get(gateway.url("/tour/app"))
        .header("x-anteroom-pass", &pass)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "origin:/tour/app");
}

async fn safety_net_lets_exactly_max_active_through_then_queues(backend: Backend) {
    let origin = Origin::start().await;
    let rooms = room_toml(
        "tour",
        origin.addr,
        &["/tour"],
        "mode = \"safety-net\"\nadmit_per_second = 1000.0\nmax_active = 5",
    );
    let gateway = Gateway::start(&backend, &rooms, "").await;

    let mut through = 0;
    for _ in 0..5 {
        let mut fan = Visitor::new();
        let answer = fan.get(&gateway.url("/tour")).await;
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.body, "origin:/tour",
            "under the cap a fresh visitor goes straight in"
        );
        assert!(fan.pass.is_some(), "and gets a pass on that very request");
        through += 1;
    }
    assert_eq!(through, 5);
    let seen = origin.seen();
    assert_eq!(seen.len(), 5);
    assert!(
        seen.iter()
            .all(|s| s.pass.as_deref().is_some_and(|p| p.starts_with("v1."))),
        "the pass issued on the request is forwarded too"
    );

    let mut sixth = Visitor::new();
    let answer = sixth.get_json(&gateway.url("/tour")).await;
    assert_eq!(answer.status, 429, "the sixth is over the cap and queues");
    assert_eq!(answer.json()["position"], 1);
    assert_eq!(origin.seen().len(), 5);
}

async fn leave_frees_the_place_and_moves_the_line_up(backend: Backend) {
    let (origin, gateway) = slow_line(&backend).await;

    let mut first = Visitor::new();
    let mut second = Visitor::new();
    first.get_json(&gateway.url("/tour")).await;
    assert_eq!(
        second.get_json(&gateway.url("/tour")).await.json()["position"],
        2
    );
    let left = first
        .request(
            reqwest::Method::POST,
            &gateway.url("/_anteroom/leave?room=tour"),
            true,
        )
        .await;
    assert_eq!(left.status, 200);
    assert_eq!(left.json()["left"], true);
    let now = second
        .get_json(&gateway.url("/_anteroom/status?room=tour"))
        .await
        .json();
    assert_eq!(now["position"], 1);
    assert_eq!(now["waiting"], 1);

    let wrong_method = first
        .get_json(&gateway.url("/_anteroom/leave?room=tour"))
        .await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.json()["error"], "method_not_allowed");
    assert!(
        origin.seen().is_empty(),
        "queued visitors never reach the origin"
    );
}

async fn closed_room_shows_a_clear_page(backend: Backend) {
    let origin = Origin::start().await;
    let rooms = room_toml("tour", origin.addr, &["/tour"], "mode = \"closed\"");
    let gateway = Gateway::start(&backend, &rooms, "").await;

    let page = Visitor::new().get(&gateway.url("/tour")).await;
    assert_eq!(page.status, 503);
    assert!(page.body.contains("Closed"));
    let json = Visitor::new().get_json(&gateway.url("/tour")).await;
    assert_eq!(json.status, 503);
    assert_eq!(json.json()["state"], "closed");
    assert!(origin.seen().is_empty());
}

async fn passthrough_proxies_everyone(backend: Backend) {
    let origin = Origin::start().await;
    let rooms = room_toml("tour", origin.addr, &["/tour"], "mode = \"passthrough\"");
    let gateway = Gateway::start(&backend, &rooms, "").await;

    for _ in 0..3 {
        let answer = Visitor::new().get(&gateway.url("/tour/x")).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, "origin:/tour/x");
    }
    assert_eq!(origin.seen().len(), 3);
    let counted = gateway
        .metric(
            "anteroom_upstream_responses_total",
            &["room=\"tour\"", "status=\"200\""],
        )
        .await;
    assert_eq!(counted, 3.0, "passthrough still counts");
}

async fn requests_outside_rooms_go_to_the_default_origin(backend: Backend) {
    let origin = Origin::start().await;
    let site = Origin::start().await;
    let rooms = room_toml("tour", origin.addr, &["/tour"], QUEUE_ALL_SLOW);
    let extra = format!("[proxy]\ndefault_origin = \"{}\"\n", site.addr);
    let gateway = Gateway::start(&backend, &rooms, &extra).await;
    gateway.use_up_initial_burst("tour").await;

    let answer = Visitor::new().get(&gateway.url("/tournament")).await;
    assert_eq!(answer.status, 200, "/tournament is not under /tour");
    assert_eq!(answer.body, "origin:/tournament");
    assert_eq!(site.seen().len(), 1);
    assert!(site.seen()[0].pass.is_none());
    assert!(origin.seen().is_empty());

    // Without a default origin, outside every room is a 404.
    let bare = Gateway::start(&backend, &rooms, "").await;
    let answer = Visitor::new().get_json(&bare.url("/elsewhere")).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json()["error"], "not_found");
}

async fn origin_down_gets_a_branded_502(backend: Backend) {
    let rooms = room_toml(
        "tour",
        Origin::down_addr(),
        &["/tour"],
        "mode = \"passthrough\"",
    );
    let gateway = Gateway::start(&backend, &rooms, "").await;

    let page = Visitor::new().get(&gateway.url("/tour")).await;
    assert_eq!(page.status, 502);
    assert!(
        page.body.contains("Anteroom"),
        "branded page: {}",
        page.body
    );
    assert!(page.body.contains("The site is busy"));
    let json = Visitor::new().get_json(&gateway.url("/tour")).await;
    assert_eq!(json.status, 502);
    assert_eq!(json.json()["error"], "upstream_unavailable");
}

async fn upgrade_requests_pass_the_same_checks(backend: Backend) {
    let (origin, gateway) = slow_line(&backend).await;

    let response = support::client()
        .get(gateway.url("/tour/live"))
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        429,
        "an Upgrade without a pass is queued like any request"
    );
    assert!(origin.seen().is_empty(), "and never reaches the origin");
}

async fn operator_changes_apply_live(backend: Backend) {
    let (origin, gateway) = slow_line(&backend).await;

    let mut fan = Visitor::new();
    assert_eq!(fan.get_json(&gateway.url("/tour")).await.status, 429);
    let room = gateway
        .admin_patch(
            "tour",
            serde_json::json!({"admit_per_second": 50.0, "message": "Doors open!"}),
        )
        .await;
    assert_eq!(room["admit_per_second"], 50.0);
    assert_eq!(room["message"], "Doors open!");
    let status = fan
        .wait_admitted(&gateway, "tour", Duration::from_secs(5))
        .await;
    assert_eq!(status["message"], "Doors open!");
    assert_eq!(status["admit_per_second"], 50.0);
    assert_eq!(fan.get(&gateway.url("/tour")).await.body, "origin:/tour");
    assert_eq!(origin.seen().len(), 1);
}

async fn sold_out_reaches_the_whole_line_at_once(backend: Backend) {
    let (origin, gateway) = slow_line(&backend).await;

    let mut line: Vec<Visitor> = Vec::new();
    for _ in 0..3 {
        let mut fan = Visitor::new();
        assert_eq!(fan.get_json(&gateway.url("/tour")).await.status, 429);
        line.push(fan);
    }
    // What the booking service does when the last seat is sold.
    gateway
        .admin_patch("tour", serde_json::json!({"sold_out": true}))
        .await;
    for fan in &mut line {
        let status = fan
            .get_json(&gateway.url("/_anteroom/status?room=tour"))
            .await
            .json();
        assert_eq!(status["state"], "sold_out", "{status}");
    }
    let late = Visitor::new().get_json(&gateway.url("/tour")).await;
    assert_eq!(late.status, 410, "apps are told it is gone");
    assert_eq!(late.json()["state"], "sold_out");
    let page = Visitor::new().get(&gateway.url("/tour")).await;
    assert!(
        page.body.contains("sold_out"),
        "the waiting page knows it is sold out"
    );
    assert!(origin.seen().is_empty());
}
