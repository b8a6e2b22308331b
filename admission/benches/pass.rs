//! Pass verification cost against raw HMAC-SHA256, in one run.
//!
//! `cargo bench -p anteroom-admission --bench pass`
//!
//! Times (a) ring HMAC-SHA256 over the same MAC input as the pass (key built once),
//! (b) `Keyring::verify_pass` of a valid token including parsing, (c) `Keyring::issue_pass`,
//! (d) `Keyring::verify_visitor`. Each is run in batches; the median batch's ns/op is reported.

use std::hint::black_box;
use std::time::{Duration, Instant};

use anteroom_admission::{Keyring, PassClaims, VisitorId};
use ring::hmac;

const SECRET: &[u8] = b"anteroom-bench-secret-0123456789abcdef";
const BATCHES: usize = 15;
/// Time budget per measured function, split over the batches.
const BUDGET: Duration = Duration::from_millis(350);

/// Runs `f` in `BATCHES` batches sized to fill `BUDGET`; returns the median ns/op.
fn measure(mut f: impl FnMut()) -> f64 {
    // calibrate: double until one batch takes ~ BUDGET / BATCHES
    let target = BUDGET / BATCHES as u32;
    let mut iters: u64 = 1_000;
    loop {
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        if start.elapsed() >= target / 2 {
            break;
        }
        iters *= 2;
    }
    let mut per_op: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            start.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    per_op.sort_by(f64::total_cmp);
    per_op[BATCHES / 2]
}

fn main() {
    let ring = match Keyring::new("k1", vec![("k1".to_owned(), SECRET.to_vec())]) {
        Ok(ring) => ring,
        Err(e) => panic!("bench keyring: {e}"),
    };
    let claims = PassClaims {
        room: "tour-2027".to_owned(),
        visitor: VisitorId::random(),
        issued_at: 1_767_225_600,
        expires_at: 1_767_226_200,
    };
    let token = ring.issue_pass(&claims);
    let now = claims.issued_at + 1;
    assert!(ring.verify_pass(&token, "tour-2027", now).is_ok());
    let mac_input = token[..token.rfind('.').unwrap_or(token.len())].to_owned();
    let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET);
    let signed_visitor = ring.sign_visitor(claims.visitor);

    let hmac_ns = measure(|| {
        black_box(hmac::sign(black_box(&key), black_box(mac_input.as_bytes())));
    });
    let verify_ns = measure(|| {
        let _ = black_box(ring.verify_pass(black_box(&token), black_box("tour-2027"), now));
    });
    let issue_ns = measure(|| {
        black_box(ring.issue_pass(black_box(&claims)));
    });
    let visitor_ns = measure(|| {
        black_box(ring.verify_visitor(black_box(&signed_visitor)));
    });

    println!(
        "token: {} bytes, MAC input {} bytes",
        token.len(),
        mac_input.len()
    );
    println!("(a) ring HMAC-SHA256 sign (same input) {hmac_ns:>8.1} ns/op");
    println!("(b) Keyring::verify_pass (with parsing) {verify_ns:>8.1} ns/op");
    println!("(c) Keyring::issue_pass                 {issue_ns:>8.1} ns/op");
    println!("(d) Keyring::verify_visitor             {visitor_ns:>8.1} ns/op");
    println!("verify_pass / hmac = {:.2}x", verify_ns / hmac_ns);
    println!(
        "budget: verify_pass <= 1000 ns: {}",
        if verify_ns <= 1000.0 { "met" } else { "MISSED" }
    );
}
