//! Key rotation must log nobody out: a visitor id or pass signed by a retiring key is re-signed
//! on use, so once the old key is removed every waiting visitor keeps the place and every
//! admitted visitor keeps the visit. Apps get renewed credentials in headers, not only cookies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::time::Duration;

use support::{room_toml, Backend, Gateway, Origin, Visitor, SECRET};

const NEW_SECRET: &str = "rotation-secret-new-0123456789abcdef-0123";
const ROOM: &str = "tour";

fn keys(signing: &str, kids: &[&str]) -> String {
    let secrets: Vec<String> = kids
        .iter()
        .map(|kid| {
            let secret = if *kid == "k1" { SECRET } else { NEW_SECRET };
            format!("{kid} = \"{secret}\"")
        })
        .collect();
    format!(
        "[keys]\nsigning = \"{signing}\"\nsecrets = {{ {} }}\n",
        secrets.join(", ")
    )
}

fn kid_of(token: &str) -> &str {
    token.split('.').nth(1).expect("signed token names its key")
}

#[tokio::test]
async fn rotation_keeps_every_place_and_visit() {
    let backend = Backend::redis();
    let origin = Origin::start().await;
    // One active session at most: the admitted visitor holds the cap, the other waits.
    let rooms = room_toml(
        ROOM,
        origin.addr,
        &["/tour"],
        "mode = \"queue-all\"\nadmit_per_second = 1.0\nmax_active = 1\nsession_seconds = 600\nabandon_after_seconds = 600",
    );
    let store = backend.toml();
    let status_url = |gateway: &Gateway| gateway.url(&format!("/_anteroom/status?room={ROOM}"));

    // Before: k1 signs everything.
    let old = Gateway::start_with_keys(&store, &rooms, "", &keys("k1", &["k1"])).await;
    let mut admitted = Visitor::new();
    admitted
        .wait_admitted(&old, ROOM, Duration::from_secs(10))
        .await;
    let mut waiting = Visitor::new();
    let before = waiting.get_json(&status_url(&old)).await.json();
    assert_eq!(before["state"], "waiting", "{before}");
    let old_vid = waiting.vid.clone().expect("visitor cookie");
    assert_eq!(kid_of(&old_vid), "k1");
    assert_eq!(kid_of(admitted.pass.as_deref().expect("pass")), "k1");
    drop(old);

    // Rotation: k2 signs, k1 still verifies. Using the old credentials re-signs them.
    let rotating = Gateway::start_with_keys(&store, &rooms, "", &keys("k2", &["k1", "k2"])).await;
    let during = waiting.get_json(&status_url(&rotating)).await;
    let during_status = during.json();
    assert_eq!(
        during_status["position"], before["position"],
        "{during_status}"
    );
    let new_vid = waiting.vid.clone().expect("visitor cookie");
    assert_eq!(kid_of(&new_vid), "k2", "the visitor id was not re-signed");
    assert_eq!(kid_of(during_status["visitor"].as_str().unwrap()), "k2");

    let page = admitted.get(&rotating.url("/tour/page")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let renewed = page
        .header("x-anteroom-pass")
        .expect("a renewed pass reaches apps in X-Anteroom-Pass")
        .to_string();
    assert_eq!(kid_of(&renewed), "k2");
    assert_eq!(
        admitted.pass.as_deref(),
        Some(renewed.as_str()),
        "cookie and header agree"
    );
    assert_eq!(page.header("cache-control"), Some("private, no-store"));
    drop(rotating);

    // After: k1 is gone. Nobody lost anything.
    let after = Gateway::start_with_keys(&store, &rooms, "", &keys("k2", &["k2"])).await;
    let still = waiting.get_json(&status_url(&after)).await.json();
    assert_eq!(still["state"], "waiting", "{still}");
    assert_eq!(
        still["position"], before["position"],
        "the place was lost: {still}"
    );
    assert_eq!(
        waiting.vid.as_deref(),
        Some(new_vid.as_str()),
        "no new id was needed"
    );
    let page = admitted.get(&after.url("/tour/page")).await;
    assert_eq!(
        page.status, 200,
        "the admitted visitor was logged out: {}",
        page.body
    );
    assert!(origin.seen().iter().all(|seen| seen.pass.is_some()));
}

#[tokio::test]
async fn a_straight_through_admission_hands_apps_their_pass_and_id() {
    let backend = Backend::memory();
    let origin = Origin::start().await;
    let rooms = room_toml(ROOM, origin.addr, &["/tour"], "mode = \"safety-net\"");
    let gateway = Gateway::start(&backend, &rooms, "").await;
    let mut app = Visitor::new();
    let answer = app.get_json(&gateway.url("/tour/x")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let pass = answer.header("x-anteroom-pass").expect("pass header");
    assert_eq!(Some(pass), app.pass.as_deref());
    let visitor = answer.header("x-anteroom-visitor").expect("visitor header");
    assert_eq!(Some(visitor), app.vid.as_deref());
    // The next request with that pass is not renewed: nothing new to hand out.
    let again = app.get_json(&gateway.url("/tour/y")).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.header("x-anteroom-pass"), None);
    assert_eq!(again.header("x-anteroom-visitor"), None);
}
