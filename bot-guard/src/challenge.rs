//! Proof-of-work challenges: server-signed, stateless, expiring, bound to a room and a
//! visitor, redeemed once (by the store, keyed by the challenge id).
//!
//! ```text
//! challenge = "c1." payload "." mac
//! payload   = base64url-no-pad( JSON {"id":"<32 hex>","room":ROOM,"vid":"<32 hex>",
//!                                     "exp":UNIX_SECONDS,"d":LEVEL,"n":SUB_PUZZLES,"bits":BITS} )
//! mac       = base64url-no-pad( HMAC-SHA256(challenge key, "c1." payload) )      (43 characters)
//! key       = HMAC-SHA256(gateway signing secret, "anteroom challenge key v1")
//! ```
//!
//! A solution is one nonce per sub-puzzle `i` (0-based, `n` of them) such that
//! `SHA-256(seed ‖ i ‖ nonce)` starts with at least `bits` zero bits, where `seed` is the 16
//! bytes of the id, `i` one byte and `nonce` 8 bytes big-endian (25 bytes: one SHA-256
//! block). The waiting page reads `id`, `n` and `bits` from the payload (it is not secret).
//! The key is derived, not the signing secret itself, so no challenge MAC is ever a pass MAC.
//!
//! Verification, in this order (cheapest and most general first; the hashes last):
//!
//! 1. sizes: the challenge at most [`MAX_CHALLENGE_LEN`] bytes, at most [`MAX_SUB_PUZZLES`]
//!    nonces → `TooLarge`;
//! 2. form: `c1.` prefix, two parts, a MAC of 32 bytes → `Malformed`;
//! 3. MAC, in constant time (`ring::hmac::verify`) → `BadMac`;
//! 4. payload: base64url JSON with every field in range → `Malformed` (only a key leak
//!    could get here);
//! 5. expiry: `now < exp` → `Expired`;
//! 6. room → `WrongRoom`;
//! 7. visitor → `WrongVisitor`;
//! 8. as many nonces as sub-puzzles → `WrongSolution`;
//! 9. each sub-puzzle's hash has `bits` leading zero bits → `WrongSolution` — `n` hashes.
//!
//! One-time use is the caller's step 10: `GuardStore::redeem(room, id, ttl)`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::{digest, hmac};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use anteroom_admission::VisitorId;
use anteroom_config::MAX_GUARD_DIFFICULTY;

use crate::difficulty::Work;

pub const CHALLENGE_PREFIX: &str = "c1.";
/// Longest challenge text accepted (a 64-character room id gives about 290).
pub const MAX_CHALLENGE_LEN: usize = 512;
/// Most sub-puzzles a challenge may have (and nonces a solution may carry).
pub const MAX_SUB_PUZZLES: usize = 64;
/// Most leading zero bits a sub-puzzle may ask.
pub const MAX_BITS: u8 = 40;
/// Longest nonce list text (`parse_nonces`): 64 numbers of up to 20 digits and commas.
pub const MAX_NONCES_TEXT_LEN: usize = MAX_SUB_PUZZLES * 21;
const KEY_LABEL: &[u8] = b"anteroom challenge key v1";
const MAC_LEN: usize = 32;
const ID_LEN: usize = 16;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ChallengeError {
    #[error("challenge or solution too large")]
    TooLarge,
    #[error("malformed challenge")]
    Malformed,
    #[error("challenge signature does not verify")]
    BadMac,
    #[error("challenge expired")]
    Expired,
    #[error("challenge issued for another room")]
    WrongRoom,
    #[error("challenge issued to another visitor")]
    WrongVisitor,
    #[error("solution does not solve the challenge")]
    WrongSolution,
}

impl ChallengeError {
    /// A bounded label (metric `anteroom_challenges_total{outcome}` and the JSON error code).
    pub fn as_label(&self) -> &'static str {
        match self {
            ChallengeError::TooLarge => "too_large",
            ChallengeError::Malformed => "malformed",
            ChallengeError::BadMac => "bad_mac",
            ChallengeError::Expired => "expired",
            ChallengeError::WrongRoom => "wrong_room",
            ChallengeError::WrongVisitor => "wrong_visitor",
            ChallengeError::WrongSolution => "wrong_solution",
        }
    }
}

