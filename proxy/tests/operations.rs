#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! What operators rely on: admin answers that name the mistake, and metrics that count
//! exactly what their names say.

mod support;

use std::time::{Duration, Instant};

use support::{client, room_toml, Backend, Gateway, Origin, Visitor, ADMIN_TOKEN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_of_zero_is_a_clear_400_and_changes_nothing() {
    let origin = Origin::start().await;
    let rooms = room_toml(
        "tour",
        origin.addr,
        &["/tour"],
        "mode = \"queue-all\"\nadmit_per_second = 5.0",
    );
    let gateway = Gateway::start(&Backend::memory(), &rooms, "").await;
    for rate in [
        serde_json::json!(0),
        serde_json::json!(0.0),
        serde_json::json!(-2),
    ] {
        let response = client()
            .patch(gateway.admin_url("/v1/rooms/tour"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&serde_json::json!({ "admit_per_second": rate }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "rate {rate}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_patch", "{body}");
        assert!(
            body["detail"].as_str().unwrap().contains("paused"),
            "the answer names the way to stop admitting: {body}"
        );
    }
    assert_eq!(gateway.admin_room("tour").await["admit_per_second"], 5.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_count_new_places_and_admissions_count_every_admission() {
    let origin = Origin::start().await;
    let rooms = room_toml(
        "tour",
        origin.addr,
        &["/tour"],
        "mode = \"safety-net\"\nadmit_per_second = 100.0\nmax_active = 1",
    );
    let gateway = Gateway::start(&Backend::memory(), &rooms, "").await;
    let joins = || gateway.metric("anteroom_joins_total", &["room=\"tour\""]);
    let admitted = || gateway.metric("anteroom_admitted_total", &["room=\"tour\""]);

    // Straight through on joining: one join, one admission.
    let mut first = Visitor::new();
    assert_eq!(first.get(&gateway.url("/tour")).await.status, 200);
    assert_eq!((joins().await, admitted().await), (1.0, 1.0));

    // At the cap: the second visitor queues, and polling the place is not joining again.
    let mut second = Visitor::new();
    assert_eq!(second.get_json(&gateway.url("/tour")).await.status, 429);
    for _ in 0..5 {
        let status = second
            .get_json(&gateway.url("/_anteroom/status?room=tour"))
            .await
            .json();
        assert_eq!(status["state"], "waiting", "{status}");
    }
    assert_eq!((joins().await, admitted().await), (2.0, 1.0));

    // The first leaves; a tick admits the second: counted too.
    let left = first.leave(&gateway, "tour").await;
    assert_eq!(left.status, 200);
    second
        .wait_admitted(&gateway, "tour", Duration::from_secs(5))
        .await;
    let deadline = Instant::now() + Duration::from_secs(2);
    while admitted().await < 2.0 {
        assert!(
            Instant::now() < deadline,
            "the tick admission was not counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!((joins().await, admitted().await), (2.0, 2.0));
}
