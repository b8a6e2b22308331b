//! A room's own waiting page (`page_template`) served by a real `anteroom serve`, and
//! `anteroom check` on a template with a mistake. The page in a browser: `browser.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::process::Command;

use serde_json::json;
use support::{room_toml, Backend, Gateway, Origin, Visitor};

const TEMPLATE: &str = "<!doctype html><html data-state=\"{{state}}\"><title>{{headline}}</title>\n\
<h1>Fan zone: {{room}}</h1>\n<p id=\"place\">#{{position}} ({{ahead}}) {{eta}}</p>\n\
<p id=\"message\">{{message}}</p>\n<noscript><meta http-equiv=\"refresh\" content=\"{{refresh_seconds}}\"></noscript>\n\
<style>body{{margin:0}}</style>\n{{client_script}}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_template_replaces_the_built_in_page() {
    let dir = anteroom_testkit::unique_temp_dir("anteroom-page");
    let template = dir.join("waiting.html");
    std::fs::write(&template, TEMPLATE).unwrap();
    let origin = Origin::start().await;
    let rooms = room_toml(
        "tour",
        origin.addr,
        &["/tour"],
        &format!(
            "mode = \"queue-all\"\nadmit_per_second = 0.001\npage_template = \"{}\"",
            template.display()
        ),
    );
    let gateway = Gateway::start(&Backend::memory(), &rooms, "").await;
    gateway.use_up_initial_burst("tour").await;
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
    let output = Command::new(env!("CARGO_BIN_EXE_anteroom"))
        .args(["check", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "off")
        .output()
        .expect("run anteroom check");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{err}");
    assert!(
        err.starts_with(&format!("{}:9:", config.display())),
        "{err}"
    );
    assert!(err.contains("room[0].page_template"), "{err}");
    assert!(err.contains("{{eta_range}} (line 2)"), "{err}");
    assert!(err.contains(&template.display().to_string()), "{err}");
}