/// The key that signs and verifies challenges.
pub struct ChallengeKey(hmac::Key);

impl ChallengeKey {
    /// Derived from the gateway's signing secret (the bytes of `[keys]`' signing key).
    pub fn derive(signing_secret: &[u8]) -> ChallengeKey {
        let outer = hmac::Key::new(hmac::HMAC_SHA256, signing_secret);
        let tag = hmac::sign(&outer, KEY_LABEL);
        ChallengeKey(hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref()))
    }
}

impl std::fmt::Debug for ChallengeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChallengeKey(<hidden>)")
    }
}

/// What a new challenge says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeSpec {
    /// Random; the store redeems each id once. `ChallengeSpec::new` draws one.
    pub id: [u8; ID_LEN],
    pub room: String,
    pub visitor: VisitorId,
    pub difficulty: u8,
    /// Unix seconds; the challenge is refused from then on.
    pub expires_at: u64,
}

impl ChallengeSpec {
    /// A challenge with a fresh random id, valid `ttl_seconds` from `now`.
    pub fn new(room: &str, visitor: VisitorId, difficulty: u8, now: u64, ttl_seconds: u64) -> Self {
        ChallengeSpec {
            id: rand::random(),
            room: room.to_string(),
            visitor,
            difficulty: difficulty.min(MAX_GUARD_DIFFICULTY),
            expires_at: now.saturating_add(ttl_seconds),
        }
    }
}

/// A challenge that verified and was solved; redeem `id` once before honouring it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// 32 lowercase hex digits.
    pub id: String,
    pub expires_at: u64,
    pub difficulty: u8,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    id: String,
    room: String,
    vid: String,
    exp: u64,
    d: u8,
    n: u8,
    bits: u8,
}

fn hex(bytes: &[u8]) -> String {
    anteroom_admission::hex_lower(bytes)
}

fn unhex16(text: &str) -> Option<[u8; ID_LEN]> {
    let bytes = text.as_bytes();
    if bytes.len() != 2 * ID_LEN {
        return None;
    }
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; ID_LEN];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let [hi, lo] = pair else { return None };
        *slot = (digit(*hi)? << 4) | digit(*lo)?;
    }
    Some(out)
}

/// The challenge text of `spec`, signed with `key`.
pub fn issue(spec: &ChallengeSpec, key: &ChallengeKey) -> String {
    let work = Work::of(spec.difficulty);
    let payload = Payload {
        id: hex(&spec.id),
        room: spec.room.clone(),
        vid: spec.visitor.to_string(),
        exp: spec.expires_at,
        d: spec.difficulty.min(MAX_GUARD_DIFFICULTY),
        n: work.sub_puzzles,
        bits: work.bits,
    };
    // Serialising a struct of strings and integers cannot fail.
    let json = serde_json::to_vec(&payload).unwrap_or_default();
    let mut text = String::with_capacity(MAX_CHALLENGE_LEN);
    text.push_str(CHALLENGE_PREFIX);
    URL_SAFE_NO_PAD.encode_string(json, &mut text);
    let mac = hmac::sign(&key.0, text.as_bytes());
    text.push('.');
    URL_SAFE_NO_PAD.encode_string(mac.as_ref(), &mut text);
    text
}

/// The signed text and the MAC of a challenge (steps 1–2), without checking the MAC.
fn split(challenge: &str) -> Result<(&str, &str), ChallengeError> {
    if challenge.len() > MAX_CHALLENGE_LEN {
        return Err(ChallengeError::TooLarge);
    }
    let (signed, mac) = challenge
        .rsplit_once('.')
        .ok_or(ChallengeError::Malformed)?;
    let payload = signed
        .strip_prefix(CHALLENGE_PREFIX)
        .ok_or(ChallengeError::Malformed)?;
    if payload.is_empty() || payload.contains('.') {
        return Err(ChallengeError::Malformed);
    }
    Ok((signed, mac))
}

