//! Property tests of the two codecs an attacker can reach: the pass and the signed visitor
//! id. Every genuine value round-trips; every mutation of one (a flipped bit, truncation,
//! extension, a substituted character) is refused; arbitrary text never panics.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use anteroom_admission::{Keyring, PassClaims, VisitorId};
use proptest::prelude::*;

fn ring() -> Keyring {
    Keyring::new(
        "k2",
        vec![
            (
                "k1".into(),
                b"property-test-secret-k1-0123456789abcdef".to_vec(),
            ),
            (
                "k2".into(),
                b"property-test-secret-k2-0123456789abcdef".to_vec(),
            ),
        ],
    )
    .unwrap()
}

/// How a genuine token is changed.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit { at: usize, bit: u8 },
    Truncate { to: usize },
    Extend { with: String },
    Substitute { at: usize, with: char },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        any::<usize>().prop_map(|to| Mutation::Truncate { to }),
        "[A-Za-z0-9_.=-]{1,8}|\\PC{1,4}".prop_map(|with| Mutation::Extend { with }),
        (any::<usize>(), any::<char>()).prop_map(|(at, with)| Mutation::Substitute { at, with }),
    ]
}

/// The mutated token; always different from `token` (which is non-empty ASCII).
fn apply(token: &str, mutation: &Mutation) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let len = bytes.len();
    match mutation {
        Mutation::FlipBit { at, bit } => bytes[at % len] ^= 1 << bit,
        Mutation::Truncate { to } => bytes.truncate(to % len),
        Mutation::Extend { with } => bytes.extend_from_slice(with.as_bytes()),
        Mutation::Substitute { at, with } => {
            let at = at % len;
            let mut with = *with;
            if with == char::from(bytes[at]) {
                with = if with == 'A' { 'B' } else { 'A' };
            }
            let mut buf = [0u8; 4];
            bytes.splice(at..=at, with.encode_utf8(&mut buf).bytes());
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn claims() -> impl Strategy<Value = PassClaims> {
    (
        "[A-Za-z0-9_-]{1,64}|\\PC{0,24}",
        any::<[u8; 16]>(),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(|(room, visitor, a, b)| PassClaims {
            room,
            visitor: VisitorId(visitor),
            issued_at: a.min(b),
            expires_at: a.max(b),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_pass_round_trips(claims in claims()) {
        let ring = ring();
        let token = ring.issue_pass(&claims);
        let now = claims.issued_at.min(claims.expires_at.saturating_sub(1));
        if claims.expires_at > 0 {
            prop_assert_eq!(ring.verify_pass(&token, &claims.room, now), Ok(claims.clone()));
            prop_assert_eq!(ring.verify_pass_any_room(&token, now), Ok(claims));
        } else {
            prop_assert!(ring.verify_pass(&token, &claims.room, now).is_err());
        }
    }

    #[test]
    fn a_mutated_pass_is_refused(claims in claims(), mutation in mutation()) {
        let ring = ring();
        let token = ring.issue_pass(&claims);
        let mutated = apply(&token, &mutation);
        prop_assume!(mutated != token);
        let now = claims.issued_at;
        prop_assert!(ring.verify_pass(&mutated, &claims.room, now).is_err(), "{mutated}");
        prop_assert!(ring.verify_pass_any_room(&mutated, now).is_err(), "{mutated}");
    }

    #[test]
    fn arbitrary_text_is_never_a_pass(text in "\\PC*|v1\\.k[12]\\.[A-Za-z0-9_-]{0,120}\\.[A-Za-z0-9_-]{40,46}") {
        let ring = ring();
        prop_assert!(ring.verify_pass(&text, "room", 0).is_err());
        prop_assert!(ring.verify_pass_any_room(&text, 0).is_err());
    }

    #[test]
    fn a_visitor_id_round_trips(bytes in any::<[u8; 16]>()) {
        let ring = ring();
        let visitor = VisitorId(bytes);
        prop_assert_eq!(VisitorId::from_hex(&visitor.to_hex()), Some(visitor));
        prop_assert_eq!(ring.verify_visitor(&ring.sign_visitor(visitor)), Some(visitor));
    }

    #[test]
    fn a_mutated_visitor_id_is_refused(bytes in any::<[u8; 16]>(), mutation in mutation()) {
        let ring = ring();
        let signed = ring.sign_visitor(VisitorId(bytes));
        let mutated = apply(&signed, &mutation);
        prop_assume!(mutated != signed);
        prop_assert_eq!(ring.verify_visitor(&mutated), None, "{}", mutated);
    }

    #[test]
    fn arbitrary_text_is_never_a_visitor_id(text in "\\PC*|[0-9a-f]{32}\\.k[12]\\.[A-Za-z0-9_-]{20,24}") {
        let ring = ring();
        prop_assert_eq!(ring.verify_visitor(&text), None);
        if let Some(id) = VisitorId::from_hex(&text) {
            prop_assert_eq!(id.to_hex(), text);
        }
    }
}
