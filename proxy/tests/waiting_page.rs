//! A room's own waiting page (`page_template`) served by a real `anteroom serve`, and
//! `anteroom check` on a template with a mistake; a sold-out room's link to the waitlist
//! (`waitlist_url`) in the status, both live streams and the page. The page in a browser:
//! `browser.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use support::stream_client::AnyStream;
use support::{room_toml, Backend, Gateway, Origin, Visitor};

const TEMPLATE: &str = "<!doctype html><html data-state=\"{{state}}\"><title>{{headline}}</title>\n\
<h1>Fan zone: {{room}}</h1>\n<p id=\"place\">#{{position}} ({{ahead}}) {{eta}}</p>\n\
<p id=\"message\">{{message}}</p>\n<noscript><meta http-equiv=\"refresh\" content=\"{{refresh_seconds}}\"></noscript>\n\
<style>body{{margin:0}}</style>\n{{client_script}}\n";

/// A gateway on the memory store with the room `tour` on `/tour` (queue-all, a line that
/// stands still, and `settings`) in front of a fresh origin, which also serves every path
/// outside the room.
async fn standing_line(settings: &str) -> (Origin, Gateway) {
    let origin = Origin::start().await;
    let settings = format!("mode = \"queue-all\"\nadmit_per_second = 0.001\n{settings}");
    let rooms = room_toml("tour", origin.addr, &["/tour"], &settings);
    let extra = format!("[proxy]\ndefault_origin = \"{}\"\n", origin.addr);
    let gateway = Gateway::start(&Backend::memory(), &rooms, &extra).await;
    gateway.use_up_initial_burst("tour").await;
    (origin, gateway)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_template_replaces_the_built_in_page() {
    let dir = anteroom_testkit::unique_temp_dir("anteroom-page");
    let template = dir.join("waiting.html");
    std::fs::write(&template, TEMPLATE).unwrap();
    let (origin, gateway) =
        standing_line(&format!("page_template = \"{}\"", template.display())).await;
    gateway
        .admin_patch("tour", json!({ "message": "<script>alert(1)</script>" }))
        .await;

    let mut fan = Visitor::new();
    let page = fan.get(&gateway.url("/tour/seats?x=1")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<h1>Fan zone: tour</h1>"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("#1 (Nobody is ahead of you: you&#39;re next.)"),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains("<p id=\"message\">&lt;script&gt;alert(1)&lt;/script&gt;</p>"));
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert!(page.body.contains("<style>body{{margin:0}}</style>"));
    assert!(
        page.body.contains("id=\"anteroom-data\""),
        "live updates kept"
    );
    assert!(
        page.body.contains("refresh\" content=\"1\""),
        "{}",
        page.body
    );
    let vid = fan.vid.clone().expect("visitor cookie");
    assert!(
        !page.body.contains(&vid),
        "the visitor id stays out of the page"
    );
    assert!(origin.seen().is_empty());
}

/// `anteroom check` on `config`: it must fail, naming the file and line 9 first; its stderr.
fn check_fails_on_line_9(config: &std::path::Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_anteroom"))
        .args(["check", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "off")
        .output()
        .expect("run anteroom check");
    let err = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!output.status.success(), "{err}");
    assert!(
        err.starts_with(&format!("{}:9:", config.display())),
        "{err}"
    );
    err
}

#[test]
fn check_names_the_template_mistake_with_file_line_and_field() {
    let dir = anteroom_testkit::unique_temp_dir("anteroom-page-check");
    let template = dir.join("waiting.html");
    std::fs::write(&template, "<p>{{position}}</p>\n<p>{{eta_range}}</p>\n").unwrap();
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[keys]\nsigning = \"k1\"\nsecrets = {{ k1 = \"0123456789abcdef0123456789abcdef-page\" }}\n\n\
             [[room]]\nid = \"tour\"\norigin = \"127.0.0.1:3000\"\npaths = [\"/tour\"]\npage_template = \"{}\"\n",
            template.display()
        ),
    )
    .unwrap();
    let err = check_fails_on_line_9(&config);
    assert!(err.contains("room[0].page_template"), "{err}");
    assert!(err.contains("{{eta_range}} (line 2)"), "{err}");
    assert!(err.contains(&template.display().to_string()), "{err}");
}

const JOIN: &str = "/shop/waitlist?event=E1&from=queue";