/// The payload of a challenge's signed text, its fields checked (step 4).
fn payload(signed: &str) -> Result<(Payload, [u8; ID_LEN]), ChallengeError> {
    let b64 = signed
        .strip_prefix(CHALLENGE_PREFIX)
        .ok_or(ChallengeError::Malformed)?;
    let json = URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| ChallengeError::Malformed)?;
    let p: Payload = serde_json::from_slice(&json).map_err(|_| ChallengeError::Malformed)?;
    let seed = unhex16(&p.id).ok_or(ChallengeError::Malformed)?;
    if usize::from(p.n) > MAX_SUB_PUZZLES
        || p.n == 0
        || p.bits > MAX_BITS
        || p.d > MAX_GUARD_DIFFICULTY
    {
        return Err(ChallengeError::Malformed);
    }
    Ok((p, seed))
}

/// Leading zero bits of `SHA-256(seed ‖ index ‖ nonce)` reach `bits`.
pub fn puzzle_solved(seed: &[u8; ID_LEN], index: u8, nonce: u64, bits: u8) -> bool {
    let mut input = [0u8; ID_LEN + 1 + 8];
    let (head, tail) = input.split_at_mut(ID_LEN);
    head.copy_from_slice(seed);
    if let Some((i, rest)) = tail.split_first_mut() {
        *i = index;
        rest.copy_from_slice(&nonce.to_be_bytes());
    }
    let hash = digest::digest(&digest::SHA256, &input);
    leading_zero_bits(hash.as_ref()) >= u32::from(bits)
}

fn leading_zero_bits(bytes: &[u8]) -> u32 {
    let mut zeros = 0;
    for b in bytes {
        zeros += b.leading_zeros();
        if *b != 0 {
            break;
        }
    }
    zeros
}

/// Verify a solved challenge for `room` and `visitor` at `now` (unix seconds), in the order
/// of the module documentation.
pub fn verify(
    challenge: &str,
    nonces: &[u64],
    room: &str,
    visitor: VisitorId,
    now: u64,
    key: &ChallengeKey,
) -> Result<Verified, ChallengeError> {
    if nonces.len() > MAX_SUB_PUZZLES {
        return Err(ChallengeError::TooLarge);
    }
    let (signed, mac_b64) = split(challenge)?;
    let mut mac = [0u8; MAC_LEN];
    match URL_SAFE_NO_PAD.decode_slice(mac_b64, &mut mac) {
        Ok(MAC_LEN) => {}
        _ => return Err(ChallengeError::Malformed),
    }
    hmac::verify(&key.0, signed.as_bytes(), &mac).map_err(|_| ChallengeError::BadMac)?;
    let (p, seed) = payload(signed)?;
    if now >= p.exp {
        return Err(ChallengeError::Expired);
    }
    if p.room != room {
        return Err(ChallengeError::WrongRoom);
    }
    if p.vid != visitor.to_string() {
        return Err(ChallengeError::WrongVisitor);
    }
    if nonces.len() != usize::from(p.n) {
        return Err(ChallengeError::WrongSolution);
    }
    let all_solved = nonces
        .iter()
        .zip(0u8..)
        .all(|(nonce, i)| puzzle_solved(&seed, i, *nonce, p.bits));
    if !all_solved {
        return Err(ChallengeError::WrongSolution);
    }
    Ok(Verified {
        id: p.id,
        expires_at: p.exp,
        difficulty: p.d,
    })
}

/// Solve a challenge by brute force, as the waiting page's Worker does (tests, benches and
/// calibration). Does not check the MAC: a solver has no key.
pub fn solve(challenge: &str) -> Result<Vec<u64>, ChallengeError> {
    let (signed, _) = split(challenge)?;
    let (p, seed) = payload(signed)?;
    Ok((0..p.n)
        .map(|i| {
            (0u64..)
                .find(|nonce| puzzle_solved(&seed, i, *nonce, p.bits))
                .unwrap_or(u64::MAX)
        })
        .collect())
}

