//! The k6 scripts parse, declare thresholds and write the simulator's summary fields. k6
//! itself is optional: `k6 inspect` runs when a k6 binary is on PATH, `node --check` when
//! node is; the text checks always run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const SCRIPTS: [&str; 3] = ["fan.js", "app.js", "bot.js"];
const SUMMARY_FIELDS: [&str; 8] = [
    "joins_per_second",
    "admission_rate_error_pct",
    "kendall_tau_distance",
    "double_holds",
    "double_bookings",
    "seats_sold",
    "eta_error_pct",
    "bots_admitted",
];

fn k6_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("k6")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(k6_dir().join(name)).unwrap()
}

fn on_path(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn every_script_is_open_model_with_thresholds_and_the_summary() {
    let lib = read("lib.js");
    assert!(lib.contains("'ramping-arrival-rate'"));
    assert!(lib.contains("dropped_iterations"));
    for field in SUMMARY_FIELDS {
        assert!(lib.contains(&format!("{field}:")), "summary lacks {field}");
    }
    for script in SCRIPTS {
        let text = read(script);
        assert!(
            text.contains("export { handleSummary } from './lib.js'"),
            "{script}"
        );
        assert!(text.contains("arrival("), "{script}: open-model arrival");
        assert!(text.contains("thresholds"), "{script}: thresholds");
        assert!(text.contains("tags: { step:"), "{script}: tags per step");
    }
    let fan = read("fan.js");
    assert!(fan.contains("from 'k6/x/sse'") && fan.contains("from 'k6/websockets'"));
}

#[test]
fn every_script_parses() {
    if on_path("node") {
        for script in SCRIPTS.iter().chain(&["lib.js"]) {
            let file = std::fs::File::open(k6_dir().join(script)).unwrap();
            let output = Command::new("node")
                .args(["--input-type=module", "--check"])
                .stdin(file)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{script}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    if on_path("k6") {
        for script in SCRIPTS {
            let output = Command::new("k6")
                .args(["inspect", script])
                .current_dir(k6_dir())
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&output.stderr).to_string()
                + &String::from_utf8_lossy(&output.stdout);
            // A k6 without xk6-sse (or before k6/websockets) cannot load fan.js; anything
            // else is a broken script.
            let missing_extension = text.contains("unknown module: k6/x/sse")
                || text.contains("unknown module: k6/websockets");
            assert!(
                output.status.success() || (script == "fan.js" && missing_extension),
                "k6 inspect {script}: {text}"
            );
        }
    }
}
