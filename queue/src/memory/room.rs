//! One room's state and its operations — the same steps, in the same order, as the Lua
//! scripts in `redis/lua/` (keep the two in step; the conformance suite checks them).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use anteroom_admission::{Bucket, RateLimits, VisitorId};
use anteroom_config::RoomMode;

use super::line::Line;
use super::timed::TimedSet;
use crate::store::{
    Frontier, Joined, Left, Placement, Revocation, RevocationPage, Revoked, RoomSettings,
    RoomStats, TickOutcome, ABANDON_CLOCK_MAX_STEP_MS, FRONTIER_PAGE, REVOCATION_PAGE,
};
use crate::MAX_WORK_PER_TICK;

/// The room's abandonment clock (ADR 0004): `room_ms` advances with admission ticks by the
/// store time elapsed since the last one (`wall_ms`), at most `ABANDON_CLOCK_MAX_STEP_MS`
/// per tick.
#[derive(Debug, Clone, Copy)]
struct AbandonClock {
    room_ms: u64,
    wall_ms: u64,
}

/// One entry of the revocation log; `seq` is its cursor.
#[derive(Debug, Clone, Copy)]
struct LoggedRevocation {
    seq: u64,
    revocation: Revocation,
}

#[derive(Debug)]
pub(crate) struct Room {
    pub settings: RoomSettings,
    /// Digest of the configured settings last seeded by init_room.
    pub digest: String,
    line: Line,
    /// visitor → session expiry (ms)
    active: TimedSet,
    /// queued visitor → last seen (abandonment-clock ms)
    seen: TimedSet,
    /// None until the first tick.
    abandon_clock: Option<AbandonClock>,
    /// Created full on first use, like the Redis bucket hash.
    bucket: Option<Bucket>,
    admitted_total: u64,
    joins_total: u64,
    /// Revocations in the order they were made.
    revocations: VecDeque<LoggedRevocation>,
    next_revocation_seq: u64,
    /// Position fan-out (ADR 0005): new for every line this store creates.
    epoch: String,
    /// Tickets removed out of order and not yet trimmed: ticket → log entry.
    gaps: BTreeMap<u64, u64>,
    /// The same, in log order: entry (the frontier cursor) → ticket.
    gap_log: BTreeMap<u64, u64>,
    last_gap_entry: u64,
    /// Store-clock ms of the last change of head or gaps.
    frontier_changed_ms: u64,
}

/// A value no other line of this process had: a store that lost a room (a new store)
/// hands out a new epoch.
fn new_epoch() -> String {
    static LINES: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "m{}-{nanos}-{}",
        std::process::id(),
        LINES.fetch_add(1, Ordering::Relaxed)
    )
}

impl Room {
    pub fn new(settings: RoomSettings, digest: String) -> Room {
        Room {
            settings,
            digest,
            line: Line::default(),
            active: TimedSet::default(),
            seen: TimedSet::default(),
            abandon_clock: None,
            bucket: None,
            admitted_total: 0,
            joins_total: 0,
            revocations: VecDeque::new(),
            next_revocation_seq: 1,
            epoch: new_epoch(),
            gaps: BTreeMap::new(),
            gap_log: BTreeMap::new(),
            last_gap_entry: 0,
            frontier_changed_ms: 0,
        }
    }

    /// The abandonment clock's reading now: the last tick's reading plus the time since,
    /// capped as a tick would cap it (so a visitor seen now is never ahead of the next tick).
    fn room_now(&self, now: u64) -> u64 {
        match self.abandon_clock {
            None => now,
            Some(clock) => {
                clock.room_ms
                    + now
                        .saturating_sub(clock.wall_ms)
                        .min(ABANDON_CLOCK_MAX_STEP_MS)
            }
        }
    }

    fn advance_abandon_clock(&mut self, now: u64) -> u64 {
        let room_ms = self.room_now(now);
        self.abandon_clock = Some(AbandonClock {
            room_ms,
            wall_ms: now,
        });
        room_ms
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
        let ticket = self.line.ticket(visitor)?;
        Some(Placement::Waiting {
            position,
            waiting: self.line.len(),
            ticket,
        })
    }

