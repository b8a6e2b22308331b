//! Passes this thread verified recently, by their exact text.
//!
//! An admitted browser sends the same pass with every request of a page (the page, then its
//! scripts, styles and API calls, mostly on one keep-alive connection). Its MAC was checked on
//! the first; checking the same bytes with the same keys again can only give the same answer.
//! So a verified pass is remembered with its claims, and the next request that presents the
//! identical token under the same keyring skips the HMAC and the payload parse — about a tenth
//! of the gateway's work per admitted request (docs/benchmarks.md). Everything that depends on
//! the moment or the request (room, expiry, revocation) is checked on every request as before.
//!
//! Safety of the shortcut:
//! - an entry is found only by an exact match of the whole token, compared in constant time, so
//!   a forger learns nothing about a remembered pass from how long a lookup takes;
//! - an entry belongs to one keyring (`Keyring::generation`): a reload that drops a key builds a
//!   new keyring, and nothing verified under the old one is recalled;
//! - only tokens whose MAC verified and whose payload parsed are remembered (a rejection is not
//!   remembered: a bad token costs the full check every time, as before).
//!
//! The table is per thread (no lock, no sharing between workers) and direct-mapped: a slot per
//! token hash, a newcomer replaces the slot's previous pass. Memory: `SLOTS` entries of about
//! 200 bytes per worker thread.

use std::cell::RefCell;

use crate::compare::constant_time_eq;
use crate::pass::PassClaims;

/// Entries per thread (a power of two).
const SLOTS: usize = 1024;

struct Entry {
    generation: u64,
    token: Box<str>,
    claims: PassClaims,
}

thread_local! {
    static RECENT: RefCell<Vec<Option<Entry>>> = const { RefCell::new(Vec::new()) };
}

/// The slot of a token: its last eight bytes (MAC characters, uniformly distributed in a real
/// pass) mixed by a multiplicative hash.
fn slot(token: &str) -> Option<usize> {
    let tail: [u8; 8] = token
        .as_bytes()
        .get(token.len().checked_sub(8)?..)?
        .try_into()
        .ok()?;
    let mixed = u64::from_le_bytes(tail).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    usize::try_from(mixed >> (64 - SLOTS.trailing_zeros())).ok()
}

/// The claims of `token` if this thread verified exactly this token under keyring `generation`.
pub(crate) fn recall(generation: u64, token: &str) -> Option<PassClaims> {
    let index = slot(token)?;
    RECENT.with(|recent| {
        let recent = recent.try_borrow().ok()?;
        let entry = recent.get(index)?.as_ref()?;
        (entry.generation == generation
            && constant_time_eq(token.as_bytes(), entry.token.as_bytes()))
        .then(|| entry.claims.clone())
    })
}

/// Remember that `token` verified under keyring `generation` with these claims.
pub(crate) fn remember(generation: u64, token: &str, claims: &PassClaims) {
    let Some(index) = slot(token) else {
        return;
    };
    RECENT.with(|recent| {
        let Ok(mut recent) = recent.try_borrow_mut() else {
            return;
        };
        if recent.is_empty() {
            recent.resize_with(SLOTS, || None);
        }
        if let Some(place) = recent.get_mut(index) {
            *place = Some(Entry {
                generation,
                token: token.into(),
                claims: claims.clone(),
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VisitorId;

    fn claims(room: &str) -> PassClaims {
        PassClaims {
            room: room.into(),
            visitor: VisitorId([3; 16]),
            issued_at: 10,
            expires_at: 20,
        }
    }

    #[test]
    fn recalls_only_the_exact_token_under_the_same_generation() {
        let token = "v1.k1.payload-of-the-pass.0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";
        remember(7, token, &claims("tour"));
        assert_eq!(recall(7, token), Some(claims("tour")));
        assert_eq!(recall(8, token), None, "another keyring");
        let mut other = token.to_string();
        other.replace_range(8..9, "X");
        assert_eq!(recall(7, &other), None, "same slot, other bytes");
        assert_eq!(recall(7, &token[1..]), None);
        assert_eq!(recall(7, "short"), None);
    }

    #[test]
    fn a_newcomer_in_the_same_slot_replaces_the_old_entry() {
        let first = "v1.k1.first-payload.0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";
        let second = "v1.k1.second-payload.0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";
        assert_eq!(slot(first), slot(second));
        remember(1, first, &claims("a"));
        remember(1, second, &claims("b"));
        assert_eq!(recall(1, first), None);
        assert_eq!(recall(1, second), Some(claims("b")));
    }
}
