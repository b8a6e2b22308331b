//! The v1 pass: `v1.<kid>.<payload>.<mac>`.
//!
//! ```text
//! payload = base64url-no-pad( {"room":"<room>","vis":"<32 lowercase hex>","iat":<u64>,"exp":<u64>} )
//! mac     = base64url-no-pad( HMAC-SHA256(secret[kid], ASCII bytes of "v1.<kid>.<payload>") )
//! ```
//!
//! The payload is compact UTF-8 JSON with exactly these keys in this order: `room` (room id),
//! `vis` (visitor id), `iat` (issued at) and `exp` (expires at), both unix seconds. Verifiers
//! check the MAC over the bytes they received and only then parse, so they never re-serialize.
//! Verification order and the reason reported at each step are in [`Keyring::verify_pass`];
//! the full spec with test vectors is `docs/pass.md`.

use std::borrow::Cow;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;

use crate::error::PassRejection;
use crate::frame::{self, push_json_string};
use crate::keyring::Keyring;
use crate::recent_passes;
use crate::visitor::VisitorId;

/// Longest token `verify_pass` considers; longer ones are `Malformed` without further work.
pub const MAX_PASS_LEN: usize = 1024;

const VERSION: &str = "v1";
/// Decoded payload never exceeds 3/4 of MAX_PASS_LEN.
const MAX_PAYLOAD_LEN: usize = MAX_PASS_LEN / 4 * 3;

/// What a pass says. Times are unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassClaims {
    pub room: String,
    pub visitor: VisitorId,
    pub issued_at: u64,
    pub expires_at: u64,
}

impl PassClaims {
    /// Sliding renewal: true once less than half of the session is left, that is when
    /// `2 * (expires_at - now) < session_seconds` (an expired pass always needs renewal when
    /// `session_seconds > 0`).
    pub fn needs_renewal(&self, now: u64, session_seconds: u64) -> bool {
        let left = self.expires_at.saturating_sub(now);
        left.saturating_mul(2) < session_seconds
    }
}

/// The payload as read by serde; strings borrow from the buffer unless they hold escapes.
#[derive(Deserialize)]
struct RawPayload<'a> {
    #[serde(borrow)]
    room: Cow<'a, str>,
    #[serde(borrow)]
    vis: Cow<'a, str>,
    iat: u64,
    exp: u64,
}

/// The payload's fields; `iat <= exp` is checked by the caller.
#[derive(Debug, PartialEq)]
struct Payload<'a> {
    room: Cow<'a, str>,
    visitor: VisitorId,
    iat: u64,
    exp: u64,
}

/// Any JSON object with the four fields (serde_json: any key order, whitespace and escapes,
/// unknown keys ignored, duplicates refused), after a fast path for the canonical form the
/// issuer writes. Both paths agree on every input the fast path accepts (see the tests).
fn parse_payload(json: &[u8]) -> Option<Payload<'_>> {
    if let Some(payload) = parse_canonical(json) {
        return Some(payload);
    }
    let raw: RawPayload<'_> = serde_json::from_slice(json).ok()?;
    Some(Payload {
        visitor: VisitorId::from_hex(&raw.vis)?,
        room: raw.room,
        iat: raw.iat,
        exp: raw.exp,
    })
}

/// `{"room":"<no \, " or control chars>","vis":"<32 lowercase hex>","iat":<n>,"exp":<n>}`
/// exactly, numbers without leading zeros; None for anything else.
fn parse_canonical(json: &[u8]) -> Option<Payload<'_>> {
    let rest = json.strip_prefix(b"{\"room\":\"")?;
    let end = rest
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    let (room, rest) = rest.split_at_checked(end)?;
    let room = std::str::from_utf8(room).ok()?;
    let rest = rest.strip_prefix(b"\"")?.strip_prefix(b",\"vis\":\"")?;
    let (vis, rest) = (rest.get(..32)?, rest.get(32..)?);
    let visitor = VisitorId::from_hex_bytes(vis)?;
    let rest = rest.strip_prefix(b"\",\"iat\":")?;
    let (iat, rest) = parse_u64(rest)?;
    let rest = rest.strip_prefix(b",\"exp\":")?;
    let (exp, rest) = parse_u64(rest)?;
    (rest == b"}").then_some(Payload {
        room: Cow::Borrowed(room),
        visitor,
        iat,
        exp,
    })
}

