//! `MemoryStore`: the single-node store. Rooms live in this process, each behind its own lock
//! (never held across an await), with the same semantics as the Redis scripts.

mod line;
mod room;
mod timed;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use anteroom_admission::VisitorId;
use async_trait::async_trait;

use crate::clock::{Clock, SystemClock};
use crate::settings::{apply_configured, settings_digest, validate_patch, validate_settings};
use crate::store::{
    Frontier, Joined, Left, Placement, QueueStore, Revocation, RevocationPage, Revoked,
    RoomSettings, RoomStats, SettingsPatch, StoreError, TickOutcome, REVOCATION_GRACE_MS,
};
use room::Room;

pub struct MemoryStore {
    clock: Arc<dyn Clock>,
    rooms: RwLock<HashMap<String, Arc<Mutex<Room>>>>,
    revocation_grace_ms: u64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    /// A store on the system clock.
    pub fn new() -> MemoryStore {
        MemoryStore::with_clock(Arc::new(SystemClock))
    }

    /// A store on the given clock (a `ManualClock` in tests).
    pub fn with_clock(clock: Arc<dyn Clock>) -> MemoryStore {
        MemoryStore {
            clock,
            rooms: RwLock::new(HashMap::new()),
            revocation_grace_ms: REVOCATION_GRACE_MS,
        }
    }

    /// How long a revocation is kept after no pass it refuses can be valid any more
    /// (`REVOCATION_GRACE_MS` by default; tests of purging shorten it).
    pub fn with_revocation_grace(mut self, grace: std::time::Duration) -> MemoryStore {
        self.revocation_grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Drop every room, as a store without persistence does when it restarts: tests of
    /// recovery (restore_room, a new frontier epoch) run against both stores with it.
    pub fn forget_all(&self) {
        self.rooms_mut().clear();
    }

    fn rooms_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Mutex<Room>>>> {
        self.rooms.write().unwrap_or_else(|e| e.into_inner())
    }

    fn room(&self, room: &str) -> Result<Arc<Mutex<Room>>, StoreError> {
        let rooms = self.rooms.read().unwrap_or_else(|e| e.into_inner());
        rooms
            .get(room)
            .cloned()
            .ok_or_else(|| StoreError::Invalid(format!("unknown room `{room}`: init_room first")))
    }

    /// Run `f` on the room under its lock with the current time.
    fn with_room<T>(
        &self,
        room: &str,
        f: impl FnOnce(&mut Room, u64) -> T,
    ) -> Result<T, StoreError> {
        let room = self.room(room)?;
        let mut guard = lock(&room);
        Ok(f(&mut guard, self.clock.now_ms()))
    }
}

/// A panic while a room was locked leaves it as the panicking operation left it; every
/// operation keeps the room's structures consistent step by step, so serving on is better
/// than failing the room forever.
fn lock(room: &Mutex<Room>) -> MutexGuard<'_, Room> {
    room.lock().unwrap_or_else(|e| e.into_inner())
}

#[async_trait]
impl QueueStore for MemoryStore {
    async fn init_room(
        &self,
        room: &str,
        configured: &RoomSettings,
    ) -> Result<RoomSettings, StoreError> {
        validate_settings(configured)?;
        let digest = settings_digest(configured);
        let existing = {
            let mut rooms = self.rooms_mut();
            match rooms.get(room) {
                Some(existing) => existing.clone(),
                None => {
                    let fresh = Room::new(configured.clone(), digest);
                    let settings = fresh.settings.clone();
                    rooms.insert(room.to_string(), Arc::new(Mutex::new(fresh)));
                    return Ok(settings);
                }
            }
        };
        let mut guard = lock(&existing);
        if guard.digest != digest {
            apply_configured(&mut guard.settings, configured);
            guard.digest = digest;
        }
        Ok(guard.settings.clone())
    }

    async fn restore_room(
        &self,
        room: &str,
        configured: &RoomSettings,
        live: &RoomSettings,
    ) -> Result<(RoomSettings, bool), StoreError> {
        validate_settings(live)?;
        let mut rooms = self.rooms_mut();
        if let Some(existing) = rooms.get(room) {
            return Ok((lock(existing).settings.clone(), false));
        }
        let restored = Room::new(live.clone(), settings_digest(configured));
        rooms.insert(room.to_string(), Arc::new(Mutex::new(restored)));
        Ok((live.clone(), true))
    }

    async fn settings(&self, room: &str) -> Result<RoomSettings, StoreError> {
        self.with_room(room, |r, _| r.settings.clone())
    }