/// Statuses from `stream` until one is sold out (or the deadline fails the test).
async fn until_sold_out(stream: &mut AnyStream) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no sold-out status in time");
        let status = stream.status(left).await;
        if status["state"] == "sold_out" {
            return status;
        }
        assert_eq!(status["waitlist"], json!(null), "not before: {status}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sold_out_room_tells_the_line_where_to_join_the_waitlist() {
    let (origin, gateway) = standing_line(&format!("waitlist_url = \"{JOIN}\"")).await;

    // Waiting: no link yet, on the status and on both live streams.
    let mut fan = Visitor::new();
    let status_url = gateway.url("/_anteroom/status?room=tour");
    let waiting = fan.get_json(&status_url).await.json();
    assert_eq!(
        (&waiting["state"], &waiting["waitlist"]),
        (&json!("waiting"), &json!(null))
    );
    let cookie = format!("anteroom_vid={}", fan.vid.clone().expect("visitor id"));
    let mut streams = Vec::new();
    for kind in ["sse", "ws"] {
        let mut stream = AnyStream::open(kind, gateway.public, "tour", Some(&cookie)).await;
        let first = stream.status(Duration::from_secs(2)).await;
        assert_eq!(first["waitlist"], json!(null), "{kind}: {first}");
        streams.push((kind, stream));
    }

    // What the booking service does when the last seat is sold.
    gateway.admin_patch("tour", json!({"sold_out": true})).await;
    // The link, and this visitor's waitlist token (room + visitor, signed by the gateway).
    let visitor = fan
        .vid
        .as_deref()
        .and_then(|vid| vid.split('.').next())
        .and_then(anteroom_admission::VisitorId::from_hex)
        .expect("the fan's visitor id");
    let told_to_join = |waitlist: &serde_json::Value, who: anteroom_admission::VisitorId| {
        assert_eq!(waitlist["join"], JOIN, "{waitlist}");
        let token = waitlist["token"].as_str().expect("a waitlist token");
        let claims = support::keyring()
            .verify_waitlist_token(token, support::unix_now())
            .expect("a genuine token");
        assert_eq!((claims.room.as_str(), claims.visitor), ("tour", who));
    };
    for (kind, stream) in &mut streams {
        let sold_out = until_sold_out(stream).await;
        assert_eq!(sold_out["state"], "sold_out", "{kind}");
        told_to_join(&sold_out["waitlist"], visitor);
    }
    let status = fan.get_json(&status_url).await.json();
    assert_eq!(status["state"], "sold_out");
    told_to_join(&status["waitlist"], visitor);
    let late = Visitor::new().get_json(&gateway.url("/tour")).await;
    assert_eq!(late.status, 410);
    assert_eq!(
        late.json()["waitlist"]["join"],
        JOIN,
        "apps are told where to join"
    );
    assert!(
        late.json()["waitlist"]["token"].is_string(),
        "and get a token"
    );

    // The page shows the link (escaped for its attribute); following it leaves the room.
    let page = Visitor::new().get(&gateway.url("/tour/seats")).await;
    assert_eq!(page.status, 200);
    let href = JOIN.replace('&', "&amp;");
    assert!(
        page.body.contains(&format!(
            "<a class=\"join\" data-anteroom=\"waitlist-join\" href=\"{href}\">Join the waitlist</a>"
        )),
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!("data-join=\"{href}\"")));
    let joined = Visitor::new().get(&gateway.url(JOIN)).await;
    assert_eq!(joined.status, 200, "{}", joined.body);
    assert_eq!(origin.seen().len(), 1, "the waitlist page is the origin's");

    // Back on sale: the link goes away again.
    gateway
        .admin_patch("tour", json!({"sold_out": false}))
        .await;
    let status = fan.get_json(&status_url).await.json();
    assert_eq!(
        (&status["state"], &status["waitlist"]),
        (&json!("waiting"), &json!(null))
    );
}

#[test]
fn check_refuses_a_waitlist_link_into_the_rooms_own_paths() {
    let dir = anteroom_testkit::unique_temp_dir("anteroom-waitlist-check");
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        "[keys]\nsigning = \"k1\"\nsecrets = { k1 = \"0123456789abcdef0123456789abcdef-page\" }\n\n\
         [[room]]\nid = \"tour\"\norigin = \"127.0.0.1:3000\"\npaths = [\"/tour\"]\nwaitlist_url = \"/tour/waitlist\"\n",
    )
    .unwrap();
    let err = check_fails_on_line_9(&config);
    assert!(err.contains("room[0].waitlist_url"), "{err}");
    assert!(err.contains("sold-out page again"), "{err}");
}
