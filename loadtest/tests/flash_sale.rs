//! `anteroom-loadtest flash-sale` end to end: a small sale on real processes (two gateways,
//! the booking service, redis-server, PostgreSQL), gated on its own report file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::{bin_dir, LOADTEST};

fn flash_sale(out: &Path, args: &[&str]) -> (Output, serde_json::Value) {
    let output = Command::new(LOADTEST)
        .arg("flash-sale")
        .args(args)
        .arg("--bin-dir")
        .arg(bin_dir())
        .arg("--out")
        .arg(out)
        .output()
        .expect("run anteroom-loadtest");
    let text = std::fs::read_to_string(out.join("report.json")).unwrap_or_else(|e| {
        panic!(
            "no report.json ({e}); stderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (
        output,
        serde_json::from_str(&text).expect("report.json is JSON"),
    )
}

#[test]
fn a_small_sale_is_fair_sells_every_seat_once_and_holds_the_rate() {
    let out = anteroom_testkit::unique_temp_dir("flash-sale-report");
    let (output, report) = flash_sale(
        &out,
        &[
            "--visitors",
            "2000",
            "--gateways",
            "2",
            "--seats",
            "200",
            "--rate",
            "20",
            "--bots",
            "5",
            "--arrival",
            "spike",
            "--arrival-seconds",
            "5",
            // A quarter of the fans poll instead of streaming: both paths play.
            "--max-streams",
            "1400",
        ],
    );
    let summary = &report["summary"];
    assert!(
        output.status.success(),
        "a gate failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(report["passed"], true);
    assert_eq!(summary["kendall_tau_distance"], 0, "{summary}");
    assert_eq!(summary["admitted_without_recorded_join"], 0, "{summary}");
    assert!(summary["admitted"].as_u64().unwrap() >= 200, "{summary}");
    assert_eq!(summary["double_bookings"], 0, "{summary}");
    assert_eq!(summary["double_holds"], 0, "{summary}");
    assert_eq!(
        summary["seats_sold"], 200,
        "every seat sold once: {summary}"
    );
    assert_eq!(summary["bookings_in_ledger"], 200, "{summary}");
    assert!(
        summary["admission_rate_error_pct"].as_f64().unwrap().abs() <= 2.0,
        "{summary}"
    );
    assert_eq!(summary["joined"], 2000, "{summary}");
    assert_eq!(summary["bots"], 100, "{summary}");
    for field in [
        "joins_per_second",
        "eta_error_pct",
        "bots_admitted",
        "abandonment_pct",
    ] {
        assert!(summary[field].is_number(), "{field} missing: {summary}");
    }
    for step in ["join", "time_to_admit", "seat_map", "hold", "confirm"] {
        assert!(
            report["steps"][step]["count"].as_u64().unwrap() > 0,
            "{step}"
        );
    }
    let markdown = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        markdown.contains("| Kendall-tau distance | 0 |"),
        "{markdown}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 3, "three plots");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_failed_gate_fails_the_exit_code() {
    let out = anteroom_testkit::unique_temp_dir("flash-sale-gate");
    // No measured rate is within -1% of the set rate: the rate gate must fail.
    let (output, report) = flash_sale(
        &out,
        &[
            "--visitors",
            "60",
            "--gateways",
            "1",
            "--seats",
            "10",
            "--rate",
            "20",
            "--arrival",
            "instant",
            "--max-rate-error-pct=-1",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert_eq!(report["passed"], false);
    let failed: Vec<&str> = report["gates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["passed"] == false)
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["admission_rate"], "{report}");
    assert_eq!(report["summary"]["seats_sold"], 10);
    let _ = std::fs::remove_dir_all(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_against_running_gateways_is_counted_in_their_redis_and_ledger() {
    use anteroom_loadtest::stack::{SaleSetup, Stack, ADMIN_TOKEN};
    let setup = SaleSetup {
        room: "gig".into(),
        event: "gig-night".into(),
        seats: 100,
        admit_per_second: 20.0,
    };
    let stack = Stack::start(&bin_dir(), 1, &setup).await.unwrap();
    let out = anteroom_testkit::unique_temp_dir("flash-sale-target");
    let gateway = stack.gateways[0];
    let args = [
        format!("--target=http://{}", gateway.public),
        format!("--redis=127.0.0.1:{}", stack.redis.port()),
        format!("--database-url={}", stack.postgres.url()),
        format!("--admin-url=http://{}", gateway.admin),
        format!("--booking-url=http://{}", stack.booking),
        format!("--admin-token={ADMIN_TOKEN}"),
        "--room=gig".into(),
        "--event=gig-night".into(),
        "--seats=100".into(),
        "--rate=20".into(),
        "--visitors=400".into(),
        "--arrival=instant".into(),
        // A five-second sale measures the rate over few ticks; the rate itself is gated
        // in the sale above.
        "--max-rate-error-pct=5".into(),
    ];
    let (output, report) = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        flash_sale(&out, &args)
    })
    .await
    .unwrap();
    let summary = &report["summary"];
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(summary["seats_sold"], 100, "{summary}");
    assert_eq!(summary["bookings_in_ledger"], 100, "{summary}");
    assert_eq!(summary["kendall_tau_distance"], 0, "{summary}");
    assert!(summary["admitted"].as_u64().unwrap() >= 100, "{summary}");
    assert_eq!(report["settings"]["gateways"], 1);
    assert!(!report["series"].as_array().unwrap().is_empty(), "sampled");
}
