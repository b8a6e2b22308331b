//! `MemoryGuardStore`: the single-node store. Each room's counters sit behind one lock, taken
//! once per call and never held across an await, so a call is as atomic as the Redis script.
//! Same semantics as `lua/guard_check.lua`; stale entries are swept as calls go (amortised
//! O(1)). `check_and_join` counts under the lock, then joins the queue given to `joining`
//! (ADR 0007: in one process the two steps need no common lock).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use anteroom_admission::VisitorId;
use anteroom_queue::{Clock, QueueStore, StoreError, SystemClock};
use async_trait::async_trait;

use super::{gcra, span_ms};
use super::{
    CheckedJoin, GuardCheck, GuardCounts, GuardStore, GuardStoreError, PlaceCheck, PlaceSubject,
    VelocityResult,
};

pub struct MemoryGuardStore {
    clock: Arc<dyn Clock>,
    rooms: RwLock<HashMap<String, Arc<Mutex<Room>>>>,
    /// The queue `check_and_join` joins (`joining`).
    queue: Option<Arc<dyn QueueStore>>,
}

impl Default for MemoryGuardStore {
    fn default() -> Self {
        MemoryGuardStore::new()
    }
}

impl MemoryGuardStore {
    /// A store on the system clock.
    pub fn new() -> MemoryGuardStore {
        MemoryGuardStore::with_clock(Arc::new(SystemClock))
    }

    /// A store on the given clock (a `ManualClock` in tests).
    pub fn with_clock(clock: Arc<dyn Clock>) -> MemoryGuardStore {
        MemoryGuardStore {
            clock,
            rooms: RwLock::new(HashMap::new()),
            queue: None,
        }
    }

    /// The same store, joining `queue` in `check_and_join` (without one, a join asked for
    /// there fails as a join: `StoreError::Invalid`).
    pub fn joining(self, queue: Arc<dyn QueueStore>) -> MemoryGuardStore {
        MemoryGuardStore {
            queue: Some(queue),
            ..self
        }
    }

    /// Run `f` on the room (created on first use) under its lock, with the time now.
    fn with_room<T>(&self, room: &str, f: impl FnOnce(&mut Room, u64) -> T) -> T {
        let existing = self
            .rooms
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(room)
            .cloned();
        let shared = match existing {
            Some(shared) => shared,
            None => self
                .rooms
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .entry(room.to_string())
                .or_default()
                .clone(),
        };
        let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
        let now_ms = self.clock.now_ms();
        state.sweep_now_and_then(now_ms);
        f(&mut state, now_ms)
    }
}

/// The distinct visitors holding places under one subject.
#[derive(Debug, Default)]
struct Holders {
    /// The `hold_ms` of the last check that counted here (for sweeping).
    hold_ms: u64,
    last_seen_ms: HashMap<VisitorId, u64>,
}

impl Holders {
    /// Forget holders not seen within `hold_ms` (as `ZREMRANGEBYSCORE -inf now-hold`).
    fn forget_stale(&mut self, now_ms: u64, hold_ms: u64) {
        self.last_seen_ms
            .retain(|_, seen| seen.saturating_add(hold_ms) > now_ms);
    }
}

#[derive(Debug, Default)]
struct Room {
    /// GCRA `tat` in µs per (window_ms, subject).
    velocity: HashMap<(u64, String), u64>,
    places: HashMap<String, Holders>,
    /// Challenge id → when the redemption is forgotten (ms).
    redeemed: HashMap<String, u64>,
    /// Visitor → end of the shadow (ms, inclusive like a Redis PXAT).
    shadows: HashMap<VisitorId, u64>,
    rules: Option<String>,
    calls_since_sweep: usize,
}

/// Sweep no more often than this many calls, even in a near-empty room.
const MIN_CALLS_BETWEEN_SWEEPS: usize = 256;

impl Room {
    fn entries(&self) -> usize {
        self.velocity.len() + self.places.len() + self.redeemed.len() + self.shadows.len()
    }

    /// Drop what has expired once the calls since the last sweep outnumber the entries:
    /// memory stays proportional to live counters at O(1) amortised cost per call.
    fn sweep_now_and_then(&mut self, now_ms: u64) {
        self.calls_since_sweep += 1;
        if self.calls_since_sweep < self.entries().max(MIN_CALLS_BETWEEN_SWEEPS) {
            return;
        }
        self.calls_since_sweep = 0;
        let now_us = now_ms.saturating_mul(1000);
        self.velocity.retain(|_, tat| *tat > now_us);
        self.places.retain(|_, holders| {
            holders.forget_stale(now_ms, holders.hold_ms);
            !holders.last_seen_ms.is_empty()
        });
        self.redeemed.retain(|_, until| *until >= now_ms);
        self.shadows.retain(|_, until| *until >= now_ms);
    }

    /// Count one request against every check (`GuardStore::check`).
    fn check(&mut self, now_ms: u64, check: &GuardCheck) -> GuardCounts {
        let velocity = check
            .velocity
            .iter()
            .map(|limit| self.velocity(now_ms, limit))
            .collect();
        let (place_allowed, holders) = match &check.places {
            Some(places) => {
                let (allowed, counts) = self.places(now_ms, places);
                (allowed, Some(counts))
            }
            None => (true, None),
        };
        GuardCounts {
            velocity,
            holders,
            place_allowed,
        }
    }

    fn shadowed(&self, now_ms: u64, visitor: VisitorId) -> bool {
        self.shadows
            .get(&visitor)
            .is_some_and(|until| *until >= now_ms)
    }

