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
    ctl_at(&gateway.admin_url(""), token, args)
}

/// `anteroom ctl --admin URL --token TOKEN ARGS…`: (success, stdout, stderr).
fn ctl_at(admin: &str, token: &str, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_anteroom"))
        .arg("ctl")
        .arg("--admin")
        .arg(admin)
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

/// `anteroom ctl waitlist EVENT` against a booking service on a real PostgreSQL: the
/// line's figures, and with --entry the entry's history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_shows_a_waitlist_and_an_entrys_history() {
    use std::sync::Arc;

    use anteroom_admission::{Keyring, VisitorId};
    use anteroom_booking::holds::MemoryHolds;
    use anteroom_booking::ledger::{open_url, Canceller};
    use anteroom_booking::service::{serve, BookingService};
    use anteroom_booking::{new_id, EventSpec, Hold, Inventory};

    let postgres = tokio::task::spawn_blocking(anteroom_testkit::PostgresServer::start)
        .await
        .unwrap();
    let ledger = open_url(&postgres.url()).await.unwrap();
    let keyring = Keyring::new(
        "k1",
        vec![("k1".into(), support::SECRET.as_bytes().to_vec())],
    )
    .unwrap();
    let service = Arc::new(BookingService::new(
        Arc::new(MemoryHolds::new()),
        ledger.clone(),
        keyring,
        Some(ADMIN_TOKEN.as_bytes().to_vec()),
        Default::default(),
        None,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, service.clone(), std::future::pending()));

    ledger
        .create_event(&EventSpec {
            id: "gig".into(),
            room: Some("tour".into()),
            inventory: Inventory::Seats(vec!["A1".into()]),
        })
        .await
        .unwrap();
    let owner = VisitorId::random();
    let booking = ledger
        .confirm(
            "k",
            &Hold {
                hold_id: format!("{}.gig", new_id()),
                event: "gig".into(),
                holder: owner,
                seats: vec!["A1".into()],
                quantity: 1,
                expires_at_ms: u64::MAX,
                fencing_token: 1,
            },
        )
        .await
        .unwrap();
    let waitlist = ledger.waitlist();
    let (first, _) = waitlist.join("gig", VisitorId::random(), 10).await.unwrap();
    waitlist.join("gig", VisitorId::random(), 10).await.unwrap();
    ledger
        .cancel(&booking.booking_id, "c", Canceller::Holder(owner))
        .await
        .unwrap();
    assert_eq!(service.promote_once().await, 1);

    let run = |args: &[&str]| ctl_at(&url, ADMIN_TOKEN, args);
    let (ok, out, err) = run(&["waitlist", "gig"]);
    assert!(ok, "{err}");
    for line in [
        "waitlist of gig",
        "waiting: 1",
        "open offers: 1",
        "outbox backlog: 1",
    ] {
        assert!(out.contains(line), "{line} in {out}");
    }
    let (ok, out, err) = run(&["waitlist", "gig", "--entry", &first.entry_id]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&first.entry_id) && out.contains(": offered"),
        "{out}"
    );
    assert!(
        out.contains("(new) -> waiting") && out.contains("waiting -> offered"),
        "{out}"
    );
    let (ok, _, err) = run(&["waitlist", "nope"]);
    assert!(!ok);
    assert!(err.contains("unknown_event"), "{err}");
}