    async fn update_settings(
        &self,
        room: &str,
        patch: &SettingsPatch,
    ) -> Result<RoomSettings, StoreError> {
        validate_patch(patch)?;
        self.with_room(room, |r, _| {
            crate::settings::apply_patch(&mut r.settings, patch);
            r.settings.clone()
        })
    }

    async fn join(&self, room: &str, visitor: VisitorId) -> Result<Joined, StoreError> {
        self.with_room(room, |r, now| r.join(visitor, now))
    }

    async fn status(&self, room: &str, visitor: VisitorId) -> Result<Placement, StoreError> {
        self.with_room(room, |r, now| r.status(visitor, now))
    }

    async fn leave(&self, room: &str, visitor: VisitorId) -> Result<Left, StoreError> {
        self.with_room(room, |r, now| r.leave(visitor, now))
    }

    async fn renew(&self, room: &str, visitor: VisitorId) -> Result<Option<u64>, StoreError> {
        self.with_room(room, |r, now| r.renew(visitor, now))
    }

    async fn revoke(&self, room: &str, visitor: VisitorId) -> Result<Revoked, StoreError> {
        let grace = self.revocation_grace_ms;
        self.with_room(room, |r, now| r.revoke(visitor, now, grace))
    }

    async fn revocations_since(
        &self,
        room: &str,
        cursor: &str,
    ) -> Result<RevocationPage, StoreError> {
        let grace = self.revocation_grace_ms;
        self.with_room(room, |r, now| r.revocations_since(cursor, now, grace))
    }

    async fn restore_revocations(
        &self,
        room: &str,
        revocations: &[Revocation],
    ) -> Result<(), StoreError> {
        let grace = self.revocation_grace_ms;
        self.with_room(room, |r, now| {
            r.restore_revocations(revocations, now, grace)
        })
    }

    async fn admit_tick(&self, room: &str) -> Result<TickOutcome, StoreError> {
        self.with_room(room, |r, now| r.admit_tick(now))
    }

    async fn stats(&self, room: &str) -> Result<RoomStats, StoreError> {
        self.with_room(room, |r, now| r.stats(now))
    }

    async fn frontier(&self, room: &str, cursor: u64) -> Result<Frontier, StoreError> {
        self.with_room(room, |r, _| r.frontier(cursor))
    }

    async fn touch(&self, room: &str, visitors: &[VisitorId]) -> Result<u64, StoreError> {
        self.with_room(room, |r, now| r.touch(visitors, now))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! Exact timing on a manual clock; the shared behaviour is in tests/conformance.
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::{ABANDON_CLOCK_MAX_STEP_MS, REVOCATION_PAGE};
    use anteroom_config::RoomMode;

    const T0: u64 = 1_700_000_000_000;

    fn v(n: u64) -> VisitorId {
        let mut bytes = [0u8; 16];
        bytes[8..].copy_from_slice(&n.to_be_bytes());
        VisitorId(bytes)
    }

    fn room(mode: RoomMode, rate: f64, max_active: u64) -> RoomSettings {
        RoomSettings {
            mode,
            admit_per_second: rate,
            max_active,
            session_seconds: 60,
            abandon_after_seconds: 2,
            paused: false,
            sold_out: false,
            message: None,
        }
    }

    async fn store(settings: RoomSettings) -> (MemoryStore, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(T0));
        let store = MemoryStore::with_clock(clock.clone());
        store.init_room("r", &settings).await.expect("init");
        (store, clock)
    }

    #[tokio::test]
    async fn admits_exactly_the_configured_rate() {
        let mut settings = room(RoomMode::QueueAll, 50.0, 1_000_000);
        settings.abandon_after_seconds = 3600;
        let (store, clock) = store(settings).await;
        for n in 0..2000 {
            store.join("r", v(n)).await.expect("join");
        }
        let mut admitted = 0;
        for _ in 0..=100 {
            admitted += store.admit_tick("r").await.expect("tick").admitted;
            clock.advance(100);
        }
        // A full bucket (50) at t = 0, then 5 per 100 ms for 10 s.
        assert_eq!(admitted, 550);
        assert_eq!(store.stats("r").await.expect("stats").admitted_total, 550);
    }

    /// Ticks every 100 ms for `ms` (the gateways' rhythm): the abandonment clock follows.
    async fn tick_through(store: &MemoryStore, clock: &ManualClock, ms: u64) -> u64 {
        let mut abandoned = 0;
        for _ in 0..ms / 100 {
            clock.advance(100);
            abandoned += store.admit_tick("r").await.expect("tick").abandoned;
        }
        abandoned
    }

