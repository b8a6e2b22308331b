//! One room's state and its operations — the same steps, in the same order, as the Lua
//! scripts in `redis/lua/` (keep the two in step; the conformance suite checks them).

use std::collections::HashMap;

use anteroom_admission::{Bucket, RateLimits, VisitorId};
use anteroom_config::RoomMode;

use super::line::Line;
use super::timed::TimedSet;
use crate::store::{Placement, RoomSettings, RoomStats, TickOutcome};
use crate::MAX_WORK_PER_TICK;

#[derive(Debug)]
pub(crate) struct Room {
    pub settings: RoomSettings,
    /// Digest of the configured settings last seeded by init_room.
    pub digest: String,
    line: Line,
    /// visitor → session expiry (ms)
    active: TimedSet,
    /// queued visitor → last seen (ms)
    seen: TimedSet,
    /// Created full on first use, like the Redis bucket hash.
    bucket: Option<Bucket>,
    admitted_total: u64,
    joins_total: u64,
    /// visitor → revoked at (ms)
    revoked: HashMap<VisitorId, u64>,
}

impl Room {
    pub fn new(settings: RoomSettings, digest: String) -> Room {
        Room {
            settings,
            digest,
            line: Line::default(),
            active: TimedSet::default(),
            seen: TimedSet::default(),
            bucket: None,
            admitted_total: 0,
            joins_total: 0,
            revoked: HashMap::new(),
        }
    }

    fn session_ms(&self) -> u64 {
        self.settings.session_seconds.saturating_mul(1000)
    }

    fn bucket_take(&mut self, now: u64, active: u64, wanted: u64) -> u64 {
        let rate = self.settings.admit_per_second;
        let limits = RateLimits {
            admit_per_second: rate,
            max_active: self.settings.max_active,
        };
        self.bucket
            .get_or_insert_with(|| Bucket::full(now, rate))
            .admit(now, limits, active, wanted)
    }

    /// Some(expiry) if the visitor holds an unexpired session.
    fn live_session(&self, visitor: &VisitorId, now: u64) -> Option<u64> {
        self.active.get(visitor).filter(|expires| *expires > now)
    }

    fn waiting(&self, visitor: &VisitorId) -> Option<Placement> {
        let position = self.line.position(visitor)?;
        Some(Placement::Waiting {
            position,
            waiting: self.line.len(),
        })
    }

    pub fn join(&mut self, visitor: VisitorId, now: u64) -> Placement {
        if self.settings.mode == RoomMode::Closed {
            return Placement::Closed;
        }
        if self.settings.sold_out {
            return Placement::SoldOut;
        }
        if let Some(expires) = self.active.get(&visitor) {
            if expires > now {
                return Placement::Admitted {
                    expires_at_ms: expires,
                };
            }
            self.active.remove(&visitor);
        }
        if let Some(placement) = self.waiting(&visitor) {
            self.seen.insert(visitor, now);
            return placement;
        }
        let straight_in = match self.settings.mode {
            RoomMode::Passthrough => true,
            RoomMode::SafetyNet if self.line.len() == 0 && !self.settings.paused => {
                let active = self.active.len();
                self.bucket_take(now, active, 1) == 1
            }
            _ => false,
        };
        self.joins_total += 1;
        if straight_in {
            let expires_at_ms = now + self.session_ms();
            self.active.insert(visitor, expires_at_ms);
            self.admitted_total += 1;
            return Placement::Admitted { expires_at_ms };
        }
        let position = self.line.push(visitor);
        self.seen.insert(visitor, now);
        Placement::Waiting {
            position,
            waiting: self.line.len(),
        }
    }

    pub fn status(&mut self, visitor: VisitorId, now: u64) -> Placement {
        if self.settings.mode == RoomMode::Closed {
            return Placement::Closed;
        }
        if let Some(expires_at_ms) = self.live_session(&visitor, now) {
            return Placement::Admitted { expires_at_ms };
        }
        if let Some(placement) = self.waiting(&visitor) {
            // Polling is what keeps a place: the abandonment clock restarts.
            self.seen.insert(visitor, now);
            return if self.settings.sold_out {
                Placement::SoldOut
            } else {
                placement
            };
        }
        if self.settings.sold_out {
            Placement::SoldOut
        } else {
            Placement::Absent
        }
    }

    /// Remove the place and the session; true if either was held.
    fn drop_visitor(&mut self, visitor: &VisitorId, now: u64) -> bool {
        let mut had = self.line.remove(visitor);
        if let Some(expires) = self.active.remove(visitor) {
            had |= expires > now;
        }
        self.seen.remove(visitor);
        had
    }

    pub fn leave(&mut self, visitor: VisitorId, now: u64) -> bool {
        self.drop_visitor(&visitor, now)
    }

    pub fn renew(&mut self, visitor: VisitorId, now: u64) -> Option<u64> {
        let expires = self.active.get(&visitor)?;
        if expires <= now {
            self.active.remove(&visitor);
            return None;
        }
        let expires = now + self.session_ms();
        self.active.insert(visitor, expires);
        Some(expires)
    }

    fn prune_revoked(&mut self, now: u64) {
        let horizon = now.saturating_sub(self.session_ms());
        self.revoked.retain(|_, at| *at > horizon);
    }

    pub fn revoke(&mut self, visitor: VisitorId, now: u64) -> bool {
        let had = self.drop_visitor(&visitor, now);
        self.revoked.insert(visitor, now);
        self.prune_revoked(now);
        had
    }

    pub fn revocations(&mut self, now: u64) -> Vec<(VisitorId, u64)> {
        self.prune_revoked(now);
        let mut list: Vec<(VisitorId, u64)> =
            self.revoked.iter().map(|(v, at)| (*v, *at)).collect();
        list.sort_by_key(|(v, at)| (*at, *v));
        list
    }

    pub fn admit_tick(&mut self, now: u64) -> TickOutcome {
        let limit = MAX_WORK_PER_TICK as usize;
        self.active.take_due(now, limit);

        let horizon = now.saturating_sub(self.settings.abandon_after_seconds.saturating_mul(1000));
        let mut abandoned = 0;
        for visitor in self.seen.take_due(horizon, limit) {
            abandoned += u64::from(self.line.remove(&visitor));
        }

        let mut admitted = 0;
        let s = &self.settings;
        let admitting =
            !matches!(s.mode, RoomMode::Closed | RoomMode::Passthrough) && !s.paused && !s.sold_out;
        if admitting {
            let active = self.active.len();
            let wanted = self.line.len().min(MAX_WORK_PER_TICK);
            let n = self.bucket_take(now, active, wanted);
            let expires = now + self.session_ms();
            for visitor in self.line.pop_front(n as usize) {
                self.active.insert(visitor, expires);
                self.seen.remove(&visitor);
                admitted += 1;
            }
            self.admitted_total += admitted;
        }
        TickOutcome {
            admitted,
            waiting: self.line.len(),
            active: self.active.len(),
            abandoned,
        }
    }

    pub fn stats(&self, now: u64) -> RoomStats {
        RoomStats {
            waiting: self.line.len(),
            active: self.active.count_after(now),
            admitted_total: self.admitted_total,
            joins_total: self.joins_total,
        }
    }
}