/// Nonces as posted by the page: decimal numbers separated by commas, at most
/// [`MAX_SUB_PUZZLES`] of them.
pub fn parse_nonces(text: &str) -> Result<Vec<u64>, ChallengeError> {
    if text.len() > MAX_NONCES_TEXT_LEN {
        return Err(ChallengeError::TooLarge);
    }
    let nonces = text
        .split(',')
        .map(|n| {
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ChallengeError::Malformed);
            }
            n.parse::<u64>().map_err(|_| ChallengeError::Malformed)
        })
        .collect::<Result<Vec<u64>, _>>()?;
    if nonces.len() > MAX_SUB_PUZZLES {
        return Err(ChallengeError::TooLarge);
    }
    Ok(nonces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: u64 = 1_800_000_000;

    fn key() -> ChallengeKey {
        ChallengeKey::derive(b"0123456789abcdef0123456789abcdef")
    }

    fn spec(difficulty: u8) -> ChallengeSpec {
        ChallengeSpec {
            id: [0x5a; 16],
            room: "tour-2027".into(),
            visitor: VisitorId([3; 16]),
            difficulty,
            expires_at: NOW + 120,
        }
    }

    /// A challenge at level 0 and its solution (16 × 1,024 hashes: fast in debug builds).
    fn solved() -> (String, Vec<u64>) {
        let text = issue(&spec(0), &key());
        let nonces = solve(&text).unwrap();
        (text, nonces)
    }

    fn check(text: &str, nonces: &[u64]) -> Result<Verified, ChallengeError> {
        verify(text, nonces, "tour-2027", VisitorId([3; 16]), NOW, &key())
    }

    #[test]
    fn a_solved_challenge_verifies() {
        let (text, nonces) = solved();
        assert!(text.starts_with("c1.") && text.len() < MAX_CHALLENGE_LEN);
        assert_eq!(nonces.len(), usize::from(SUB_PUZZLES_AT_0));
        let v = check(&text, &nonces).unwrap();
        assert_eq!(v.id, "5a".repeat(16));
        assert_eq!((v.expires_at, v.difficulty), (NOW + 120, 0));
    }

    const SUB_PUZZLES_AT_0: u8 = crate::difficulty::SUB_PUZZLES;

    #[test]
    fn the_payload_tells_the_page_what_to_solve() {
        let text = issue(&spec(4), &key());
        let b64 = text.strip_prefix("c1.").unwrap().split('.').next().unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(b64).unwrap()).unwrap();
        assert_eq!(json["n"], 16);
        assert_eq!(json["bits"], 14);
        assert_eq!(json["d"], 4);
        assert_eq!(json["room"], "tour-2027");
        assert_eq!(json["vid"], "03".repeat(16));
    }

    #[test]
    fn each_check_refuses_in_order() {
        let (text, nonces) = solved();
        let v = VisitorId([3; 16]);
        let k = key();
        assert_eq!(
            verify(&text, &nonces, "tour-2027", v, NOW + 120, &k),
            Err(ChallengeError::Expired)
        );
        assert_eq!(
            verify(&text, &nonces, "other", v, NOW, &k),
            Err(ChallengeError::WrongRoom)
        );
        assert_eq!(
            verify(&text, &nonces, "tour-2027", VisitorId([4; 16]), NOW, &k),
            Err(ChallengeError::WrongVisitor)
        );
        let other_key = ChallengeKey::derive(b"another secret of at least 32 bytes!");
        assert_eq!(
            verify(&text, &nonces, "tour-2027", v, NOW, &other_key),
            Err(ChallengeError::BadMac)
        );
        assert_eq!(
            check(&text, &nonces[1..]),
            Err(ChallengeError::WrongSolution)
        );
        let mut wrong = nonces.clone();
        wrong.swap(0, 1);
        assert_eq!(
            check(&text, &wrong),
            Err(ChallengeError::WrongSolution),
            "nonces are per sub-puzzle"
        );
        assert_eq!(check(&text, &vec![0; 65]), Err(ChallengeError::TooLarge));
        assert_eq!(
            check(&"c".repeat(513), &nonces),
            Err(ChallengeError::TooLarge)
        );
        for bad in ["", "c1.", "c1..", "x1.abc.def", "c1.abc", "c1.a.b.c"] {
            assert!(
                matches!(
                    check(bad, &nonces),
                    Err(ChallengeError::Malformed | ChallengeError::BadMac)
                ),
                "{bad:?}"
            );
        }
        // Expired beats the wrong room: the order is the documented one.
        assert_eq!(
            verify(&text, &nonces, "other", v, NOW + 500, &k),
            Err(ChallengeError::Expired)
        );
    }

    #[test]
    fn the_challenge_key_is_not_the_signing_secret() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let text = issue(&spec(0), &key());
        let (signed, mac) = text.rsplit_once('.').unwrap();
        let raw = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, secret),
            signed.as_bytes(),
        );
        assert_ne!(URL_SAFE_NO_PAD.encode(raw.as_ref()), mac);
        assert_eq!(format!("{:?}", key()), "ChallengeKey(<hidden>)");
    }

    #[test]
    fn nonces_text() {
        assert_eq!(parse_nonces("1,22,333").unwrap(), vec![1, 22, 333]);
        assert_eq!(parse_nonces("0").unwrap(), vec![0]);
        for bad in ["", "1,,2", "-1", "1.5", "a", " 1", "18446744073709551616"] {
            assert_eq!(parse_nonces(bad), Err(ChallengeError::Malformed), "{bad:?}");
        }
        assert_eq!(
            parse_nonces(&vec!["1"; 65].join(",")),
            Err(ChallengeError::TooLarge)
        );
        assert_eq!(
            parse_nonces(&"1".repeat(2000)),
            Err(ChallengeError::TooLarge)
        );
    }

    #[test]
    fn leading_zero_bits_counts_across_bytes() {
        assert_eq!(leading_zero_bits(&[0, 0, 0x80]), 16);
        assert_eq!(leading_zero_bits(&[0, 0x01]), 15);
        assert_eq!(leading_zero_bits(&[0xff]), 0);
        assert_eq!(leading_zero_bits(&[0, 0]), 16);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn solver_solutions_verify(id in any::<[u8; 16]>(), vid in any::<[u8; 16]>(), room in "[a-z0-9_-]{1,64}") {
            let s = ChallengeSpec { id, room: room.clone(), visitor: VisitorId(vid), difficulty: 0, expires_at: NOW + 60 };
            let text = issue(&s, &key());
            let nonces = solve(&text).unwrap();
            let v = verify(&text, &nonces, &room, VisitorId(vid), NOW, &key()).unwrap();
            prop_assert_eq!(v.id, hex(&id));
        }

        #[test]
        fn a_mutated_challenge_is_never_accepted(at in any::<prop::sample::Index>(), c in any::<u8>()) {
            let (text, nonces) = solved();
            let mut bytes = text.into_bytes();
            let i = at.index(bytes.len());
            prop_assume!(bytes[i] != c);
            bytes[i] = c;
            let mutated = String::from_utf8_lossy(&bytes).into_owned();
            prop_assert!(check(&mutated, &nonces).is_err());
        }

        #[test]
        fn a_mutated_solution_is_accepted_only_if_it_really_solves(at in any::<prop::sample::Index>(), nonce in any::<u64>()) {
            let (text, mut nonces) = solved();
            let i = at.index(nonces.len());
            prop_assume!(nonces[i] != nonce);
            nonces[i] = nonce;
            let really = puzzle_solved(&[0x5a; 16], i as u8, nonce, Work::of(0).bits);
            prop_assert_eq!(check(&text, &nonces).is_ok(), really);
        }

        #[test]
        fn arbitrary_text_never_verifies(text in ".{0,600}", nonces in prop::collection::vec(any::<u64>(), 0..70)) {
            prop_assert!(check(&text, &nonces).is_err());
        }
    }
}