    #[tokio::test]
    async fn abandonment_and_expiry_happen_exactly_on_time() {
        let mut settings = room(RoomMode::QueueAll, 1000.0, 1);
        settings.paused = true;
        let (store, clock) = store(settings).await;
        store.admit_tick("r").await.expect("first tick");
        store.join("r", v(1)).await.expect("join");
        assert_eq!(tick_through(&store, &clock, 1900).await, 0);
        clock.advance(99);
        assert_eq!(store.admit_tick("r").await.expect("tick").abandoned, 0);
        clock.advance(1);
        assert_eq!(store.admit_tick("r").await.expect("tick").abandoned, 1);
        assert_eq!(
            store.status("r", v(1)).await.expect("status"),
            Placement::Absent
        );

        let resume = SettingsPatch {
            paused: Some(false),
            ..SettingsPatch::default()
        };
        store.update_settings("r", &resume).await.expect("resume");
        store.join("r", v(2)).await.expect("join");
        store.admit_tick("r").await.expect("tick");
        let expires = T0 + 2000 + 60_000;
        assert_eq!(
            store.status("r", v(2)).await.expect("status"),
            Placement::Admitted {
                expires_at_ms: expires
            }
        );
        clock.set(expires - 1);
        assert!(matches!(
            store.status("r", v(2)).await,
            Ok(Placement::Admitted { .. })
        ));
        clock.set(expires);
        assert_eq!(
            store.status("r", v(2)).await.expect("status"),
            Placement::Absent
        );
    }

    #[tokio::test]
    async fn time_without_ticks_does_not_count_toward_abandonment() {
        let mut settings = room(RoomMode::QueueAll, 1000.0, 10);
        settings.paused = true;
        let (store, clock) = store(settings).await;
        store.admit_tick("r").await.expect("first tick");
        store.join("r", v(1)).await.expect("join");
        store.join("r", v(2)).await.expect("join");
        // An hour with no tick (the store unreachable): the first tick after it moves the
        // abandonment clock by one step only.
        clock.advance(3_600_000);
        let tick = store.admit_tick("r").await.expect("tick after outage");
        assert_eq!((tick.abandoned, tick.waiting), (0, 2));
        // The visitors poll again within the window and keep their places, in order.
        assert_eq!(tick_through(&store, &clock, 500).await, 0);
        store.status("r", v(1)).await.expect("poll");
        assert_eq!(
            tick_through(&store, &clock, 1500).await,
            1,
            "v2 never came back"
        );
        assert_eq!(
            store.status("r", v(1)).await.expect("status"),
            Placement::Waiting {
                position: 1,
                waiting: 1,
                ticket: 1
            }
        );
    }

    #[tokio::test]
    async fn tick_work_is_bounded() {
        let mut settings = room(RoomMode::QueueAll, 100_000.0, u64::MAX);
        settings.paused = true;
        let (store, clock) = store(settings).await;
        store.admit_tick("r").await.expect("first tick");
        for n in 0..2500 {
            store.join("r", v(n)).await.expect("join");
        }
        for _ in 0..3 {
            clock.advance(ABANDON_CLOCK_MAX_STEP_MS);
            assert_eq!(store.admit_tick("r").await.expect("tick").abandoned, 0);
        }
        clock.advance(ABANDON_CLOCK_MAX_STEP_MS);
        let abandoned: Vec<u64> = {
            let mut out = Vec::new();
            for _ in 0..3 {
                out.push(store.admit_tick("r").await.expect("tick").abandoned);
            }
            out
        };
        assert_eq!(abandoned, vec![1000, 1000, 500]);
    }

    #[tokio::test]
    async fn revocations_are_paged_and_purged_on_time() {
        let (store, clock) = store(room(RoomMode::QueueAll, 10.0, 10)).await;
        for n in 0..(REVOCATION_PAGE as u64 + 1) {
            store.revoke("r", v(n)).await.expect("revoke");
        }
        let first = store.revocations_since("r", "").await.expect("page 1");
        assert_eq!(first.revocations.len(), REVOCATION_PAGE);
        assert!(first.more);
        let second = store
            .revocations_since("r", &first.cursor)
            .await
            .expect("page 2");
        assert_eq!(second.revocations.len(), 1);
        assert!(!second.more);
        assert_eq!(second.revocations[0].visitor, v(REVOCATION_PAGE as u64));
        assert_eq!(second.revocations[0].passes_expiring_by_ms, T0 + 60_000);
        // Kept until the passes it refuses have expired, plus the grace for lagging clocks.
        clock.set(T0 + 60_000 + REVOCATION_GRACE_MS - 1);
        let kept = store.revocations_since("r", "").await.expect("kept");
        assert_eq!(kept.revocations.len(), REVOCATION_PAGE);
        clock.set(T0 + 60_000 + REVOCATION_GRACE_MS);
        let purged = store.revocations_since("r", "").await.expect("purged");
        assert!(purged.revocations.is_empty());
    }
}
