//! The waiting page's proof-of-work solver (`pages/pow-worker.js`, run in Node by
//! `browser/pow_solver.mjs`) against the Rust side: its SHA-256 agrees with OpenSSL's, and
//! what it finds for a challenge from `challenge::issue` passes `challenge::verify` — the
//! same nonces Rust's own brute force finds, since both search upwards from 0.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::Command;

use anteroom_admission::VisitorId;
use anteroom_bot_guard::challenge::{self, ChallengeError, ChallengeKey, ChallengeSpec};

const NOW: u64 = 1_800_000_000;
const ROOM: &str = "tour";

/// `node pow_solver.mjs ARGS` → its standard output; fails saying how to get Node.
fn node(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/pow_solver.mjs");
    let out = Command::new("node")
        .arg(script)
        .args(args)
        .output()
        .expect("node (run scripts/install-test-deps.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "pow_solver.mjs {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    print!("{stdout}");
    stdout
}

fn line<'a>(stdout: &'a str, word: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(word))
        .unwrap_or_else(|| panic!("no {word} in {stdout}"))
        .trim()
}

fn key() -> ChallengeKey {
    ChallengeKey::derive(b"0123456789abcdef0123456789abcdef")
}

fn visitor() -> VisitorId {
    VisitorId([7; 16])
}

/// A challenge of `level` solved by the page's solver: the nonces as the page posts them.
fn js_solution(level: u8) -> (String, String) {
    let text = challenge::issue(
        &ChallengeSpec::new(ROOM, visitor(), level, NOW, 120),
        &key(),
    );
    let stdout = node(&["solve", &text]);
    (text, line(&stdout, "NONCES").to_string())
}

#[test]
fn the_js_sha256_agrees_with_openssl_on_the_puzzle_messages() {
    let stdout = node(&["digests", "5000"]);
    assert_eq!(line(&stdout, "DIGESTS"), "ok 5000");
}

#[test]
fn a_challenge_solved_by_the_page_verifies_in_rust() {
    for level in [0, 4] {
        let (text, posted) = js_solution(level);
        let nonces = challenge::parse_nonces(&posted).unwrap();
        assert_eq!(nonces.len(), 16, "{posted}");
        let verified = challenge::verify(&text, &nonces, ROOM, visitor(), NOW, &key())
            .unwrap_or_else(|e| panic!("level {level}: {e} for {posted}"));
        assert_eq!(verified.difficulty, level);
        assert_eq!(
            nonces,
            challenge::solve(&text).unwrap(),
            "the first solution of each sub-puzzle, as Rust finds it"
        );
    }
}

#[test]
fn the_page_solution_is_bound_to_its_challenge() {
    let (text, posted) = js_solution(2);
    let nonces = challenge::parse_nonces(&posted).unwrap();
    let other = challenge::issue(&ChallengeSpec::new(ROOM, visitor(), 2, NOW, 120), &key());
    assert_eq!(
        challenge::verify(&other, &nonces, ROOM, visitor(), NOW, &key()),
        Err(ChallengeError::WrongSolution),
        "a solution solves only its own challenge's id"
    );
    assert!(challenge::verify(&text, &nonces, ROOM, visitor(), NOW, &key()).is_ok());
}
