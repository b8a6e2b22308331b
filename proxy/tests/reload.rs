//! Reload: `anteroom serve` reads its config file again on SIGHUP (and `POST /v1/reload`)
//! and puts it in force without a restart — a new room queues, a removed one stops matching,
//! a changed rate shows in the admin API, a new signing key signs while passes of the old
//! one still verify. A file that does not pass `anteroom check` is refused with the reason
//! logged, and the running config keeps serving.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::time::{Duration, Instant};

use support::{
    client, keys_toml, room_toml, Backend, Gateway, Origin, Visitor, ADMIN_TOKEN, SECRET,
};

const WAIT: Duration = Duration::from_secs(10);
const NEW_SECRET: &str = "reload-secret-new-0123456789abcdef-012345";

fn tour(origin: &Origin, rate: f64) -> String {
    room_toml(
        "tour",
        origin.addr,
        &["/tour"],
        &format!("mode = \"queue-all\"\nadmit_per_second = {rate}\nmax_active = 100\nsession_seconds = 600\nabandon_after_seconds = 600"),
    )
}

/// A room whose line stands still once its first visitor took the one place.
fn extra(origin: &Origin) -> String {
    room_toml(
        "extra",
        origin.addr,
        &["/extra"],
        "mode = \"queue-all\"\nadmit_per_second = 0.001\nmax_active = 1\nsession_seconds = 600\nabandon_after_seconds = 600",
    )
}

fn kid_of(token: &str) -> &str {
    token.split('.').nth(1).expect("signed token names its key")
}

