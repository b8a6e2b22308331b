//! The waitlist token: `w1.<kid>.<payload>.<mac>`, the pass's frame (`frame.rs`) with its
//! own version label, signed by the same keyring.
//!
//! ```text
//! payload = base64url-no-pad( {"room":"<room>","vis":"<32 lowercase hex>","exp":<u64 unix seconds>} )
//! ```
//!
//! The gateway hands one to a visitor of a sold-out room (in the status object's
//! `waitlist.token`): it lets a fan who waited in the line and never got a pass join the
//! event's waitlist at the booking service, and follow, leave or accept that entry — bound
//! to the room and the visitor, and short-lived. It is no pass: it never verifies as one
//! (the label is inside the MAC), and the booking service takes it for nothing but the
//! waitlist. Specified in `docs/pass.md` with test vectors
//! (`admission/testdata/waitlist-token-vectors.json`).

use serde::Deserialize;

use crate::frame::{self, push_json_string, TokenError};
use crate::keyring::Keyring;
use crate::visitor::VisitorId;

/// The version label of waitlist tokens (passes are `v1`, offer tokens `o1`).
const VERSION: &str = "w1";
/// Longest token considered; longer ones are `Malformed` without further work.
pub const MAX_WAITLIST_TOKEN_LEN: usize = 1024;
/// How long the gateway's waitlist tokens last (seconds): a fresh one comes with every
/// status of a sold-out room.
pub const WAITLIST_TOKEN_SECONDS: u64 = 900;

/// What a waitlist token says: this visitor of this room may use the waitlist until
/// `expires_at` (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitlistClaims {
    pub room: String,
    pub visitor: VisitorId,
    pub expires_at: u64,
}

/// Why a waitlist token was refused.
pub type WaitlistTokenError = TokenError;

/// The payload as read back (any key order; unknown keys refused: nothing else is signed).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClaims {
    room: String,
    vis: String,
    exp: u64,
}

fn payload_json(claims: &WaitlistClaims) -> String {
    let mut json = String::with_capacity(80 + claims.room.len());
    json.push_str("{\"room\":");
    push_json_string(&mut json, &claims.room);
    json.push_str(",\"vis\":\"");
    json.push_str(&claims.visitor.to_hex());
    json.push_str("\",\"exp\":");
    json.push_str(&claims.expires_at.to_string());
    json.push('}');
    json
}

impl Keyring {
    /// Signs `claims` with the signing key (deterministic for the same claims and key).
    pub fn issue_waitlist_token(&self, claims: &WaitlistClaims) -> String {
        frame::seal(
            self.signing_entry(),
            VERSION,
            payload_json(claims).as_bytes(),
        )
    }

    /// The claims of a genuine, unexpired waitlist token (`now` in unix seconds): the
    /// frame's checks (MAC in constant time, any listed key), then the payload
    /// (`Malformed`), then `now < exp` (`Expired`). The caller checks the room.
    pub fn verify_waitlist_token(
        &self,
        token: &str,
        now: u64,
    ) -> Result<WaitlistClaims, WaitlistTokenError> {
        let raw: RawClaims = frame::open_json(self, VERSION, token, MAX_WAITLIST_TOKEN_LEN)?;
        let claims = WaitlistClaims {
            visitor: VisitorId::from_hex(&raw.vis).ok_or(WaitlistTokenError::Malformed)?,
            room: raw.room,
            expires_at: raw.exp,
        };
        if now >= claims.expires_at {
            return Err(WaitlistTokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OfferClaims, PassClaims};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    const S1: &[u8] = b"waitlist-token-test-secret-k1-0123456789";
    const S2: &[u8] = b"waitlist-token-test-secret-k2-0123456789";

    fn ring(signing: &str) -> Keyring {
        Keyring::new(
            signing,
            vec![("k1".into(), S1.to_vec()), ("k2".into(), S2.to_vec())],
        )
        .expect("valid keyring")
    }

    fn claims() -> WaitlistClaims {
        WaitlistClaims {
            room: "tour \"2027\"".into(),
            visitor: VisitorId([0xcd; 16]),
            expires_at: 1_000,
        }
    }

    #[test]
    fn round_trip_until_expiry_and_through_a_rotation() {
        let old = ring("k1");
        let token = old.issue_waitlist_token(&claims());
        assert!(token.starts_with("w1.k1."));
        assert_eq!(old.issue_waitlist_token(&claims()), token, "deterministic");
        assert_eq!(old.verify_waitlist_token(&token, 999), Ok(claims()));
        assert_eq!(
            old.verify_waitlist_token(&token, 1_000),
            Err(WaitlistTokenError::Expired)
        );
        assert_eq!(ring("k2").verify_waitlist_token(&token, 0), Ok(claims()));
        let only_k2 = Keyring::new("k2", vec![("k2".into(), S2.to_vec())]).expect("valid");
        assert_eq!(
            only_k2.verify_waitlist_token(&token, 0),
            Err(WaitlistTokenError::UnknownKey)
        );
    }

    #[test]
    fn altered_or_forged_tokens_are_refused() {
        let ring = ring("k1");
        let token = ring.issue_waitlist_token(&claims());
        for index in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[index] = if bytes[index] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).expect("ascii");
            assert!(ring.verify_waitlist_token(&altered, 0).is_err(), "{index}");
        }
        let mut later = claims();
        later.expires_at = u64::MAX;
        let mac = token.rsplit('.').next().expect("mac");
        let forged = format!(
            "w1.k1.{}.{mac}",
            URL_SAFE_NO_PAD.encode(payload_json(&later))
        );
        assert_eq!(
            ring.verify_waitlist_token(&forged, 0),
            Err(WaitlistTokenError::BadSignature)
        );
        for json in [
            "{}",
            "{\"room\":\"r\",\"vis\":\"AB\",\"exp\":1}",
            "{\"room\":\"r\",\"vis\":\"abababababababababababababababab\",\"exp\":1,\"iat\":0}",
        ] {
            let sealed = frame::seal(ring.signing_entry(), VERSION, json.as_bytes());
            assert_eq!(
                ring.verify_waitlist_token(&sealed, 0),
                Err(WaitlistTokenError::Malformed),
                "{json}"
            );
        }
    }

    #[test]
    fn neither_a_pass_nor_an_offer_token_and_the_reverse() {
        let ring = ring("k1");
        let pass = ring.issue_pass(&PassClaims {
            room: "tour".into(),
            visitor: VisitorId([1; 16]),
            issued_at: 0,
            expires_at: u64::MAX,
        });
        assert_eq!(
            ring.verify_waitlist_token(&pass, 0),
            Err(WaitlistTokenError::Malformed)
        );
        assert_eq!(
            ring.verify_waitlist_token(&pass.replacen("v1.", "w1.", 1), 0),
            Err(WaitlistTokenError::BadSignature)
        );
        let token = ring.issue_waitlist_token(&claims());
        assert!(ring.verify_pass_any_room(&token, 0).is_err());
        assert!(ring
            .verify_pass_any_room(&token.replacen("w1.", "v1.", 1), 0)
            .is_err());
        assert!(ring.verify_offer_token(&token, 0).is_err());
        let offer = ring.issue_offer_token(&OfferClaims {
            offer: "o".into(),
            entry: "e".into(),
            event: "v".into(),
            visitor: VisitorId([1; 16]),
            expires_at_ms: u64::MAX,
        });
        assert!(ring.verify_waitlist_token(&offer, 0).is_err());
    }
}
