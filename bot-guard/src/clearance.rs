//! Clearance: what a visitor carries after the guard let it take a place in a room, so the
//! guard is not asked again on every poll. Signed (HMAC-SHA256 with a key derived from the
//! gateway's signing secret, apart from the challenge key), bound to the room and the
//! visitor, expiring. A bot farm that rotates visitor ids gets no clearance for a new id
//! without meeting the guard; a visitor whose clearance expired meets it again.
//!
//! ```text
//! g1.<room>.<visitor: 32 hex>.<expires_at: unix seconds>.<mac: base64url>
//! mac = HMAC-SHA256(key, "g1.<room>.<visitor>.<expires_at>")
//! key = HMAC-SHA256(gateway signing secret, "anteroom clearance key v1")
//! ```
//!
//! Verification order: length (≤ 160 bytes), form, MAC (constant time), expiry, room,
//! visitor.

use anteroom_admission::VisitorId;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;

const PREFIX: &str = "g1.";
const KEY_LABEL: &[u8] = b"anteroom clearance key v1";
/// Longer than any clearance this module writes (room ids are at most 64 bytes).
pub const MAX_CLEARANCE_LEN: usize = 160;

/// The key clearances are signed with.
pub struct ClearanceKey(hmac::Key);

impl ClearanceKey {
    pub fn derive(signing_secret: &[u8]) -> ClearanceKey {
        let outer = hmac::Key::new(hmac::HMAC_SHA256, signing_secret);
        let tag = hmac::sign(&outer, KEY_LABEL);
        ClearanceKey(hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref()))
    }

    /// A clearance for `visitor` in `room` until `expires_at` (unix seconds).
    pub fn issue(&self, room: &str, visitor: VisitorId, expires_at: u64) -> String {
        // One buffer for the text and its MAC: this runs for every visitor the guard lets in.
        let mut text = String::with_capacity(PREFIX.len() + room.len() + 32 + 24 + 44);
        text.push_str(PREFIX);
        text.push_str(room);
        text.push('.');
        anteroom_admission::push_hex(&mut text, &visitor.0);
        text.push('.');
        {
            use std::fmt::Write as _;
            let _ = write!(text, "{expires_at}");
        }
        let mac = hmac::sign(&self.0, text.as_bytes());
        text.push('.');
        URL_SAFE_NO_PAD.encode_string(mac.as_ref(), &mut text);
        text
    }

    /// Whether `text` clears `visitor` in `room` at `now`.
    pub fn verify(&self, text: &str, room: &str, visitor: VisitorId, now: u64) -> bool {
        if text.len() > MAX_CLEARANCE_LEN {
            return false;
        }
        let Some((signed, mac)) = text.rsplit_once('.') else {
            return false;
        };
        let Ok(mac) = URL_SAFE_NO_PAD.decode(mac) else {
            return false;
        };
        if hmac::verify(&self.0, signed.as_bytes(), &mac).is_err() {
            return false;
        }
        let Some(rest) = signed.strip_prefix(PREFIX) else {
            return false;
        };
        let mut fields = rest.rsplitn(3, '.');
        let (Some(expires_at), Some(vid), Some(cleared_room)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return false;
        };
        let Ok(expires_at) = expires_at.parse::<u64>() else {
            return false;
        };
        now < expires_at && cleared_room == room && vid == visitor.to_hex()
    }
}

impl std::fmt::Debug for ClearanceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClearanceKey(<hidden>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_clearance_clears_its_visitor_in_its_room_until_it_expires() {
        let key = ClearanceKey::derive(SECRET);
        let visitor = VisitorId([7; 16]);
        let text = key.issue("tour", visitor, 1_000);
        assert!(key.verify(&text, "tour", visitor, 999));
        assert!(!key.verify(&text, "tour", visitor, 1_000));
        assert!(!key.verify(&text, "other", visitor, 999));
        assert!(!key.verify(&text, "tour", VisitorId([8; 16]), 999));
        assert!(
            !ClearanceKey::derive(b"another secret of at least 32 bytes!")
                .verify(&text, "tour", visitor, 999)
        );
    }

    #[test]
    fn the_text_is_the_documented_form() {
        let key = ClearanceKey::derive(SECRET);
        let visitor = VisitorId([7; 16]);
        let text = key.issue("tour", visitor, 1_000);
        let signed = format!("g1.tour.{}.1000", "07".repeat(16));
        let mac = hmac::sign(&key.0, signed.as_bytes());
        assert_eq!(
            text,
            format!("{signed}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()))
        );
    }

    #[test]
    fn every_changed_byte_is_refused() {
        let key = ClearanceKey::derive(SECRET);
        let visitor = VisitorId([7; 16]);
        let text = key.issue("tour.x", visitor, 5_000);
        assert!(key.verify(&text, "tour.x", visitor, 1));
        for index in 0..text.len() {
            let mut bytes = text.clone().into_bytes();
            bytes[index] = if bytes[index] == b'A' { b'B' } else { b'A' };
            let Ok(mutated) = String::from_utf8(bytes) else {
                continue;
            };
            assert!(!key.verify(&mutated, "tour.x", visitor, 1), "{mutated}");
        }
        assert!(!key.verify(&"x".repeat(MAX_CLEARANCE_LEN + 1), "tour.x", visitor, 1));
    }
}
