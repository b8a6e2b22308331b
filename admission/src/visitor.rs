//! Visitor ids and their signed text form.
//!
//! A visitor id is 16 random bytes; its text is 32 lowercase hex digits (the only accepted
//! spelling, so an id has exactly one text form). The signed form, carried in the
//! `anteroom_vid` cookie or the `X-Anteroom-Visitor` header, is
//!
//! ```text
//! <32 lowercase hex>.<kid>.<mac>
//! mac = base64url-no-pad( HMAC-SHA256(secret[kid], "vid1." + hex)[0..16] )   (22 characters)
//! ```
//!
//! The MAC input starts with `vid1.` while every pass MAC input starts with `v1.`, so no MAC
//! of one kind is ever a valid MAC of the other (and the lengths differ too: 16 vs 32 bytes).

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use ring::hmac;

use crate::compare::constant_time_eq;
use crate::keyring::{valid_kid, Keyring, MAX_KID_LEN};

/// Domain-separation prefix of the visitor MAC input.
const VISITOR_MAC_DOMAIN: &[u8] = b"vid1.";
/// The visitor MAC is HMAC-SHA256 truncated to its first 16 bytes.
const VISITOR_MAC_LEN: usize = 16;
/// 16 bytes in base64url without padding.
const VISITOR_MAC_B64_LEN: usize = 22;
/// Longest signed visitor id: hex, dot, longest kid, dot, mac.
pub const MAX_SIGNED_VISITOR_LEN: usize = 32 + 1 + MAX_KID_LEN + 1 + VISITOR_MAC_B64_LEN;

/// The lowercase hex digit of a nibble (`n < 16`).
pub(crate) use crate::hex::hex_digit;

/// The value of a lowercase hex digit, or 0x80 for any other byte. A table lookup: no
/// branch on the (secret-derived) input.
fn hex_value(byte: u8) -> u8 {
    HEX_VALUE.get(usize::from(byte)).copied().unwrap_or(0x80)
}

/// Random 128-bit visitor id. Text form: 32 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VisitorId(pub [u8; 16]);

impl VisitorId {
    /// 16 bytes from a CSPRNG (the thread-local ChaCha generator, seeded from the OS).
    pub fn random() -> VisitorId {
        let mut bytes = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut bytes);
        VisitorId(bytes)
    }

    /// Exactly 32 lowercase hex digits; anything else (uppercase, spaces, other lengths) is None.
    pub fn from_hex(text: &str) -> Option<VisitorId> {
        VisitorId::from_hex_bytes(text.as_bytes())
    }

    /// [`VisitorId::from_hex`] on bytes. Table lookup, no early exit.
    pub(crate) fn from_hex_bytes(text: &[u8]) -> Option<VisitorId> {
        if text.len() != 32 {
            return None;
        }
        let mut bytes = [0u8; 16];
        let mut invalid = 0u8;
        for (out, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
            let &[hi, lo] = pair else {
                return None;
            };
            let (hi, lo) = (hex_value(hi), hex_value(lo));
            invalid |= (hi | lo) & 0x80;
            *out = (hi << 4) | (lo & 0x0f);
        }
        (invalid == 0).then_some(VisitorId(bytes))
    }

    pub fn to_hex(&self) -> String {
        let hex = self.hex_bytes();
        hex.iter().map(|&b| b as char).collect()
    }

    /// The 32 ASCII hex digits, without allocating.
    pub(crate) fn hex_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (pair, byte) in out.chunks_exact_mut(2).zip(self.0) {
            if let [hi, lo] = pair {
                *hi = hex_digit(byte >> 4);
                *lo = hex_digit(byte & 0x0f);
            }
        }
        out
    }
}

/// Value of each lowercase hex digit; 0x80 marks every other byte.
// Built at compile time: an index out of range would fail the build, never a request.
#[allow(clippy::indexing_slicing)]
const HEX_VALUE: [u8; 256] = {
    let mut table = [0x80u8; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

impl fmt::Display for VisitorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.hex_bytes();
        f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
    }
}

impl FromStr for VisitorId {
    type Err = ();
    /// Same rule as [`VisitorId::from_hex`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VisitorId::from_hex(s).ok_or(())
    }
}

/// The first [`VISITOR_MAC_LEN`] bytes of an HMAC-SHA256 tag.
fn truncated_mac(tag: &hmac::Tag) -> [u8; VISITOR_MAC_LEN] {
    let mut out = [0u8; VISITOR_MAC_LEN];
    for (o, t) in out.iter_mut().zip(tag.as_ref()) {
        *o = *t;
    }
    out
}

fn visitor_mac(key: &hmac::Key, hex: &[u8]) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(VISITOR_MAC_DOMAIN);
    ctx.update(hex);
    ctx.sign()
}

impl Keyring {
    /// The `anteroom_vid` cookie value / `X-Anteroom-Visitor` header:
    /// `<hex>.<signing kid>.<base64url(HMAC-SHA256(key, "vid1." + hex)[..16])>`.
    pub fn sign_visitor(&self, visitor: VisitorId) -> String {
        let entry = self.signing_entry();
        let hex = visitor.hex_bytes();
        let tag = visitor_mac(&entry.key, &hex);
        let mut out = String::with_capacity(32 + 1 + entry.kid.len() + 1 + VISITOR_MAC_B64_LEN);
        out.extend(hex.iter().map(|&b| b as char));
        out.push('.');
        out.push_str(&entry.kid);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(truncated_mac(&tag), &mut out);
        out
    }