    fn velocity(&mut self, now_ms: u64, check: &super::VelocityCheck) -> VelocityResult {
        let key = (check.window_ms, check.subject.clone());
        let decision = gcra::decide(
            self.velocity.get(&key).copied(),
            now_ms.saturating_mul(1000),
            check.limit,
            check.window_ms,
        );
        self.velocity.insert(key, decision.new_tat_us);
        decision.result
    }

    /// `(allowed, holders per subject)`: all subjects or none (see `PlaceCheck`).
    fn places(&mut self, now_ms: u64, check: &PlaceCheck) -> (bool, Vec<u32>) {
        let hold_ms = span_ms(check.hold_ms);
        for PlaceSubject { subject, .. } in &check.subjects {
            if let Some(holders) = self.places.get_mut(subject) {
                holders.forget_stale(now_ms, hold_ms);
            }
        }
        let allowed = check.subjects.iter().all(|PlaceSubject { subject, max }| {
            let max = usize::try_from(*max).unwrap_or(usize::MAX);
            let holders = self.places.get(subject).map(|h| &h.last_seen_ms);
            holders.is_some_and(|h| h.contains_key(&check.visitor))
                || holders.map_or(0, HashMap::len) < max
        });
        if allowed {
            for PlaceSubject { subject, .. } in &check.subjects {
                let holders = self.places.entry(subject.clone()).or_default();
                holders.hold_ms = hold_ms;
                holders.last_seen_ms.insert(check.visitor, now_ms);
            }
        }
        let counts = check
            .subjects
            .iter()
            .map(|PlaceSubject { subject, .. }| {
                self.places.get(subject).map_or(0, |holders| {
                    u32::try_from(holders.last_seen_ms.len()).unwrap_or(u32::MAX)
                })
            })
            .collect();
        (allowed, counts)
    }
}

#[async_trait]
impl GuardStore for MemoryGuardStore {
    async fn check(&self, room: &str, check: &GuardCheck) -> Result<GuardCounts, GuardStoreError> {
        Ok(self.with_room(room, |state, now_ms| state.check(now_ms, check)))
    }

    async fn check_and_join(
        &self,
        room: &str,
        check: &GuardCheck,
        shadow_of: Option<VisitorId>,
        join: Option<VisitorId>,
    ) -> Result<CheckedJoin, GuardStoreError> {
        let (counts, shadowed) = self.with_room(room, |state, now_ms| {
            let shadowed = shadow_of.is_some_and(|visitor| state.shadowed(now_ms, visitor));
            (state.check(now_ms, check), shadowed)
        });
        let joined = match join {
            Some(visitor) if counts.is_clean() && !shadowed => Some(match &self.queue {
                Some(queue) => queue.join(room, visitor).await,
                None => Err(StoreError::Invalid(
                    "this guard store joins no queue (MemoryGuardStore::joining)".into(),
                )),
            }),
            _ => None,
        };
        Ok(CheckedJoin {
            counts,
            shadowed,
            joined,
        })
    }

    async fn redeem(
        &self,
        room: &str,
        challenge_id: &str,
        ttl_ms: u64,
    ) -> Result<bool, GuardStoreError> {
        Ok(self.with_room(room, |state, now_ms| {
            if state
                .redeemed
                .get(challenge_id)
                .is_some_and(|until| *until >= now_ms)
            {
                return false;
            }
            let until = now_ms.saturating_add(span_ms(ttl_ms));
            state.redeemed.insert(challenge_id.to_string(), until);
            true
        }))
    }

    async fn set_shadow(
        &self,
        room: &str,
        visitor: VisitorId,
        until_ms: Option<u64>,
    ) -> Result<(), GuardStoreError> {
        self.with_room(room, |state, now_ms| match until_ms {
            Some(until) if until > now_ms => {
                state.shadows.insert(visitor, until);
            }
            _ => {
                state.shadows.remove(&visitor);
            }
        });
        Ok(())
    }

    async fn is_shadowed(&self, room: &str, visitor: VisitorId) -> Result<bool, GuardStoreError> {
        Ok(self.with_room(room, |state, now_ms| state.shadowed(now_ms, visitor)))
    }

    async fn rules(&self, room: &str) -> Result<Option<String>, GuardStoreError> {
        Ok(self.with_room(room, |state, _| state.rules.clone()))
    }

    async fn set_rules(&self, room: &str, rules_json: &str) -> Result<(), GuardStoreError> {
        self.with_room(room, |state, _| state.rules = Some(rules_json.to_string()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::VelocityCheck;
    use anteroom_queue::ManualClock;

    #[tokio::test]
    async fn stale_entries_are_swept_as_calls_go() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let store = MemoryGuardStore::with_clock(clock.clone());
        for n in 0..1_000u32 {
            let check = GuardCheck {
                velocity: vec![VelocityCheck {
                    subject: format!("ip:{n}"),
                    limit: 5,
                    window_ms: 1_000,
                }],
                places: Some(PlaceCheck {
                    visitor: VisitorId([1; 16]),
                    subjects: vec![PlaceSubject::new(format!("fp:{n}"), 2)],
                    hold_ms: 1_000,
                }),
            };
            store.check("r", &check).await.unwrap();
            store.redeem("r", &format!("c{n}"), 1_000).await.unwrap();
        }
        let entries = |store: &MemoryGuardStore| store.with_room("r", |room, _| room.entries());
        assert!(entries(&store) >= 2_000, "live entries are kept");
        clock.advance(1_001);
        for _ in 0..5_000 {
            store.rules("r").await.unwrap();
        }
        assert_eq!(entries(&store), 0, "expired entries are swept");
    }
}
