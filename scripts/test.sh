#!/usr/bin/env bash
# Everything CI checks, on a fresh Debian/Ubuntu machine that has only Rust:
# install test dependencies when missing, then formatting, lints and every test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