    /// The visitor id of a genuine signed id (any listed kid); None for anything forged,
    /// tampered, signed by an unknown key or malformed. The MAC compare is constant-time.
    pub fn verify_visitor(&self, signed: &str) -> Option<VisitorId> {
        if signed.len() > MAX_SIGNED_VISITOR_LEN {
            return None;
        }
        let mut parts = signed.split('.');
        let (hex, kid, mac_b64) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || !valid_kid(kid) || mac_b64.len() != VISITOR_MAC_B64_LEN {
            return None;
        }
        let visitor = VisitorId::from_hex(hex)?;
        let key = self.key(kid)?;
        let mut given = [0u8; 24];
        let n = URL_SAFE_NO_PAD.decode_slice(mac_b64, &mut given).ok()?;
        if n != VISITOR_MAC_LEN {
            return None;
        }
        let tag = visitor_mac(key, hex.as_bytes());
        constant_time_eq(given.get(..n)?, &truncated_mac(&tag)).then_some(visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring_with(signing: &str) -> Keyring {
        Keyring::new(
            signing,
            vec![
                (
                    "k1".into(),
                    b"visitor-test-secret-k1-0123456789abcdef".to_vec(),
                ),
                (
                    "k2".into(),
                    b"visitor-test-secret-k2-0123456789abcdef".to_vec(),
                ),
            ],
        )
        .expect("valid keyring")
    }

    #[test]
    fn hex_round_trip_and_strictness() {
        let id = VisitorId([
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff,
        ]);
        assert_eq!(id.to_hex(), "00112233445566778899aabbccddeeff");
        assert_eq!(id.to_string(), id.to_hex());
        assert_eq!(VisitorId::from_hex(&id.to_hex()), Some(id));
        assert_eq!("00112233445566778899aabbccddeeff".parse(), Ok(id));
        for bad in [
            "00112233445566778899AABBCCDDEEFF",
            "00112233445566778899aabbccddeef",
            "00112233445566778899aabbccddeeff0",
            "00112233445566778899aabbccddeefg",
            " 0112233445566778899aabbccddeeff",
            "+0112233445566778899aabbccddeeff",
            "",
            "ééééééééééééééää",
        ] {
            assert_eq!(VisitorId::from_hex(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn random_ids_differ() {
        let a = VisitorId::random();
        let b = VisitorId::random();
        assert_ne!(a, b);
        assert_eq!(a.to_hex().len(), 32);
    }

    #[test]
    fn sign_verify_round_trip_and_shape() {
        let ring = ring_with("k1");
        let id = VisitorId::random();
        let signed = ring.sign_visitor(id);
        assert_eq!(signed.len(), 32 + 1 + 2 + 1 + 22);
        assert!(signed.starts_with(&format!("{}.k1.", id.to_hex())));
        assert_eq!(ring.verify_visitor(&signed), Some(id));
    }

    #[test]
    fn rotation_old_kid_still_verifies() {
        let id = VisitorId::random();
        let old = ring_with("k1").sign_visitor(id);
        let new_ring = ring_with("k2");
        assert!(new_ring.sign_visitor(id).contains(".k2."));
        assert_eq!(new_ring.verify_visitor(&old), Some(id));
        let only_k2 = Keyring::new(
            "k2",
            vec![(
                "k2".into(),
                b"visitor-test-secret-k2-0123456789abcdef".to_vec(),
            )],
        )
        .expect("valid");
        assert_eq!(only_k2.verify_visitor(&old), None);
    }

    #[test]
    fn forgeries_are_refused() {
        let ring = ring_with("k1");
        let id = VisitorId([0xa7; 16]);
        let signed = ring.sign_visitor(id);
        let (hex, rest) = signed.split_at(32);
        let mac = &signed[signed.len() - 22..];
        let other = VisitorId([8; 16]).to_hex();
        let mut flipped_mac = mac.to_owned().into_bytes();
        flipped_mac[0] = if flipped_mac[0] == b'A' { b'B' } else { b'A' };
        let flipped_mac = String::from_utf8(flipped_mac).expect("ascii");
        let forged = [
            // someone else's id with my MAC
            format!("{other}{rest}"),
            // MAC moved to the other kid
            format!("{hex}.k2.{mac}"),
            format!("{hex}.k1.{flipped_mac}"),
            format!("{hex}.k9.{mac}"),
            format!("{hex}.k1.{}", &mac[..21]),
            format!("{hex}.k1.{mac}A"),
            format!("{hex}.k1.{mac}.x"),
            format!("{}.k1.{mac}", hex.to_uppercase()),
            format!("{hex}..{mac}"),
            format!("{hex}.k1."),
            format!("{hex}.k1"),
            hex.to_owned(),
            String::new(),
            format!(" {signed}"),
            "x".repeat(10_000),
            // a full 32-byte MAC is not accepted in place of the 16-byte one
            format!("{hex}.k1.{}", "A".repeat(43)),
        ];
        for f in forged {
            assert_eq!(ring.verify_visitor(&f), None, "{f:?}");
        }
        assert_eq!(ring.verify_visitor(&signed), Some(id));
    }

    #[test]
    fn non_canonical_base64_mac_is_refused() {
        // The 22nd character of a 16-byte base64 value carries 2 bits; the other 4 must be 0.
        let ring = ring_with("k1");
        let signed = ring.sign_visitor(VisitorId([3; 16]));
        let mut bytes = signed.clone().into_bytes();
        let last = bytes.len() - 1;
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let pos = alphabet
            .iter()
            .position(|&c| c == bytes[last])
            .expect("base64url char");
        bytes[last] = alphabet[pos | 1];
        let altered = String::from_utf8(bytes).expect("ascii");
        assert_ne!(altered, signed);
        assert_eq!(ring.verify_visitor(&altered), None);
    }
}