    pub fn join(&mut self, visitor: VisitorId, now: u64) -> Joined {
        let found = |placement| Joined {
            placement,
            new_place: false,
        };
        if self.settings.mode == RoomMode::Closed {
            return found(Placement::Closed);
        }
        if self.settings.sold_out {
            return found(Placement::SoldOut);
        }
        if let Some(expires) = self.active.get(&visitor) {
            if expires > now {
                return found(Placement::Admitted {
                    expires_at_ms: expires,
                });
            }
            self.active.remove(&visitor);
        }
        if let Some(placement) = self.waiting(&visitor) {
            self.seen.insert(visitor, self.room_now(now));
            return found(placement);
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
            return Joined {
                placement: Placement::Admitted { expires_at_ms },
                new_place: true,
            };
        }
        if self.line.len() == 0 {
            self.frontier_changed_ms = now;
        }
        let position = self.line.push(visitor);
        let ticket = self.line.ticket(&visitor).unwrap_or(0);
        self.seen.insert(visitor, self.room_now(now));
        Joined {
            placement: Placement::Waiting {
                position,
                waiting: self.line.len(),
                ticket,
            },
            new_place: true,
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
            self.seen.insert(visitor, self.room_now(now));
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

    /// Remove the place and the session: (had a place or a live session, had a live session).
    fn drop_visitor(&mut self, visitor: &VisitorId, now: u64) -> (bool, bool) {
        let queued = self.remove_out_of_order(visitor, now);
        let live_session = self
            .active
            .remove(visitor)
            .is_some_and(|expires| expires > now);
        self.seen.remove(visitor);
        (queued || live_session, live_session)
    }

    /// Take the visitor out of the line wherever it stands, logging the gap it leaves.
    fn remove_out_of_order(&mut self, visitor: &VisitorId, now: u64) -> bool {
        let Some(ticket) = self.line.remove(visitor) else {
            return false;
        };
        self.last_gap_entry += 1;
        self.gaps.insert(ticket, self.last_gap_entry);
        self.gap_log.insert(self.last_gap_entry, ticket);
        self.frontier_changed_ms = now;
        true
    }

    /// Forget up to `MAX_WORK_PER_TICK` gaps at or below the head: no view needs them.
    fn trim_gaps(&mut self) {
        let head = self.line.head_ticket().unwrap_or(u64::MAX);
        let stale: Vec<(u64, u64)> = self
            .gaps
            .range(..=head)
            .take(MAX_WORK_PER_TICK as usize)
            .map(|(ticket, entry)| (*ticket, *entry))
            .collect();
        for (ticket, entry) in stale {
            self.gaps.remove(&ticket);
            self.gap_log.remove(&entry);
        }
    }

    pub fn frontier(&mut self, cursor: u64) -> Frontier {
        if cursor > self.last_gap_entry {
            // A cursor from a newer log than this one: as in Redis (a store gone back to an
            // older copy), views built on it must start over.
            self.epoch = new_epoch();
        }
        let mut entries = self.gap_log.range(cursor.saturating_add(1)..);
        let page: Vec<(u64, u64)> = entries
            .by_ref()
            .take(FRONTIER_PAGE)
            .map(|(entry, ticket)| (*entry, *ticket))
            .collect();
        Frontier {
            epoch: self.epoch.clone(),
            head: self.line.head_ticket(),
            waiting: self.line.len(),
            gaps: page.iter().map(|(_, ticket)| *ticket).collect(),
            cursor: page.last().map_or(cursor, |(entry, _)| *entry),
            more: entries.next().is_some(),
            changed_at_ms: self.frontier_changed_ms,
        }
    }

    /// Mark the still-queued ones among `visitors` seen; returns how many were queued.
    pub fn touch(&mut self, visitors: &[VisitorId], now: u64) -> u64 {
        let room_now = self.room_now(now);
        let mut queued = 0;
        for visitor in visitors {
            if self.seen.get(visitor).is_some() {
                self.seen.insert(*visitor, room_now);
                queued += 1;
            }
        }
        queued
    }

    pub fn leave(&mut self, visitor: VisitorId, now: u64) -> Left {
        let (had_place, live_session) = self.drop_visitor(&visitor, now);
        let revocation = live_session.then(|| self.record_revocation(visitor, now));
        Left {
            had_place,
            revocation,
        }
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

    /// Every pass issued so far expires by now + session (each came from a session that
    /// ended by then); a session begun later ends later.
    fn record_revocation(&mut self, visitor: VisitorId, now: u64) -> Revocation {
        let revocation = Revocation {
            visitor,
            passes_expiring_by_ms: now + self.session_ms(),
        };
        self.log_revocation(revocation);
        revocation
    }

    fn log_revocation(&mut self, revocation: Revocation) {
        let seq = self.next_revocation_seq;
        self.next_revocation_seq += 1;
        self.revocations
            .push_back(LoggedRevocation { seq, revocation });
    }

    /// Forget revocations that refuse nothing any more, oldest first.
    fn prune_revocations(&mut self, now: u64, grace_ms: u64) {
        while self.revocations.front().is_some_and(|entry| {
            entry
                .revocation
                .passes_expiring_by_ms
                .saturating_add(grace_ms)
                <= now
        }) {
            self.revocations.pop_front();
        }
    }

    pub fn revoke(&mut self, visitor: VisitorId, now: u64, grace_ms: u64) -> Revoked {
        let (had_place, _) = self.drop_visitor(&visitor, now);
        let revocation = self.record_revocation(visitor, now);
        self.prune_revocations(now, grace_ms);
        Revoked {
            had_place,
            revocation,
        }
    }

    /// The log after `cursor` (a sequence number; "" or anything unreadable = the start).
    pub fn revocations_since(&mut self, cursor: &str, now: u64, grace_ms: u64) -> RevocationPage {
        self.prune_revocations(now, grace_ms);
        let after: u64 = cursor.parse().unwrap_or(0);
        let mut fresh = self.revocations.iter().filter(|entry| entry.seq > after);
        let page: Vec<LoggedRevocation> = fresh.by_ref().take(REVOCATION_PAGE).copied().collect();
        let more = fresh.next().is_some();
        RevocationPage {
            cursor: page
                .last()
                .map_or_else(|| cursor.to_string(), |entry| entry.seq.to_string()),
            revocations: page.iter().map(|entry| entry.revocation).collect(),
            more,
        }
    }

    pub fn restore_revocations(&mut self, revocations: &[Revocation], now: u64, grace_ms: u64) {
        for revocation in revocations {
            if revocation.passes_expiring_by_ms.saturating_add(grace_ms) > now {
                self.log_revocation(*revocation);
            }
        }
    }

    pub fn admit_tick(&mut self, now: u64) -> TickOutcome {
        let limit = MAX_WORK_PER_TICK as usize;
        self.active.take_due(now, limit);

        let room_now = self.advance_abandon_clock(now);
        let horizon =
            room_now.saturating_sub(self.settings.abandon_after_seconds.saturating_mul(1000));
        let mut abandoned = 0;
        for visitor in self.seen.take_due(horizon, limit) {
            abandoned += u64::from(self.remove_out_of_order(&visitor, now));
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
            if admitted > 0 {
                self.frontier_changed_ms = now;
            }
        }
        self.trim_gaps();
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
