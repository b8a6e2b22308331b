//! An offer's signed token (the codec is `anteroom_admission`'s, under the gateway's keys):
//! what it claims for an offer, the offer as a fan or the webhook sees it (token included
//! while open), and whether a presented token is the one for the offer being accepted.

use anteroom_admission::{Keyring, OfferClaims, OfferTokenError, VisitorId};
use thiserror::Error;

use super::Offer;

/// Why a token does not let this caller accept this offer.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    #[error("offer token refused: {0}")]
    Invalid(OfferTokenError),
    /// Genuine, but issued for another offer, entry, event or fan.
    #[error("this offer token was issued for another {0}")]
    Mismatch(&'static str),
}

impl From<OfferTokenError> for TokenRefusal {
    fn from(error: OfferTokenError) -> TokenRefusal {
        TokenRefusal::Invalid(error)
    }
}

/// What the token of `offer` made to `visitor` says.
pub fn claims_of(offer: &Offer, visitor: VisitorId) -> OfferClaims {
    OfferClaims {
        offer: offer.offer_id.clone(),
        entry: offer.entry_id.clone(),
        event: offer.event.clone(),
        visitor,
        expires_at_ms: offer.expires_at_ms,
    }
}

/// `offer` as its fan sees it: with its token while open (a closed offer has nothing left to
/// accept, so it shows none).
pub fn presented(offer: &Offer, visitor: VisitorId, keyring: &Keyring) -> Offer {
    let token =
        (offer.state == "open").then(|| keyring.issue_offer_token(&claims_of(offer, visitor)));
    Offer {
        token,
        ..offer.clone()
    }
}

/// Whether genuine `claims` are those of `offer`, accepted by `visitor`.
pub fn bound_to(
    claims: &OfferClaims,
    offer: &Offer,
    visitor: VisitorId,
) -> Result<(), TokenRefusal> {
    let mismatch = if claims.offer != offer.offer_id {
        "offer"
    } else if claims.entry != offer.entry_id {
        "entry"
    } else if claims.event != offer.event {
        "event"
    } else if claims.visitor != visitor {
        "fan"
    } else {
        return Ok(());
    };
    Err(TokenRefusal::Mismatch(mismatch))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        Keyring::new("k1", vec![("k1".into(), vec![7; 32])]).unwrap()
    }

    fn offer(id: &str, state: &str) -> Offer {
        Offer {
            offer_id: id.into(),
            entry_id: format!("entry-of-{id}"),
            event: "show".into(),
            seat: Some("S0".into()),
            state: state.into(),
            released_at_ms: 1,
            offered_at_ms: 2,
            expires_at_ms: 10_000,
            booking_id: None,
            token: None,
        }
    }

    const FAN: VisitorId = VisitorId([1; 16]);

    #[test]
    fn only_an_open_offer_shows_a_token_and_it_verifies() {
        let keyring = keyring();
        let open = presented(&offer("o1", "open"), FAN, &keyring);
        let token = open.token.clone().unwrap();
        let claims = keyring.verify_offer_token(&token, 9_999).unwrap();
        assert_eq!(claims, claims_of(&offer("o1", "open"), FAN));
        assert_eq!(bound_to(&claims, &open, FAN), Ok(()));
        for closed in ["accepted", "declined", "expired", "withdrawn"] {
            assert_eq!(presented(&offer("o1", closed), FAN, &keyring).token, None);
        }
    }

    #[test]
    fn a_token_binds_its_offer_entry_event_and_fan() {
        let claims = claims_of(&offer("o1", "open"), FAN);
        let mine = offer("o1", "open");
        let others = [
            (offer("o2", "open"), "offer"),
            (
                Offer {
                    entry_id: "someone-else".into(),
                    ..mine.clone()
                },
                "entry",
            ),
            (
                Offer {
                    event: "other".into(),
                    ..mine.clone()
                },
                "event",
            ),
        ];
        for (other, field) in others {
            assert_eq!(
                bound_to(&claims, &other, FAN),
                Err(TokenRefusal::Mismatch(field))
            );
        }
        assert_eq!(
            bound_to(&claims, &mine, VisitorId([2; 16])),
            Err(TokenRefusal::Mismatch("fan"))
        );
    }
}
