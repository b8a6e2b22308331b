//! Shared by the suites: the workspace's `anteroom` binary, built when missing or stale.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

/// The loadtest binary under test.
pub const LOADTEST: &str = env!("CARGO_BIN_EXE_anteroom-loadtest");

/// The directory holding `anteroom`, built (or found up to date) next to this crate's
/// binary: cargo builds another package's binaries only for that package's tests.
pub fn bin_dir() -> PathBuf {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "anteroom", "--bin", "anteroom"])
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
            .status()
            .expect("run cargo build -p anteroom");
        assert!(status.success(), "cargo build -p anteroom failed");
    });
    Path::new(LOADTEST).parent().unwrap().to_path_buf()
}
