//! The waitlist offer token: `o1.<kid>.<payload>.<mac>`, the pass's frame (`frame.rs`) with
//! its own version label, signed by the same keyring.
//!
//! ```text
//! payload = base64url-no-pad( {"offer":"<id>","entry":"<id>","event":"<id>","vis":"<32 lowercase hex>","exp_ms":<u64>} )
//! ```
//!
//! It binds one offer to its entry, event, fan and deadline, so the booking service can
//! refuse a forged, altered, expired or someone else's token before it asks the database;
//! whoever receives the webhook can hand it to the fan. Specified in `docs/booking.md`.

use serde::Deserialize;

use crate::frame::{self, push_json_string, TokenError};
use crate::keyring::Keyring;
use crate::visitor::VisitorId;

/// The version label of offer tokens (passes are `v1`).
const VERSION: &str = "o1";
/// Longest token considered; longer ones are `Malformed` without further work.
pub const MAX_OFFER_TOKEN_LEN: usize = 1024;

/// What an offer token says. `expires_at_ms` is unix milliseconds (the offer's deadline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferClaims {
    pub offer: String,
    pub entry: String,
    pub event: String,
    pub visitor: VisitorId,
    pub expires_at_ms: u64,
}

/// Why an offer token was refused.
pub type OfferTokenError = TokenError;

/// The payload as read back (any key order; unknown keys refused: nothing else is signed).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClaims {
    offer: String,
    entry: String,
    event: String,
    vis: String,
    exp_ms: u64,
}

fn payload_json(claims: &OfferClaims) -> String {
    let mut json =
        String::with_capacity(96 + claims.offer.len() + claims.entry.len() + claims.event.len());
    json.push_str("{\"offer\":");
    push_json_string(&mut json, &claims.offer);
    json.push_str(",\"entry\":");
    push_json_string(&mut json, &claims.entry);
    json.push_str(",\"event\":");
    push_json_string(&mut json, &claims.event);
    json.push_str(",\"vis\":\"");
    json.push_str(&claims.visitor.to_hex());
    json.push_str("\",\"exp_ms\":");
    json.push_str(&claims.expires_at_ms.to_string());
    json.push('}');
    json
}

impl Keyring {
    /// Signs `claims` with the signing key. The same claims and key give the same token, so
    /// a fan's status and the webhook show one token.
    pub fn issue_offer_token(&self, claims: &OfferClaims) -> String {
        frame::seal(
            self.signing_entry(),
            VERSION,
            payload_json(claims).as_bytes(),
        )
    }

