//! What this instance currently knows of a room's shared state: the live settings, the
//! revocations in force and the latest figures. Refreshed by the ticker from the store;
//! read on every request without a store round trip.

use std::collections::HashMap;

use anteroom_admission::{RateMeter, VisitorId};
use anteroom_queue::{Revocation, RoomSettings};

#[derive(Debug, Clone)]
pub struct LiveRoom {
    pub settings: RoomSettings,
    /// visitor -> passes_expiring_by_ms (store clock): that visitor's passes expiring at or
    /// before it were issued before the revocation and are refused.
    pub revoked: HashMap<VisitorId, u64>,
    /// Where this instance's reading of the store's revocation log continues.
    pub revocation_cursor: String,
    pub waiting: u64,
    pub active: u64,
    /// The room's admissions over the last minute (all instances, from the store's total).
    pub admissions: RateMeter,
}

impl LiveRoom {
    pub fn new(settings: RoomSettings) -> LiveRoom {
        LiveRoom {
            settings,
            revoked: HashMap::new(),
            revocation_cursor: String::new(),
            waiting: 0,
            active: 0,
            admissions: RateMeter::new(),
        }
    }

    /// Admissions per second lately, once measured long enough.
    pub fn measured_rate(&self) -> Option<f64> {
        self.admissions.rate()
    }

    /// A pass of this visitor expiring at `pass_expires_at` (unix s) was revoked. Pass
    /// expiries are session expiries from the store's clock, as are revocation cutoffs, so
    /// no gateway clock enters the comparison.
    pub fn is_revoked(&self, visitor: &VisitorId, pass_expires_at: u64) -> bool {
        match self.revoked.get(visitor) {
            Some(cutoff_ms) => pass_expires_at.saturating_mul(1000) <= *cutoff_ms,
            None => false,
        }
    }

    /// Add revocations (a visitor revoked twice keeps the later cutoff).
    pub fn add_revocations(&mut self, revocations: impl IntoIterator<Item = Revocation>) {
        for revocation in revocations {
            let cutoff = self.revoked.entry(revocation.visitor).or_insert(0);
            *cutoff = (*cutoff).max(revocation.passes_expiring_by_ms);
        }
    }

    /// Forget revocations that refuse nothing any more: once this instance's clock reaches
    /// the cutoff, every pass it would refuse has expired by the pass check itself.
    pub fn prune_revocations(&mut self, now_ms: u64) {
        self.revoked.retain(|_, cutoff| *cutoff > now_ms);
    }

    /// The revocations still in force, to put back into a store that lost them.
    pub fn revocations(&self) -> Vec<Revocation> {
        self.revoked
            .iter()
            .map(|(visitor, cutoff)| Revocation {
                visitor: *visitor,
                passes_expiring_by_ms: *cutoff,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anteroom_config::RoomMode;

    fn live() -> LiveRoom {
        LiveRoom::new(RoomSettings {
            mode: RoomMode::QueueAll,
            admit_per_second: 1.0,
            max_active: 1,
            session_seconds: 600,
            abandon_after_seconds: 60,
            paused: false,
            sold_out: false,
            message: None,
        })
    }

    fn revocation(n: u8, cutoff: u64) -> Revocation {
        Revocation {
            visitor: VisitorId([n; 16]),
            passes_expiring_by_ms: cutoff,
        }
    }

    #[test]
    fn passes_expiring_by_the_cutoff_are_revoked_whatever_their_issue_time() {
        let mut room = live();
        room.add_revocations([revocation(1, 1_000_600_000)]);
        let visitor = VisitorId([1; 16]);
        // Issued just before the revocation, by a gateway whose clock runs ahead or behind:
        // its expiry is the session's, at most the cutoff.
        assert!(room.is_revoked(&visitor, 1_000_600));
        assert!(room.is_revoked(&visitor, 1_000_000));
        // A session begun after the revocation ends after the cutoff.
        assert!(!room.is_revoked(&visitor, 1_000_601));
        assert!(!room.is_revoked(&VisitorId([2; 16]), 1));
    }

    #[test]
    fn the_later_cutoff_wins_and_spent_entries_are_pruned() {
        let mut room = live();
        room.add_revocations([
            revocation(1, 5_000),
            revocation(1, 3_000),
            revocation(2, 9_000),
        ]);
        assert_eq!(room.revoked.get(&VisitorId([1; 16])), Some(&5_000));
        room.prune_revocations(5_000);
        assert_eq!(room.revoked.len(), 1);
        assert_eq!(room.revocations(), vec![revocation(2, 9_000)]);
    }
}
