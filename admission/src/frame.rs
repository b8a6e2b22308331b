//! The frame of the keyring's four-part tokens, `<version>.<kid>.<payload>.<mac>`: passes
//! (`v1`) and waitlist offer tokens (`o1`).
//!
//! ```text
//! payload = base64url-no-pad(JSON)
//! mac     = base64url-no-pad( HMAC-SHA256(secret[kid], ASCII bytes of "<version>.<kid>.<payload>") )
//! ```
//!
//! The version is inside the MAC input, so a token of one kind never verifies as another
//! (and visitor ids, MACed over `vid1.<hex>`, have one dot where these have two).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::hmac;
use serde::de::DeserializeOwned;
use thiserror::Error;

use crate::error::PassRejection;
use crate::keyring::{valid_kid, KeyEntry, Keyring};
use crate::visitor::hex_digit;

/// 32 bytes of HMAC-SHA256 in base64url without padding.
pub(crate) const MAC_B64_LEN: usize = 43;

/// Why a frame was refused, before its payload is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// Too long, non-ASCII, not four parts, another version, a bad kid or mac encoding.
    Malformed,
    /// A well-formed kid the keyring does not hold.
    UnknownKey,
    /// The MAC does not match (checked in constant time by `ring::hmac::verify`).
    BadSignature,
}

impl From<FrameError> for PassRejection {
    fn from(error: FrameError) -> PassRejection {
        match error {
            FrameError::Malformed => PassRejection::Malformed,
            FrameError::UnknownKey => PassRejection::UnknownKey,
            FrameError::BadSignature => PassRejection::BadSignature,
        }
    }
}

/// Why a signed token other than a pass (an offer token, a waitlist token) was refused.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    #[error("not a token of this kind")]
    Malformed,
    #[error("signed by a key this service does not hold")]
    UnknownKey,
    #[error("forged or altered")]
    BadSignature,
    #[error("expired")]
    Expired,
}

impl From<FrameError> for TokenError {
    fn from(error: FrameError) -> TokenError {
        match error {
            FrameError::Malformed => TokenError::Malformed,
            FrameError::UnknownKey => TokenError::UnknownKey,
            FrameError::BadSignature => TokenError::BadSignature,
        }
    }
}

/// The JSON payload of a genuine `version` token, read as `T` (whose serde attributes
/// decide what else is refused): the frame's checks, then base64url and JSON (`Malformed`).
pub(crate) fn open_json<T: DeserializeOwned>(
    ring: &Keyring,
    version: &str,
    token: &str,
    max_len: usize,
) -> Result<T, TokenError> {
    let payload_b64 = open(ring, version, token, max_len)?;
    let json = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)
}

/// `<version>.<kid>.<payload>.<mac>` signed by `entry`.
pub(crate) fn seal(entry: &KeyEntry, version: &str, payload: &[u8]) -> String {
    let mut token = String::with_capacity(
        version.len() + entry.kid.len() + payload.len().div_ceil(3) * 4 + MAC_B64_LEN + 3,
    );
    token.push_str(version);
    token.push('.');
    token.push_str(&entry.kid);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut token);
    let tag = hmac::sign(&entry.key, token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(tag.as_ref(), &mut token);
    token
}

