//! `anteroom ctl` drives a running gateway's admin API.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::process::Command;

use support::{room_toml, Backend, Gateway, Origin, ADMIN_TOKEN};

fn ctl(gateway: &Gateway, token: &str, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_anteroom"))
        .arg("ctl")
        .arg("--admin")
        .arg(gateway.admin_url(""))
        .arg("--token")
        .arg(token)
        .args(args)
        .env("RUST_LOG", "off")
        .output()
        .expect("run anteroom ctl");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_changes_rooms_live_and_reports_errors() {
    let origin = Origin::start().await;
    let rooms = room_toml("tour", origin.addr, &["/tour"], "mode = \"queue-all\"");
    let gateway = Gateway::start(&Backend::memory(), &rooms, "").await;

    let (ok, out, err) = ctl(&gateway, ADMIN_TOKEN, &["rate", "tour", "7.5"]);
    assert!(ok, "{err}");
    assert!(out.contains("tour") && out.contains("7.5"), "{out}");
    assert!(ctl(&gateway, ADMIN_TOKEN, &["cap", "tour", "42"]).0);
    assert!(ctl(&gateway, ADMIN_TOKEN, &["pause", "tour"]).0);
    assert!(ctl(&gateway, ADMIN_TOKEN, &["message", "tour", "Back at 10:00"]).0);
    let room = gateway.admin_room("tour").await;
    assert_eq!(room["admit_per_second"], 7.5);
    assert_eq!(room["max_active"], 42);
    assert_eq!(room["paused"], true);
    assert_eq!(room["message"], "Back at 10:00");

    let (ok, out, _) = ctl(&gateway, ADMIN_TOKEN, &["status"]);
    assert!(ok);
    assert!(
        out.contains("paused") && out.contains("message: Back at 10:00"),
        "{out}"
    );

    assert!(ctl(&gateway, ADMIN_TOKEN, &["resume", "tour"]).0);
    assert!(ctl(&gateway, ADMIN_TOKEN, &["message", "tour", ""]).0);
    let room = gateway.admin_room("tour").await;
    assert_eq!(room["paused"], false);
    assert_eq!(room["message"], serde_json::Value::Null);

    let (ok, _, err) = ctl(&gateway, ADMIN_TOKEN, &["mode", "tour", "fast"]);
    assert!(!ok);
    assert!(err.contains("queue-all"), "names the allowed modes: {err}");
    let (ok, _, err) = ctl(&gateway, "wrong-token", &["status"]);
    assert!(!ok);
    assert!(err.contains("401"), "{err}");
    let (ok, _, err) = ctl(&gateway, ADMIN_TOKEN, &["status", "nope"]);
    assert!(!ok);
    assert!(err.contains("unknown_room"), "{err}");
}
