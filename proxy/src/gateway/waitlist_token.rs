//! The waitlist token a sold-out room's visitor is handed with its status
//! (`waitlist.token`): signed with the gateway's keys for this room and visitor, valid
//! `WAITLIST_TOKEN_SECONDS`, so a fan who never got a pass can still join the event's
//! waitlist at the booking service (docs/adr/0008-waitlist-token.md).

use anteroom_admission::{unix_now, Keyring, VisitorId, WaitlistClaims, WAITLIST_TOKEN_SECONDS};

use super::status::{StatusObject, WaitlistInfo};

/// A fresh waitlist token for `visitor` in `room`.
pub fn sign(keyring: &Keyring, room: &str, visitor: VisitorId) -> String {
    keyring.issue_waitlist_token(&WaitlistClaims {
        room: room.to_string(),
        visitor,
        expires_at: unix_now().saturating_add(WAITLIST_TOKEN_SECONDS),
    })
}

/// The room's waitlist link with a token for `visitor` (None: the room has no waitlist).
pub fn link(
    keyring: &Keyring,
    room: &str,
    url: Option<&str>,
    visitor: VisitorId,
) -> Option<WaitlistInfo> {
    url.map(|url| WaitlistInfo {
        join: url.to_string(),
        token: Some(sign(keyring, room, visitor)),
    })
}

impl StatusObject {
    /// A sold-out status with a waitlist link also carries `visitor`'s waitlist token.
    pub fn with_waitlist_token(mut self, keyring: &Keyring, visitor: VisitorId) -> StatusObject {
        if let Some(waitlist) = &mut self.waitlist {
            waitlist.token = Some(sign(keyring, &self.room, visitor));
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::VisitorState;

    #[test]
    fn a_sold_out_status_carries_a_token_for_its_room_and_visitor() {
        let keyring = Keyring::new("k1", vec![("k1".into(), vec![3; 32])]).unwrap();
        let visitor = VisitorId([5; 16]);
        let info = link(&keyring, "tour", Some("/shop/waitlist"), visitor).unwrap();
        assert_eq!(info.join, "/shop/waitlist");
        let claims = keyring
            .verify_waitlist_token(info.token.as_deref().unwrap(), unix_now())
            .unwrap();
        assert_eq!((claims.room.as_str(), claims.visitor), ("tour", visitor));
        assert!(claims.expires_at > unix_now() + WAITLIST_TOKEN_SECONDS - 5);
        assert_eq!(link(&keyring, "tour", None, visitor), None);
        let status = |state| StatusObject {
            room: "tour".into(),
            visitor: "signed".into(),
            state,
            position: None,
            waiting: 0,
            admit_per_second: 1.0,
            eta_seconds: None,
            message: None,
            pass: None,
            challenge: None,
            waitlist: None,
        };
        let sold_out = status(VisitorState::SoldOut)
            .with_waitlist(Some("/w"))
            .with_waitlist_token(&keyring, visitor);
        let token = sold_out
            .waitlist
            .as_ref()
            .unwrap()
            .token
            .as_deref()
            .unwrap();
        assert_eq!(
            keyring
                .verify_waitlist_token(token, unix_now())
                .unwrap()
                .room,
            "tour"
        );
        let waiting = status(VisitorState::Waiting)
            .with_waitlist(Some("/w"))
            .with_waitlist_token(&keyring, visitor);
        assert_eq!(waiting.waitlist, None, "only sold out");
    }
}