    /// The claims of a genuine, unexpired offer token (`now_ms` in unix milliseconds): the
    /// frame's checks (MAC in constant time, any listed key), then the payload
    /// (`Malformed`), then `now_ms < exp_ms` (`Expired`). The caller checks that the claims
    /// name the offer, entry, event and fan at hand.
    pub fn verify_offer_token(
        &self,
        token: &str,
        now_ms: u64,
    ) -> Result<OfferClaims, OfferTokenError> {
        let raw: RawClaims = frame::open_json(self, VERSION, token, MAX_OFFER_TOKEN_LEN)?;
        let claims = OfferClaims {
            visitor: VisitorId::from_hex(&raw.vis).ok_or(OfferTokenError::Malformed)?,
            offer: raw.offer,
            entry: raw.entry,
            event: raw.event,
            expires_at_ms: raw.exp_ms,
        };
        if now_ms >= claims.expires_at_ms {
            return Err(OfferTokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PassClaims;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    const S1: &[u8] = b"offer-token-test-secret-k1-0123456789";
    const S2: &[u8] = b"offer-token-test-secret-k2-0123456789";

    fn ring(signing: &str) -> Keyring {
        Keyring::new(
            signing,
            vec![("k1".into(), S1.to_vec()), ("k2".into(), S2.to_vec())],
        )
        .expect("valid keyring")
    }

    fn claims() -> OfferClaims {
        OfferClaims {
            offer: "0f".repeat(16),
            entry: "e1".repeat(16),
            event: "tour \"2027\"".into(),
            visitor: VisitorId([0xab; 16]),
            expires_at_ms: 1_000_000,
        }
    }

    #[test]
    fn round_trip_until_the_deadline_and_through_a_rotation() {
        let old = ring("k1");
        let token = old.issue_offer_token(&claims());
        assert!(token.starts_with("o1.k1."));
        assert_eq!(old.issue_offer_token(&claims()), token, "deterministic");
        assert_eq!(old.verify_offer_token(&token, 999_999), Ok(claims()));
        assert_eq!(
            old.verify_offer_token(&token, 1_000_000),
            Err(OfferTokenError::Expired)
        );
        // The next signing key verifies tokens of the previous one.
        assert_eq!(ring("k2").verify_offer_token(&token, 0), Ok(claims()));
        let only_k2 = Keyring::new("k2", vec![("k2".into(), S2.to_vec())]).expect("valid");
        assert_eq!(
            only_k2.verify_offer_token(&token, 0),
            Err(OfferTokenError::UnknownKey)
        );
    }

    #[test]
    fn the_payload_is_the_documented_json() {
        let token = ring("k1").issue_offer_token(&claims());
        let payload = token.split('.').nth(2).expect("payload part");
        let json = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("utf8");
        assert_eq!(
            json,
            format!(
                "{{\"offer\":\"{}\",\"entry\":\"{}\",\"event\":\"tour \\\"2027\\\"\",\"vis\":\"{}\",\"exp_ms\":1000000}}",
                "0f".repeat(16),
                "e1".repeat(16),
                "ab".repeat(16)
            )
        );
    }

    #[test]
    fn altered_or_forged_tokens_are_refused() {
        let ring = ring("k1");
        let token = ring.issue_offer_token(&claims());
        // Every single-character change: never accepted (payload, kid, mac or label).
        for index in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[index] = if bytes[index] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).expect("ascii");
            assert!(ring.verify_offer_token(&altered, 0).is_err(), "{index}");
        }
        // A longer deadline, re-encoded without the key: the MAC no longer matches.
        let mut later = claims();
        later.expires_at_ms = u64::MAX;
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!(
            "o1.k1.{}.{}",
            URL_SAFE_NO_PAD.encode(payload_json(&later)),
            parts[3]
        );
        assert_eq!(
            ring.verify_offer_token(&forged, 0),
            Err(OfferTokenError::BadSignature)
        );
        // Another deployment's key of the same name.
        let other = Keyring::new("k1", vec![("k1".into(), S2.to_vec())]).expect("valid");
        assert_eq!(
            ring.verify_offer_token(&other.issue_offer_token(&claims()), 0),
            Err(OfferTokenError::BadSignature)
        );
        assert_eq!(
            ring.verify_offer_token(&"o".repeat(MAX_OFFER_TOKEN_LEN + 1), 0),
            Err(OfferTokenError::Malformed)
        );
    }

    #[test]
    fn a_pass_is_not_an_offer_token_nor_the_reverse() {
        let ring = ring("k1");
        let pass = ring.issue_pass(&PassClaims {
            room: "tour".into(),
            visitor: VisitorId([1; 16]),
            issued_at: 0,
            expires_at: u64::MAX,
        });
        assert_eq!(
            ring.verify_offer_token(&pass, 0),
            Err(OfferTokenError::Malformed)
        );
        let relabelled = pass.replacen("v1.", "o1.", 1);
        assert_eq!(
            ring.verify_offer_token(&relabelled, 0),
            Err(OfferTokenError::BadSignature)
        );
        let offer = ring.issue_offer_token(&claims());
        assert!(ring.verify_pass_any_room(&offer, 0).is_err());
    }

    #[test]
    fn signed_payloads_of_another_shape_are_malformed() {
        let ring = ring("k1");
        for json in [
            "{}",
            "not json",
            "{\"offer\":\"o\",\"entry\":\"e\",\"event\":\"v\",\"vis\":\"AB\",\"exp_ms\":1}",
            "{\"offer\":\"o\",\"entry\":\"e\",\"event\":\"v\",\"vis\":\"abababababababababababababababab\",\"exp_ms\":1,\"x\":1}",
            "{\"offer\":\"o\",\"entry\":\"e\",\"event\":\"v\",\"vis\":\"abababababababababababababababab\",\"exp_ms\":-1}",
        ] {
            let token = frame::seal(ring.signing_entry(), VERSION, json.as_bytes());
            assert_eq!(
                ring.verify_offer_token(&token, 0),
                Err(OfferTokenError::Malformed),
                "{json}"
            );
        }
    }
}
