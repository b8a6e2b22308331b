#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The access log: one JSON line per request with the gateway's outcome, the request id the
//! client and the origin also got, and never a pass, a visitor id or the admin token.

mod support;

use std::time::{Duration, Instant};

use support::{client, room_toml, Backend, Gateway, Origin, Visitor, ADMIN_TOKEN};

/// The access-log lines written so far, parsed.
fn access_lines(gateway: &Gateway) -> Vec<serde_json::Value> {
    gateway
        .log_text()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["target"] == "access")
        .collect()
}

async fn wait_for_lines(gateway: &Gateway, count: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines = access_lines(gateway);
        if lines.len() >= count {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "{} access lines, expected {count}:\n{}",
            lines.len(),
            gateway.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_gets_one_line_an_id_and_no_secret() {
    let origin = Origin::start().await;
    let rooms = room_toml(
        "tour",
        origin.addr,
        &["/tour"],
        "mode = \"safety-net\"\nadmit_per_second = 100.0\nmax_active = 10",
    ) + &room_toml("line", origin.addr, &["/line"], "mode = \"queue-all\"");
    let gateway = Gateway::start(&Backend::memory(), &rooms, "[log]\nformat = \"json\"\n").await;

    let mut fan = Visitor::new();
    let admitted = fan.get(&gateway.url("/tour/a")).await;
    assert_eq!(admitted.status, 200);
    let pass = fan.pass.clone().expect("a pass on admission");
    let vid = fan.vid.clone().expect("a visitor id");

    // The pass in a cookie, a header and the query; an id the client made up.
    let response = client()
        .get(gateway.url(&format!("/tour/b?pass={pass}")))
        .header(
            "cookie",
            format!("anteroom_vid={vid}; anteroom_pass={pass}"),
        )
        .header("x-anteroom-pass", &pass)
        .header("x-request-id", "chosen-by-the-client")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let returned = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(
        returned, "chosen-by-the-client",
        "only trusted proxies name requests"
    );
    let seen = origin.seen();
    let forwarded = seen.last().unwrap().header("x-request-id").unwrap();
    assert_eq!(
        forwarded, returned,
        "the origin gets the id the client gets"
    );

    let mut waiting = Visitor::new();
    let queued = waiting.get_json(&gateway.url("/line")).await;
    assert_eq!(queued.status, 429);
    assert!(queued.header("x-request-id").is_some());
    let page = waiting.get(&gateway.url("/line")).await;
    assert_eq!(page.status, 200);

    let admin = client()
        .get(gateway.admin_url("/v1/rooms"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 200);

    let lines = wait_for_lines(&gateway, 4).await;
    let outcomes: Vec<&str> = lines
        .iter()
        .map(|line| line["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["admitted", "proxied", "queued", "waiting_page"],
        "{lines:#?}"
    );
    let proxied = &lines[1];
    assert_eq!(proxied["request_id"], returned.as_str());
    assert_eq!(proxied["room"], "tour");
    assert_eq!(proxied["status"], 200);
    assert_eq!(proxied["method"], "GET");
    assert_eq!(proxied["path"], "/tour/b", "no query string");
    assert!(proxied["latency_us"].as_u64().unwrap() > 0);
    assert_eq!(lines[2]["room"], "line");
    assert_eq!(lines[2]["status"], 429);
    let ids: std::collections::BTreeSet<&str> = lines
        .iter()
        .map(|line| line["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 4, "one id per request");

    let log = gateway.log_text();
    assert!(!log.contains(&pass), "a pass in the log:\n{log}");
    assert!(!log.contains(&vid), "a visitor id in the log:\n{log}");
    assert!(
        !log.contains(ADMIN_TOKEN),
        "the admin token in the log:\n{log}"
    );
    // The signature alone would be enough to spot a leak of a part of a pass.
    let signature = pass.rsplit('.').next().unwrap();
    assert!(!log.contains(signature), "a pass signature in the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_false_writes_no_line_and_pingoras_own_lines_come_out_as_json() {
    let origin = Origin::start().await;
    let rooms = room_toml("tour", origin.addr, &["/tour"], "mode = \"passthrough\"")
        + &room_toml(
            "down",
            Origin::down_addr(),
            &["/down"],
            "mode = \"passthrough\"",
        );
    let gateway = Gateway::start(
        &Backend::memory(),
        &rooms,
        "[log]\nformat = \"json\"\naccess = false\n",
    )
    .await;
    for _ in 0..3 {
        let answer = client().get(gateway.url("/tour")).send().await.unwrap();
        assert_eq!(answer.status(), 200);
    }
    let down = client().get(gateway.url("/down")).send().await.unwrap();
    assert_eq!(down.status(), 502);
    // Pingora's own error (a `log` record) comes out in the same JSON; being written after the
    // requests, it shows the writer has caught up with them.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pingora_line = gateway
            .log_text()
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .any(|line| {
                line["target"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("pingora"))
                    && line["level"] == "ERROR"
            });
        if pingora_line {
            break;
        }
        assert!(Instant::now() < deadline, "{}", gateway.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(access_lines(&gateway).is_empty(), "{}", gateway.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_format_flag_overrides_the_config() {
    let origin = Origin::start().await;
    let rooms = room_toml("tour", origin.addr, &["/tour"], "mode = \"passthrough\"");
    let gateway = Gateway::start_with_flags(
        &Backend::memory().toml(),
        &rooms,
        "[log]\nformat = \"json\"\n",
        &support::keys_toml(),
        &["--log-format", "text"],
    )
    .await;
    let answer = client().get(gateway.url("/tour")).send().await.unwrap();
    let id = answer.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let line = loop {
        if let Some(line) = gateway.log_text().lines().find(|line| line.contains(&id)) {
            break line.to_string();
        }
        assert!(Instant::now() < deadline, "{}", gateway.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        serde_json::from_str::<serde_json::Value>(&line).is_err(),
        "{line}"
    );
    for part in ["INFO", "access", "passthrough", "status=200", "/tour"] {
        assert!(line.contains(part), "{part} missing: {line}");
    }
}

#[test]
fn an_unknown_log_format_is_refused_by_serve_and_booking() {
    for command in ["serve", "booking"] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_anteroom"))
            .args([command, "--config", "unused.toml", "--log-format", "xml"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{command}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("expected one of text, json"),
            "{command}: {stderr}"
        );
    }
}
