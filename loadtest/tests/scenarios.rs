//! The goose scenarios against `anteroom demo`, from one command each, with thresholds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{bin_dir, LOADTEST};

/// `anteroom demo` on a free port; killed on drop.
struct Demo {
    child: Child,
    url: String,
}

impl Demo {
    fn start() -> Demo {
        let port = anteroom_testkit::free_port();
        let child = Command::new(bin_dir().join("anteroom"))
            .args(["demo", "--port", &port.to_string()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn anteroom demo");
        let demo = Demo {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "demo not listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        demo
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn goose(scenario: &str, demo: &Demo, report: &std::path::Path, extra: &[&str]) -> Output {
    Command::new(LOADTEST)
        .arg(scenario)
        .args(["-H", &demo.url, "-u", "4", "-r", "4", "-t", "6s", "--quiet"])
        .arg("--report-file")
        .arg(report)
        .args(extra)
        .output()
        .expect("run anteroom-loadtest")
}

/// Requests by "METHOD name" in a goose JSON report.
fn requests(report: &std::path::Path) -> Vec<(String, u64, u64)> {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).expect("goose report")).unwrap();
    json["raw_request_metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                format!(
                    "{} {}",
                    m["method"].as_str().unwrap(),
                    m["name"].as_str().unwrap()
                ),
                m["number_of_requests"].as_u64().unwrap(),
                m["number_of_failures"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn count(requests: &[(String, u64, u64)], name: &str) -> u64 {
    requests.iter().find(|r| r.0 == name).map_or(0, |r| r.1)
}

#[test]
fn fans_book_through_the_stream_within_their_thresholds() {
    let demo = Demo::start();
    let dir = anteroom_testkit::unique_temp_dir("goose-fan");
    let report = dir.join("fan.json");
    let output = goose(
        "fan",
        &demo,
        &report,
        &[
            "--threshold",
            "error-rate<1%",
            "--threshold",
            "p99<20s for SSE time-to-admit",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let requests = requests(&report);
    assert!(
        requests.iter().all(|r| r.2 == 0),
        "no failures: {requests:?}"
    );
    for name in [
        "GET protected page",
        "GET seat map",
        "POST hold",
        "POST confirm",
        "HOLD hold-won",
    ] {
        assert!(count(&requests, name) > 0, "{name}: {requests:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn apps_and_bots_run_and_a_missed_threshold_fails_the_run() {
    let demo = Demo::start();
    let dir = anteroom_testkit::unique_temp_dir("goose-app");
    let report = dir.join("app.json");
    let output = goose("app", &demo, &report, &["--threshold", "error-rate<1%"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let app = requests(&report);
    assert!(
        count(&app, "GET status poll") + count(&app, "POST confirm") > 0,
        "{app:?}"
    );

    // No loopback run makes 10 million requests a second: the threshold must fail the exit.
    let report = dir.join("bot.json");
    let output = goose("bot", &demo, &report, &["--threshold", "rps>=10000000"]);
    assert!(
        !output.status.success(),
        "a missed threshold exits non-zero"
    );
    assert!(count(&requests(&report), "GET bot join") > 0);
    let _ = std::fs::remove_dir_all(&dir);
}
