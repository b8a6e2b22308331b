//! Shared by the suites: the workspace's `anteroom` binary, built when missing or stale.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

/// The loadtest binary under test.
pub const LOADTEST: &str = env!("CARGO_BIN_EXE_anteroom-loadtest");

/// The directory holding `anteroom`, built (or found up to date) for these suites. Cargo
/// builds another package's binaries only for that package's tests, so it is built here —
/// into a target directory of its own: a `cargo build -p anteroom` into the shared one
/// resolves features apart from the workspace's and rebuilds, under the running
/// `cargo test --workspace`, artifacts other test targets link against.
pub fn bin_dir() -> PathBuf {
    static BUILD: Once = Once::new();
    let target = Path::new(LOADTEST)
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("loadtest-anteroom");
    BUILD.call_once(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "anteroom", "--bin", "anteroom"])
            .arg("--target-dir")
            .arg(&target)
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
            .status()
            .expect("run cargo build -p anteroom");
        assert!(status.success(), "cargo build -p anteroom failed");
    });
    target.join("debug")
}