/// Poll the admin API until `field` of the room reads `expected`.
async fn wait_room_field(gateway: &Gateway, room: &str, field: &str, expected: serde_json::Value) {
    let deadline = Instant::now() + WAIT;
    loop {
        let answer = gateway.admin_room(room).await;
        if answer[field] == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "room {room}: {field} is not {expected} after the reload: {answer}\n{}",
            gateway.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn admin_status(gateway: &Gateway, room: &str) -> u16 {
    client()
        .get(gateway.admin_url(&format!("/v1/rooms/{room}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("admin get")
        .status()
        .as_u16()
}

#[tokio::test]
async fn sighup_adds_and_removes_rooms_changes_rates_and_rotates_the_signing_key() {
    let origin = Origin::start().await;
    let gateway = Gateway::start(&Backend::memory(), &tour(&origin, 1.0), "").await;

    let mut early = Visitor::new();
    let admitted = early.wait_admitted(&gateway, "tour", WAIT).await;
    let old_pass = admitted["pass"]
        .as_str()
        .expect("admitted status carries the pass")
        .to_string();
    assert_eq!(kid_of(&old_pass), "k1");
    assert_eq!(
        Visitor::new()
            .get_json(&gateway.url("/extra/x"))
            .await
            .status,
        404
    );
    assert_eq!(admin_status(&gateway, "extra").await, 404);

    // The new file: a new room, tour's rate changed, k2 signs while k1 still verifies.
    let keys = format!(
        "[keys]\nsigning = \"k2\"\nsecrets = {{ k1 = \"{SECRET}\", k2 = \"{NEW_SECRET}\" }}\n"
    );
    let rooms = format!("{}{}", tour(&origin, 3.5), extra(&origin));
    gateway.rewrite_config(&rooms, "", &keys);
    gateway.signal("HUP");
    wait_room_field(&gateway, "tour", "admit_per_second", serde_json::json!(3.5)).await;
    gateway.wait_log("reload: ", WAIT).await;

    // The new room's path now queues: its one place taken, the next visitor waits.
    let mut first = Visitor::new();
    first.wait_admitted(&gateway, "extra", WAIT).await;
    let waiting = Visitor::new().get_json(&gateway.url("/extra/x")).await;
    assert_eq!(waiting.status, 429, "{}", waiting.body);
    assert_eq!(waiting.json()["room"], "extra");
    assert_eq!(waiting.json()["state"], "waiting");

    // New passes are signed by k2; the pass k1 signed before the reload still lets in.
    let mut late = Visitor::new();
    let status = late.wait_admitted(&gateway, "tour", WAIT).await;
    assert_eq!(kid_of(status["pass"].as_str().unwrap()), "k2");
    let before = origin.seen().len();
    let through = early.get(&gateway.url("/tour/seat")).await;
    assert_eq!(through.status, 200, "{}", through.body);
    assert_eq!(origin.seen().len(), before + 1);

    // Removing the room again: its path is nobody's (no default origin: 404).
    gateway.rewrite_config(&tour(&origin, 3.5), "", &keys);
    gateway.signal("HUP");
    let deadline = Instant::now() + WAIT;
    while admin_status(&gateway, "extra").await != 404 {
        assert!(
            Instant::now() < deadline,
            "room not removed:\n{}",
            gateway.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        Visitor::new()
            .get_json(&gateway.url("/extra/x"))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn an_invalid_config_is_refused_with_its_reason_and_the_running_one_keeps_serving() {
    let origin = Origin::start().await;
    let mut gateway = Gateway::start(&Backend::memory(), &tour(&origin, 1.0), "").await;

    // A rate of zero does not pass `anteroom check`; the room would also be new.
    let broken = format!(
        "{}{}",
        tour(&origin, 0.0),
        room_toml("new", origin.addr, &["/new"], "")
    );
    gateway.rewrite_config(&broken, "", &keys_toml());
    gateway.signal("HUP");
    let log = gateway.wait_log("reload refused", WAIT).await;
    let path = gateway.config_path().display().to_string();
    let reason = log
        .lines()
        .find(|line| line.contains("reload refused"))
        .unwrap();
    assert!(reason.contains(&path), "the file is named: {reason}");
    assert!(
        reason.contains("admit_per_second"),
        "the field is named: {reason}"
    );

    assert!(
        gateway.is_running(),
        "a refused reload must not stop the gateway"
    );
    assert_eq!(gateway.admin_room("tour").await["admit_per_second"], 1.0);
    assert_eq!(admin_status(&gateway, "new").await, 404);
    let mut visitor = Visitor::new();
    visitor.wait_admitted(&gateway, "tour", WAIT).await;
    assert_eq!(visitor.get(&gateway.url("/tour/x")).await.status, 200);

    // The same through the admin API: 422 with the reason.
    let (status, body) = gateway.post_reload().await;
    assert_eq!(status, 422);
    assert_eq!(body["error"], "reload_refused");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("admit_per_second"),
        "{body}"
    );

    // A fixed file goes in force: the failed reloads left nothing behind.
    gateway.rewrite_config(&tour(&origin, 2.0), "", &keys_toml());
    gateway.signal("HUP");
    wait_room_field(&gateway, "tour", "admit_per_second", serde_json::json!(2.0)).await;
}

#[tokio::test]
async fn live_changes_stay_until_the_file_changes_that_room_and_listeners_need_a_restart() {
    let origin = Origin::start().await;
    let gateway = Gateway::start(&Backend::memory(), &tour(&origin, 1.0), "").await;
    gateway
        .admin_patch(
            "tour",
            serde_json::json!({ "admit_per_second": 7.0, "paused": true }),
        )
        .await;

    // A file that leaves the room as it was (but asks for another thread count): the live
    // rate stays, and the thread count is logged as needing a restart.
    gateway.rewrite_config(&tour(&origin, 1.0), "threads = 3\n", &keys_toml());
    let (status, body) = gateway.post_reload().await;
    assert_eq!(status, 200);
    assert_eq!(
        body["needs_restart"],
        serde_json::json!(["listen.threads"]),
        "{body}"
    );
    gateway
        .wait_log("`listen.threads` changed but needs a restart", WAIT)
        .await;
    let room = gateway.admin_room("tour").await;
    assert_eq!(room["admit_per_second"], 7.0, "{room}");
    assert_eq!(room["paused"], true, "{room}");

    // The file changes the room's rate: the file wins; the runtime flag (paused) stays.
    gateway.rewrite_config(&tour(&origin, 2.0), "threads = 3\n", &keys_toml());
    gateway.signal("HUP");
    wait_room_field(&gateway, "tour", "admit_per_second", serde_json::json!(2.0)).await;
    assert_eq!(gateway.admin_room("tour").await["paused"], true);
}
