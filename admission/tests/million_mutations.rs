//! One million mutated passes through the verifier: none accepted, none panics, in bounded
//! time. Each mutation starts from a genuine pass and changes it the ways an attacker (or a
//! broken client) would: flipped bits, substituted, inserted and deleted characters,
//! truncation, extension, swapped parts, a part borrowed from another genuine pass.
//! Deterministic (a fixed-seed generator), so a failure names a reproducible iteration.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use anteroom_admission::{Keyring, PassClaims, PassRejection, VisitorId};

const MUTATIONS: u64 = 1_000_000;
/// Generous for a debug build on a busy 2-core machine; it takes a few seconds when quiet.
const TIME_LIMIT: Duration = Duration::from_secs(120);
const NOW: u64 = 1_700_000_100;

/// xorshift64*: fast, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Characters a mutation writes: the token alphabet (most likely to get deep into the
/// verifier), separators, and bytes that are not ASCII or not text at all.
const ALPHABET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ %\0\xff\xc3";

fn mutate(rng: &mut Rng, base: &[u8], donor: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(base);
    let rounds = 1 + rng.below(3);
    for _ in 0..rounds {
        let len = out.len();
        match rng.below(9) {
            // Flip one bit.
            0 if len > 0 => {
                let at = rng.below(len);
                out[at] ^= 1 << rng.below(8);
            }
            // Substitute one character with a different one.
            1 if len > 0 => {
                let at = rng.below(len);
                let mut c = ALPHABET[rng.below(ALPHABET.len())];
                if c == out[at] {
                    c = if c == b'A' { b'B' } else { b'A' };
                }
                out[at] = c;
            }
            // Truncate.
            2 if len > 0 => out.truncate(rng.below(len)),
            // Extend.
            3 => {
                for _ in 0..1 + rng.below(4) {
                    out.push(ALPHABET[rng.below(ALPHABET.len())]);
                }
            }
            // Insert one character.
            4 => {
                let at = rng.below(len + 1);
                out.insert(at, ALPHABET[rng.below(ALPHABET.len())]);
            }
            // Delete one character.
            5 if len > 0 => {
                out.remove(rng.below(len));
            }
            // Swap two characters.
            6 if len > 1 => {
                let (a, b) = (rng.below(len), rng.below(len));
                out.swap(a, b);
            }
            // Take one dot-separated part from another genuine pass.
            7 => {
                let part = rng.below(4);
                let mine: Vec<&[u8]> = out.split(|&b| b == b'.').collect();
                let theirs: Vec<&[u8]> = donor.split(|&b| b == b'.').collect();
                if mine.len() == 4 && theirs.len() == 4 {
                    let mut spliced = Vec::with_capacity(out.len() + 8);
                    for (i, piece) in mine.iter().enumerate() {
                        if i > 0 {
                            spliced.push(b'.');
                        }
                        spliced.extend_from_slice(if i == part { theirs[i] } else { piece });
                    }
                    *out = spliced;
                }
            }
            // Duplicate a slice in place (lengthens one part).
            _ if len > 0 => {
                let from = rng.below(len);
                let to = (from + 1 + rng.below(8)).min(len);
                let copy = out[from..to].to_vec();
                let at = rng.below(len + 1);
                out.splice(at..at, copy);
            }
            _ => out.push(b'.'),
        }
    }
}

#[test]
fn a_million_mutated_passes_are_all_refused_without_a_panic() {
    let ring = Keyring::new(
        "k2",
        vec![
            (
                "k1".into(),
                b"mutation-test-secret-k1-0123456789abcdef".to_vec(),
            ),
            (
                "k2".into(),
                b"mutation-test-secret-k2-0123456789abcdef".to_vec(),
            ),
        ],
    )
    .unwrap();
    let old = Keyring::new(
        "k1",
        vec![(
            "k1".into(),
            b"mutation-test-secret-k1-0123456789abcdef".to_vec(),
        )],
    )
    .unwrap();
    let claims = |room: &str, visitor: u8| PassClaims {
        room: room.into(),
        visitor: VisitorId([visitor; 16]),
        issued_at: NOW - 100,
        expires_at: NOW + 500,
    };
    // Genuine passes for the room verified: signed by the current and the retiring key.
    let genuine: Vec<Vec<u8>> = vec![
        ring.issue_pass(&claims("tour-2027", 1)).into_bytes(),
        old.issue_pass(&claims("tour-2027", 2)).into_bytes(),
        ring.issue_pass(&claims("tour-2027", 0xfe)).into_bytes(),
        ring.issue_pass(&claims("tour-2027", 3)).into_bytes(),
    ];
    for token in &genuine {
        let token = std::str::from_utf8(token).unwrap();
        assert!(ring.verify_pass(token, "tour-2027", NOW).is_ok(), "{token}");
    }

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut buf = Vec::with_capacity(256);
    let (mut accepted, mut panics) = (Vec::new(), 0u64);
    let mut reasons: BTreeMap<&str, u64> = BTreeMap::new();
    let started = Instant::now();
    let (mut sent, mut i) = (0u64, 0u64);
    while sent < MUTATIONS {
        i += 1;
        let base = &genuine[rng.below(genuine.len())];
        let donor = &genuine[rng.below(genuine.len())];
        mutate(&mut rng, base, donor, &mut buf);
        if genuine.contains(&buf) {
            // A round of mutations that undid itself (a swap of equal bytes, a part taken
            // from the same pass): not a mutation.
            continue;
        }
        sent += 1;
        let text = String::from_utf8_lossy(&buf);
        match catch_unwind(AssertUnwindSafe(|| {
            ring.verify_pass(&text, "tour-2027", NOW)
        })) {
            Ok(Ok(claims)) => accepted.push((i, text.into_owned(), claims)),
            Ok(Err(reason)) => *reasons.entry(reason.reason()).or_default() += 1,
            Err(_) => panics += 1,
        }
    }
    let elapsed = started.elapsed();
    eprintln!("{sent} mutated passes verified in {elapsed:?}; refused: {reasons:?}");
    assert_eq!(
        reasons.values().sum::<u64>() + accepted.len() as u64 + panics,
        sent
    );
    assert!(accepted.is_empty(), "accepted: {accepted:?}");
    assert_eq!(panics, 0);
    // The mutations reach every stage of the verifier, the MAC check included: a fuzzer
    // whose inputs all die at the first length check would prove nothing.
    let refused = |r: PassRejection| reasons.get(r.reason()).copied().unwrap_or(0);
    assert!(
        refused(PassRejection::BadSignature) > MUTATIONS / 10,
        "{reasons:?}"
    );
    assert!(
        refused(PassRejection::Malformed) > MUTATIONS / 10,
        "{reasons:?}"
    );
    assert!(refused(PassRejection::UnknownKey) > 0, "{reasons:?}");
    assert!(
        elapsed < TIME_LIMIT,
        "{MUTATIONS} verifications took {elapsed:?}"
    );
}
