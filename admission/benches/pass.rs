//! Pass verification cost against raw HMAC-SHA256, in one run.
//!
//! `cargo bench -p anteroom-admission --bench pass`
//!
//! Times (a) ring HMAC-SHA256 over the same MAC input as the pass (key built once),
//! (b) `Keyring::verify_pass` of a valid token including parsing, the first time a thread sees
//! it (4,096 distinct passes in turn, more than a thread remembers), (c) `Keyring::issue_pass`,
//! (d) `Keyring::verify_visitor`, (e) `verify_pass` of a pass this thread verified before (the
//! admitted browser's next request: room and expiry checked, MAC not recomputed). They run in
//! interleaved batches so background load hits them alike; each figure is the median batch's
//! ns/op, the ratio the median of per-round ratios.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::time::Duration;

use anteroom_admission::{Keyring, PassClaims, VisitorId};
use anteroom_testkit::microbench::{batch, calibrate, median};
use ring::hmac;

const SECRET: &[u8] = b"anteroom-bench-secret-0123456789abcdef";
const ROUNDS: usize = 15;
/// Time budget per measured function, split over the rounds.
const BUDGET: Duration = Duration::from_millis(350);

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
    let fresh_tokens: Vec<String> = (0..4096)
        .map(|_| {
            ring.issue_pass(&PassClaims {
                visitor: VisitorId::random(),
                ..claims.clone()
            })
        })
        .collect();
    let mut next_fresh = 0usize;
    let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET);
    let signed_visitor = ring.sign_visitor(claims.visitor);

    let mut hmac_f = || {
        black_box(hmac::sign(black_box(&key), black_box(mac_input.as_bytes())));
    };
    let mut verify_f = || {
        next_fresh = (next_fresh + 1) % fresh_tokens.len();
        let token = &fresh_tokens[next_fresh];
        let _ = black_box(ring.verify_pass(black_box(token), black_box("tour-2027"), now));
    };
    let mut repeat_f = || {
        let _ = black_box(ring.verify_pass(black_box(&token), black_box("tour-2027"), now));
    };
    let mut issue_f = || {
        black_box(ring.issue_pass(black_box(&claims)));
    };
    let mut visitor_f = || {
        black_box(ring.verify_visitor(black_box(&signed_visitor)));
    };
    let mut fs: [&mut dyn FnMut(); 5] = [
        &mut hmac_f,
        &mut verify_f,
        &mut issue_f,
        &mut visitor_f,
        &mut repeat_f,
    ];
    let iters: Vec<u64> = fs
        .iter_mut()
        .map(|f| calibrate(*f, BUDGET / ROUNDS as u32))
        .collect();

    let mut samples: [Vec<f64>; 5] = Default::default();
    let mut ratios = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let mut round = [0.0; 5];
        for (i, f) in fs.iter_mut().enumerate() {
            round[i] = batch(*f, iters[i]);
            samples[i].push(round[i]);
        }
        ratios.push(round[1] / round[0]);
    }
    let [hmac_ns, verify_ns, issue_ns, visitor_ns, repeat_ns] = samples.map(median);
    let ratio = median(ratios);

    println!(
        "token: {} bytes, MAC input {} bytes",
        token.len(),
        mac_input.len()
    );
    println!("(a) ring HMAC-SHA256 sign (same input) {hmac_ns:>8.1} ns/op");
    println!("(b) Keyring::verify_pass (first sight)  {verify_ns:>8.1} ns/op");
    println!("(c) Keyring::issue_pass                 {issue_ns:>8.1} ns/op");
    println!("(d) Keyring::verify_visitor             {visitor_ns:>8.1} ns/op");
    println!("(e) Keyring::verify_pass (seen before)  {repeat_ns:>8.1} ns/op");
    println!("verify_pass / hmac = {ratio:.2}x (median of {ROUNDS} interleaved rounds)");
    println!(
        "budget: verify_pass <= 1000 ns: {}",
        if verify_ns <= 1000.0 { "met" } else { "MISSED" }
    );
}