/// The base64url payload of a genuine `version` token of at most `max_len` bytes. Order,
/// first failure wins: length, ASCII, four parts, version, kid syntax (`Malformed`); kid in
/// the keyring (`UnknownKey`); mac encoding (`Malformed`); the MAC (`BadSignature`).
pub(crate) fn open<'t>(
    ring: &Keyring,
    version: &str,
    token: &'t str,
    max_len: usize,
) -> Result<&'t str, FrameError> {
    use FrameError::*;
    if token.len() > max_len || !token.is_ascii() {
        return Err(Malformed);
    }
    let mut parts = token.split('.');
    let (given_version, kid, payload_b64, mac_b64) =
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(v), Some(k), Some(p), Some(m)) => (v, k, p, m),
            _ => return Err(Malformed),
        };
    if parts.next().is_some() || given_version != version || !valid_kid(kid) {
        return Err(Malformed);
    }
    let key = ring.key(kid).ok_or(UnknownKey)?;
    if mac_b64.len() != MAC_B64_LEN {
        return Err(Malformed);
    }
    let mut mac = [0u8; 36];
    match URL_SAFE_NO_PAD.decode_slice(mac_b64, &mut mac) {
        Ok(32) => {}
        _ => return Err(Malformed),
    }
    // "<version>." + kid + "." + payload: the token up to (not including) the last dot.
    let signed = token
        .len()
        .checked_sub(MAC_B64_LEN + 1)
        .and_then(|end| token.get(..end))
        .ok_or(Malformed)?;
    let mac = mac.get(..32).ok_or(Malformed)?;
    hmac::verify(key, signed.as_bytes(), mac).map_err(|_| BadSignature)?;
    Ok(payload_b64)
}

/// Appends `s` as a JSON string: `"` and `\` are backslash-escaped, U+0000..U+001F become
/// `\u00xx` (lowercase hex), everything else is copied as UTF-8. Issuers write payloads
/// with it, so a payload has one spelling (docs/pass.md).
pub(crate) fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let byte = c as u8;
                out.push_str("\\u00");
                out.push(char::from(hex_digit(byte >> 4)));
                out.push(char::from(hex_digit(byte & 0x0f)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Keyring {
        Keyring::new(
            "k1",
            vec![
                (
                    "k1".into(),
                    b"frame-unit-test-secret-k1-0123456789".to_vec(),
                ),
                (
                    "k2".into(),
                    b"frame-unit-test-secret-k2-0123456789".to_vec(),
                ),
            ],
        )
        .expect("valid keyring")
    }

    #[test]
    fn a_sealed_payload_opens_only_under_its_own_version() {
        let ring = ring();
        let token = seal(ring.signing_entry(), "o1", b"{\"a\":1}");
        let payload = open(&ring, "o1", &token, 1024).expect("genuine");
        assert_eq!(URL_SAFE_NO_PAD.decode(payload).expect("b64"), b"{\"a\":1}");
        assert_eq!(open(&ring, "v1", &token, 1024), Err(FrameError::Malformed));
        // The same payload and MAC under another version label: the MAC covers the label.
        let relabelled = token.replacen("o1.", "v1.", 1);
        assert_eq!(
            open(&ring, "v1", &relabelled, 1024),
            Err(FrameError::BadSignature)
        );
        assert_eq!(
            open(&ring, "o1", &token, token.len() - 1),
            Err(FrameError::Malformed)
        );
    }

    #[test]
    fn unknown_kids_and_bad_macs_are_told_apart() {
        let ring = ring();
        let token = seal(ring.signing_entry(), "o1", b"{}");
        assert_eq!(
            open(&ring, "o1", &token.replacen(".k1.", ".k9.", 1), 1024),
            Err(FrameError::UnknownKey)
        );
        assert_eq!(
            open(&ring, "o1", &token.replacen(".k1.", ".k2.", 1), 1024),
            Err(FrameError::BadSignature)
        );
        let mut last = token.clone();
        let end = last.pop().expect("non-empty");
        last.push(if end == 'A' { 'B' } else { 'A' });
        assert!(open(&ring, "o1", &last, 1024).is_err());
        for bad in [
            "",
            "o1",
            "o1.k1.e30",
            "o1.k1.e30.x.y",
            "o1.k 1.e30.mac",
            "o1.k1.e30.short",
        ] {
            assert_eq!(
                open(&ring, "o1", bad, 1024),
                Err(FrameError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn json_strings_are_escaped_one_way() {
        let mut out = String::new();
        push_json_string(&mut out, "a\"b\\c\u{1}é");
        assert_eq!(out, "\"a\\\"b\\\\c\\u0001é\"");
    }
}