/// A JSON integer in 0..2^64 at the start of `text`: digits, no sign, no leading zero.
fn parse_u64(text: &[u8]) -> Option<(u64, &[u8])> {
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || (digits > 1 && text.first() == Some(&b'0')) {
        return None;
    }
    let (number, rest) = text.split_at_checked(digits)?;
    let mut value: u64 = 0;
    for &d in number {
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some((value, rest))
}

/// The canonical payload JSON of `claims`.
fn payload_json(claims: &PassClaims) -> String {
    let mut json = String::with_capacity(80 + claims.room.len());
    json.push_str("{\"room\":");
    push_json_string(&mut json, &claims.room);
    json.push_str(",\"vis\":\"");
    json.extend(claims.visitor.hex_bytes().iter().map(|&b| b as char));
    json.push_str("\",\"iat\":");
    json.push_str(&claims.issued_at.to_string());
    json.push_str(",\"exp\":");
    json.push_str(&claims.expires_at.to_string());
    json.push('}');
    json
}

impl Keyring {
    /// Signs `claims` with the signing key: `v1.<kid>.<payload>.<mac>`.
    ///
    /// Room ids are short (config allows `[A-Za-z0-9_-]{1,64}`); a room long enough to push
    /// the token past [`MAX_PASS_LEN`] would produce a pass that never verifies.
    pub fn issue_pass(&self, claims: &PassClaims) -> String {
        frame::seal(
            self.signing_entry(),
            VERSION,
            payload_json(claims).as_bytes(),
        )
    }

    /// Parse, check the MAC in constant time, then room and expiry (`now` in unix seconds).
    ///
    /// Order, first failure wins:
    /// 1. at most [`MAX_PASS_LEN`] bytes, ASCII, exactly four `.`-separated parts, first part
    ///    `v1`, kid of 1-32 `[A-Za-z0-9_-]` — else `Malformed`;
    /// 2. kid in the keyring — else `UnknownKey`;
    /// 3. mac is 43 characters of canonical base64url decoding to 32 bytes — else `Malformed`;
    /// 4. HMAC-SHA256 over `v1.<kid>.<payload>` matches (constant time) — else `BadSignature`;
    /// 5. payload is canonical base64url of a JSON object with string `room`, string `vis`
    ///    (32 lowercase hex), integers `iat <= exp` (0..2^64) — else `Malformed`;
    ///    unknown keys are ignored, duplicate keys are refused;
    /// 6. `room` equals the expected room — else `WrongRoom`;
    /// 7. `now < exp` — else `Expired`.
    pub fn verify_pass(
        &self,
        token: &str,
        room: &str,
        now: u64,
    ) -> Result<PassClaims, PassRejection> {
        self.verify(token, Some(room), now)
    }

    /// Like `verify_pass` for a service that serves several rooms (the booking service, for
    /// an event that names no room): every check but the room's.
    pub fn verify_pass_any_room(&self, token: &str, now: u64) -> Result<PassClaims, PassRejection> {
        self.verify(token, None, now)
    }

    fn verify(
        &self,
        token: &str,
        room: Option<&str>,
        now: u64,
    ) -> Result<PassClaims, PassRejection> {
        use PassRejection::*;
        if let Some(claims) = recent_passes::recall(self.generation(), token) {
            return check_claims(claims, room, now);
        }
        let payload_b64 = frame::open(self, VERSION, token, MAX_PASS_LEN)?;
        let mut buf = [0u8; MAX_PAYLOAD_LEN];
        let n = URL_SAFE_NO_PAD
            .decode_slice(payload_b64, &mut buf)
            .map_err(|_| Malformed)?;
        let raw = buf.get(..n).and_then(parse_payload).ok_or(Malformed)?;
        if raw.iat > raw.exp {
            return Err(Malformed);
        }
        let claims = PassClaims {
            room: raw.room.into_owned(),
            visitor: raw.visitor,
            issued_at: raw.iat,
            expires_at: raw.exp,
        };
        recent_passes::remember(self.generation(), token, &claims);
        check_claims(claims, room, now)
    }
}

/// The checks that depend on the request and the moment, made on every verification (after
/// the MAC, or on a pass this thread already verified): the room, then expiry.
fn check_claims(
    claims: PassClaims,
    room: Option<&str>,
    now: u64,
) -> Result<PassClaims, PassRejection> {
    if room.is_some_and(|room| claims.room != room) {
        return Err(PassRejection::WrongRoom);
    }
    if now >= claims.expires_at {
        return Err(PassRejection::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use ring::hmac;

    use super::*;

    const S1: &[u8] = b"pass-unit-test-secret-k1-0123456789abcdef";

    #[test]
    fn any_room_verification_skips_only_the_room_check() {
        let ring = Keyring::new("k1", vec![("k1".into(), S1.to_vec())]).unwrap();
        let claims = PassClaims {
            room: "tour".into(),
            visitor: crate::VisitorId([7; 16]),
            issued_at: 100,
            expires_at: 200,
        };
        let token = ring.issue_pass(&claims);
        assert_eq!(ring.verify_pass_any_room(&token, 150), Ok(claims));
        assert_eq!(
            ring.verify_pass_any_room(&token, 200),
            Err(PassRejection::Expired)
        );
        let mut tampered = token.clone();
        tampered.replace_range(10..11, if &token[10..11] == "A" { "B" } else { "A" });
        assert!(ring.verify_pass_any_room(&tampered, 150).is_err());
    }
    const S2: &[u8] = b"pass-unit-test-secret-k2-0123456789abcdef";

    #[test]
    fn a_pass_this_thread_verified_before_is_still_checked_for_room_expiry_and_keys() {
        let ring = Keyring::new("k1", vec![("k1".into(), S1.to_vec())]).unwrap();
        let claims = PassClaims {
            room: "tour".into(),
            visitor: crate::VisitorId([9; 16]),
            issued_at: 100,
            expires_at: 200,
        };
        let token = ring.issue_pass(&claims);
        assert_eq!(ring.verify_pass(&token, "tour", 150), Ok(claims.clone()));
        // Remembered now: the same answers as a full verification.
        assert_eq!(ring.verify_pass(&token, "tour", 150), Ok(claims.clone()));
        assert_eq!(
            ring.verify_pass(&token, "other", 150),
            Err(PassRejection::WrongRoom)
        );
        assert_eq!(
            ring.verify_pass(&token, "tour", 200),
            Err(PassRejection::Expired)
        );
        // A keyring without that key (a reload that dropped it) recalls nothing.
        let rotated = Keyring::new("k2", vec![("k2".into(), S2.to_vec())]).unwrap();
        assert_eq!(
            rotated.verify_pass(&token, "tour", 150),
            Err(PassRejection::UnknownKey)
        );
        let same_secret_other_kid = Keyring::new("k1", vec![("k1".into(), S2.to_vec())]).unwrap();
        assert_eq!(
            same_secret_other_kid.verify_pass(&token, "tour", 150),
            Err(PassRejection::BadSignature)
        );
        // A token one byte off a remembered one gets the full check.
        for index in [4, token.len() / 2, token.len() - 1] {
            let mut tampered = token.clone().into_bytes();
            tampered[index] = if tampered[index] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(tampered).unwrap();
            assert!(ring.verify_pass(&tampered, "tour", 150).is_err(), "{index}");
        }
    }

    fn ring(signing: &str) -> Keyring {
        Keyring::new(
            signing,
            vec![("k1".into(), S1.to_vec()), ("k2".into(), S2.to_vec())],
        )
        .expect("valid keyring")
    }

    fn claims() -> PassClaims {
        PassClaims {
            room: "tour-2027".into(),
            visitor: VisitorId([0xab; 16]),
            issued_at: 1_000,
            expires_at: 1_600,
        }
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A correctly signed token over an arbitrary payload, to reach the post-MAC checks.
    fn signed_raw(kid: &str, secret: &[u8], payload: &[u8]) -> String {
        let head = format!("v1.{kid}.{}", b64(payload));
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
        format!("{head}.{}", b64(hmac::sign(&key, head.as_bytes()).as_ref()))
    }

    #[test]
    fn round_trip() {
        let r = ring("k1");
        let token = r.issue_pass(&claims());
        assert!(token.starts_with("v1.k1."));
        assert_eq!(token.split('.').count(), 4);
        assert_eq!(r.verify_pass(&token, "tour-2027", 1_000), Ok(claims()));
        assert_eq!(r.verify_pass(&token, "tour-2027", 1_599), Ok(claims()));
    }

    #[test]
    fn payload_is_the_documented_json() {
        let token = ring("k1").issue_pass(&claims());
        let payload = token.split('.').nth(2).expect("payload part");
        let json = URL_SAFE_NO_PAD.decode(payload).expect("base64url");
        assert_eq!(
            String::from_utf8(json).expect("utf8"),
            format!(
                "{{\"room\":\"tour-2027\",\"vis\":\"{}\",\"iat\":1000,\"exp\":1600}}",
                "ab".repeat(16)
            )
        );
    }

    #[test]
    fn json_escaping_round_trips() {
        let r = ring("k1");
        let mut c = claims();
        c.room = "we\"ird\\room\n\u{1}é😀".into();
        let token = r.issue_pass(&c);
        let json = String::from_utf8(
            URL_SAFE_NO_PAD
                .decode(token.split('.').nth(2).expect("payload"))
                .expect("b64"),
        )
        .expect("utf8");
        assert!(json.starts_with(r#"{"room":"we\"ird\\room\u000a\u0001é😀","vis""#));
        assert_eq!(r.verify_pass(&token, &c.room, 1_000), Ok(c));
    }

    #[test]
    fn expiry_boundary() {
        let r = ring("k1");
        let token = r.issue_pass(&claims());
        assert!(r.verify_pass(&token, "tour-2027", 1_599).is_ok());
        assert_eq!(
            r.verify_pass(&token, "tour-2027", 1_600),
            Err(PassRejection::Expired)
        );
        assert_eq!(
            r.verify_pass(&token, "tour-2027", u64::MAX),
            Err(PassRejection::Expired)
        );
        // before iat is fine (clock skew between instances)
        assert!(r.verify_pass(&token, "tour-2027", 0).is_ok());
    }

    #[test]
    fn wrong_room_is_checked_before_expiry() {
        let r = ring("k1");
        let token = r.issue_pass(&claims());
        assert_eq!(
            r.verify_pass(&token, "tour-2028", 1_000),
            Err(PassRejection::WrongRoom)
        );
        assert_eq!(
            r.verify_pass(&token, "tour-2028", 9_999),
            Err(PassRejection::WrongRoom)
        );
        assert_eq!(
            r.verify_pass(&token, "", 1_000),
            Err(PassRejection::WrongRoom)
        );
        assert_eq!(
            r.verify_pass(&token, "tour-202", 1_000),
            Err(PassRejection::WrongRoom)
        );
    }

    #[test]
    fn rotation_old_key_verifies_new_key_signs() {
        let old = ring("k1").issue_pass(&claims());
        let rotated = ring("k2");
        let new = rotated.issue_pass(&claims());
        assert!(new.starts_with("v1.k2."));
        assert_eq!(rotated.verify_pass(&old, "tour-2027", 1_000), Ok(claims()));
        assert_eq!(rotated.verify_pass(&new, "tour-2027", 1_000), Ok(claims()));
        let retired = Keyring::new("k2", vec![("k2".into(), S2.to_vec())]).expect("valid");
        assert_eq!(
            retired.verify_pass(&old, "tour-2027", 1_000),
            Err(PassRejection::UnknownKey)
        );
        assert!(retired.verify_pass(&new, "tour-2027", 1_000).is_ok());
    }

    #[test]
    fn same_kid_other_secret_is_bad_signature() {
        let token = ring("k1").issue_pass(&claims());
        let other = Keyring::new("k1", vec![("k1".into(), S2.to_vec())]).expect("valid");
        assert_eq!(
            other.verify_pass(&token, "tour-2027", 1_000),
            Err(PassRejection::BadSignature)
        );
    }

    #[test]
    fn tampering_is_detected() {
        let r = ring("k1");
        let token = r.issue_pass(&claims());
        let parts: Vec<&str> = token.split('.').collect();
        // payload for another room / a later expiry, keeping the original MAC
        let mut forged_claims = claims();
        forged_claims.expires_at = 99_999;
        let forged_payload = b64(payload_json(&forged_claims).as_bytes());
        let t = format!("v1.k1.{forged_payload}.{}", parts[3]);
        assert_eq!(
            r.verify_pass(&t, "tour-2027", 1_000),
            Err(PassRejection::BadSignature)
        );
        // one character of the payload changed
        let mut p = parts[2].to_owned().into_bytes();
        p[5] = if p[5] == b'A' { b'B' } else { b'A' };
        let t = format!(
            "v1.k1.{}.{}",
            String::from_utf8(p).expect("ascii"),
            parts[3]
        );
        assert_eq!(
            r.verify_pass(&t, "tour-2027", 1_000),
            Err(PassRejection::BadSignature)
        );
        // one character of the mac changed
        let mut m = parts[3].to_owned().into_bytes();
        m[0] = if m[0] == b'A' { b'B' } else { b'A' };
        let t = format!(
            "v1.k1.{}.{}",
            parts[2],
            String::from_utf8(m).expect("ascii")
        );
        assert_eq!(
            r.verify_pass(&t, "tour-2027", 1_000),
            Err(PassRejection::BadSignature)
        );
        // kid swapped to the other listed key
        let t = format!("v1.k2.{}.{}", parts[2], parts[3]);
        assert_eq!(
            r.verify_pass(&t, "tour-2027", 1_000),
            Err(PassRejection::BadSignature)
        );
        // kid swapped to an unknown key
        let t = format!("v1.k3.{}.{}", parts[2], parts[3]);
        assert_eq!(
            r.verify_pass(&t, "tour-2027", 1_000),
            Err(PassRejection::UnknownKey)
        );
        // all-zero mac
        let t = format!("v1.k1.{}.{}", parts[2], b64(&[0; 32]));
        assert_eq!(
            r.verify_pass(&t, "tour-2027", 1_000),
            Err(PassRejection::BadSignature)
        );
    }

    #[test]
    fn malformed_shapes() {
        let r = ring("k1");
        let token = r.issue_pass(&claims());
        let parts: Vec<&str> = token.split('.').collect();
        let (p, m) = (parts[2], parts[3]);
        let cases = [
            String::new(),
            ".".into(),
            "...".into(),
            "v1".into(),
            format!("v1.k1.{p}"),
            format!("v1.k1.{p}.{m}."),
            format!("v1.k1.{p}.{m}.x"),
            format!("v1.k1.{p}.x.{m}"),
            format!("v2.k1.{p}.{m}"),
            format!("V1.k1.{p}.{m}"),
            format!(".k1.{p}.{m}"),
            format!("v1..{p}.{m}"),
            format!("v1.k!.{p}.{m}"),
            format!("v1.{}.{p}.{m}", "k".repeat(33)),
            format!("v1.k1.{p}.{}", &m[..42]),
            format!("v1.k1.{p}.{m}A"),
            format!("v1.k1.{p}.{}=", &m[..42]),
            format!("v1.k1.{p}.{}+", &m[..42]),
            format!("v1.k1.{p}.{}", "é".repeat(22)),
            format!("v1.k1.{p}é.{m}"),
            format!(" {token}"),
            format!("{token}\n"),
            "v1.k1.".to_owned() + &"A".repeat(2_000) + "." + m,
            "\u{0}".repeat(5),
        ];
        for t in &cases {
            assert_eq!(
                r.verify_pass(t, "tour-2027", 1_000),
                Err(PassRejection::Malformed),
                "{t:?}"
            );
        }
    }

    #[test]
    fn length_bound_is_exact() {
        let r = ring("k1");
        // a room long enough that the token lands just over / at the bound
        let mut c = claims();
        c.room = "r".repeat(700);
        let token = r.issue_pass(&c);
        assert!(token.len() > MAX_PASS_LEN);
        assert_eq!(
            r.verify_pass(&token, &c.room, 1_000),
            Err(PassRejection::Malformed)
        );
        c.room = "r".repeat(700);
        let mut len = r.issue_pass(&c).len();
        while len > MAX_PASS_LEN {
            c.room.pop();
            len = r.issue_pass(&c).len();
        }
        let token = r.issue_pass(&c);
        assert!(token.len() <= MAX_PASS_LEN && token.len() > MAX_PASS_LEN - 4);
        assert_eq!(r.verify_pass(&token, &c.room, 1_000), Ok(c));
    }

    #[test]
    fn signed_but_bad_payloads_are_malformed() {
        let r = ring("k1");
        let vis = "ab".repeat(16);
        let payloads: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"not json".to_vec(),
            b"[]".to_vec(),
            b"{}".to_vec(),
            format!(r#"{{"room":"tour-2027","vis":"{vis}","iat":1}}"#).into_bytes(),
            format!(r#"{{"room":"tour-2027","vis":"{vis}","exp":2}}"#).into_bytes(),
            format!(r#"{{"vis":"{vis}","iat":1,"exp":2000}}"#).into_bytes(),
            br#"{"room":"tour-2027","iat":1,"exp":2000}"#.to_vec(),
            format!(r#"{{"room":"tour-2027","vis":"{vis}","iat":1,"exp":2000}} x"#).into_bytes(),
            format!(r#"{{"room":7,"vis":"{vis}","iat":1,"exp":2000}}"#).into_bytes(),
            format!(r#"{{"room":"tour-2027","vis":"{vis}","iat":"1","exp":2000}}"#).into_bytes(),
            format!(r#"{{"room":"tour-2027","vis":"{vis}","iat":1,"exp":-5}}"#).into_bytes(),
            format!(r#"{{"room":"tour-2027","vis":"{vis}","iat":1,"exp":2000.5}}"#).into_bytes(),
            format!(r#"{{"room":"tour-2027","vis":"{vis}","iat":1,"exp":18446744073709551616}}"#)
                .into_bytes(),
            format!(
                r#"{{"room":"tour-2027","vis":"{}","iat":1,"exp":2000}}"#,
                vis.to_uppercase()
            )
            .into_bytes(),
            br#"{"room":"tour-2027","vis":"abab","iat":1,"exp":2000}"#.to_vec(),
            // iat after exp
            format!(r#"{{"room":"tour-2027","vis":"{vis}","iat":2001,"exp":2000}}"#).into_bytes(),
            // duplicate key
            format!(r#"{{"room":"tour-2027","room":"x","vis":"{vis}","iat":1,"exp":2000}}"#)
                .into_bytes(),
            // invalid UTF-8 inside a string
            b"{\"room\":\"\xff\",\"vis\":\"x\",\"iat\":1,\"exp\":2}".to_vec(),
        ];
        for payload in payloads {
            let t = signed_raw("k1", S1, &payload);
            assert_eq!(
                r.verify_pass(&t, "tour-2027", 1_000),
                Err(PassRejection::Malformed),
                "{}",
                String::from_utf8_lossy(&payload)
            );
        }
        // signed payload with bad base64 padding inside
        let head = "v1.k1.e30=";
        let key = hmac::Key::new(hmac::HMAC_SHA256, S1);
        let t = format!("{head}.{}", b64(hmac::sign(&key, head.as_bytes()).as_ref()));
        assert_eq!(
            r.verify_pass(&t, "tour-2027", 1_000),
            Err(PassRejection::Malformed)
        );
    }

    #[test]
    fn tolerant_json_still_verifies() {
        // whitespace, escapes, unknown keys and another key order are valid JSON: accepted.
        let r = ring("k1");
        let vis = "ab".repeat(16);
        let payload = format!(
            r#" {{ "exp" : 1600, "extra": [1, {{"a": null}}], "vis":"{vis}", "iat":1000, "room":"tour\u002d2027" }} "#
        );
        let t = signed_raw("k1", S1, payload.as_bytes());
        assert_eq!(r.verify_pass(&t, "tour-2027", 1_000), Ok(claims()));
    }

    #[test]
    fn pass_mac_differs_from_visitor_mac_domain() {
        // A visitor MAC (16 bytes, "vid1." domain) can't stand in for a pass MAC.
        let r = ring("k1");
        let signed_vid = r.sign_visitor(VisitorId([0xab; 16]));
        let vid_mac = signed_vid.rsplit('.').next().expect("mac");
        let token = r.issue_pass(&claims());
        let parts: Vec<&str> = token.split('.').collect();
        let t = format!("v1.k1.{}.{vid_mac}", parts[2]);
        assert_eq!(
            r.verify_pass(&t, "tour-2027", 1_000),
            Err(PassRejection::Malformed)
        );
        assert_eq!(
            r.verify_visitor(&format!("{}.k1.{}", "ab".repeat(16), &parts[3][..22])),
            None
        );
    }

    /// The general path alone.
    fn serde_path(json: &[u8]) -> Option<Payload<'_>> {
        let raw: RawPayload<'_> = serde_json::from_slice(json).ok()?;
        Some(Payload {
            visitor: VisitorId::from_hex(&raw.vis)?,
            room: raw.room,
            iat: raw.iat,
            exp: raw.exp,
        })
    }

    #[test]
    fn fast_path_agrees_with_serde_on_issued_payloads() {
        let rooms = [
            "tour-2027",
            "",
            "A_z-9",
            "x y",
            "é😀",
            "we\"ird",
            "back\\slash",
            "ctl\u{1}\n",
            "\u{7f}",
            "a/b",
        ];
        let times = [0, 1, 9, 10, 1_767_225_600, u64::MAX - 1, u64::MAX];
        let mut fast_hits = 0;
        for room in rooms {
            for &iat in &times {
                for &exp in &times {
                    let c = PassClaims {
                        room: room.into(),
                        visitor: VisitorId::random(),
                        issued_at: iat,
                        expires_at: exp,
                    };
                    let json = payload_json(&c);
                    let expected = Payload {
                        room: Cow::Borrowed(room),
                        visitor: c.visitor,
                        iat,
                        exp,
                    };
                    assert_eq!(
                        serde_path(json.as_bytes()).as_ref(),
                        Some(&expected),
                        "{json}"
                    );
                    assert_eq!(
                        parse_payload(json.as_bytes()).as_ref(),
                        Some(&expected),
                        "{json}"
                    );
                    match parse_canonical(json.as_bytes()) {
                        Some(fast) => {
                            fast_hits += 1;
                            assert_eq!(fast, expected, "{json}");
                        }
                        None => assert!(json.contains('\\'), "fast path missed {json}"),
                    }
                }
            }
        }
        assert_eq!(fast_hits, 7 * 7 * 7); // every room without escapes
    }

    #[test]
    fn fast_path_refuses_or_agrees_on_near_canonical_input() {
        let vis = "ab".repeat(16);
        let base = |iat: &str, exp: &str| {
            format!(r#"{{"room":"tour-2027","vis":"{vis}","iat":{iat},"exp":{exp}}}"#)
        };
        let mut cases = vec![
            base("01", "2"),
            base("0", "00"),
            base("1", "18446744073709551616"),
            base("1", "99999999999999999999"),
            base("-1", "2"),
            base("1.0", "2"),
            base("1e3", "2000"),
            base("1", "2 "),
            base(" 1", "2"),
            base("", "2"),
            base("1", "2}"),
            format!(
                r#"{{"room":"tour-2027","vis":"{}","iat":1,"exp":2}}"#,
                &vis[..31]
            ),
            format!(r#"{{"room":"tour-2027","vis":"{vis}0","iat":1,"exp":2}}"#),
            format!(
                r#"{{"room":"tour-2027","vis":"{}","iat":1,"exp":2}}"#,
                vis.to_uppercase()
            ),
            format!(r#"{{"room":"tour-2027","vis":"{vis}","iat":1,"exp":2,"x":3}}"#),
            format!(r#"{{"room":"tour\u002d2027","vis":"{vis}","iat":1,"exp":2}}"#),
            format!(r#"{{"room":"tour-2027","vis":"{vis}","exp":2,"iat":1}}"#),
            format!(r#"{{"room":"tour-2027","room":"x","vis":"{vis}","iat":1,"exp":2}}"#),
            format!(r#"{{"room":"tour-2027""#),
            format!(r#"{{"room":"tour-2027","vis":"#),
            r#"{"room":""#.to_owned(),
        ];
        cases.push(base("1", "2"));
        let mut invalid_utf8 =
            format!(r#"{{"room":"_","vis":"{vis}","iat":1,"exp":2}}"#).into_bytes();
        invalid_utf8[9] = 0xff;
        let mut all: Vec<Vec<u8>> = cases.into_iter().map(String::into_bytes).collect();
        all.push(invalid_utf8);
        for json in &all {
            let slow = serde_path(json);
            assert_eq!(
                parse_payload(json),
                slow,
                "{}",
                String::from_utf8_lossy(json)
            );
            if let Some(fast) = parse_canonical(json) {
                assert_eq!(Some(fast), slow, "{}", String::from_utf8_lossy(json));
            }
        }
        // the canonical one is taken by the fast path, leading zeros and overflow are not
        assert!(parse_canonical(base("1", "2").as_bytes()).is_some());
        assert!(parse_canonical(base("01", "2").as_bytes()).is_none());
        assert!(parse_canonical(base("1", "18446744073709551616").as_bytes()).is_none());
        assert_eq!(
            parse_canonical(base("0", "18446744073709551615").as_bytes()).map(|p| p.exp),
            Some(u64::MAX)
        );
    }

    #[test]
    fn needs_renewal_at_half_session() {
        let c = claims(); // expires at 1600
        let session = 600;
        assert!(!c.needs_renewal(1_000, session)); // 600 left
        assert!(!c.needs_renewal(1_300, session)); // exactly half left: not yet
        assert!(c.needs_renewal(1_301, session)); // 299 left
        assert!(c.needs_renewal(1_600, session)); // expired
        assert!(c.needs_renewal(u64::MAX, session));
        assert!(!c.needs_renewal(0, session));
        // odd session: half of 601 is 300.5, so 300 left needs renewal, 301 does not
        assert!(c.needs_renewal(1_300, 601));
        assert!(!c.needs_renewal(1_299, 601));
        assert!(!c.needs_renewal(1_600, 0));
    }
}
