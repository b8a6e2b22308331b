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
use crate::settings::{settings_digest, validate_patch, validate_settings};
use crate::store::{
    Placement, QueueStore, RoomSettings, RoomStats, SettingsPatch, StoreError, TickOutcome,
};
use room::Room;

pub struct MemoryStore {
    clock: Arc<dyn Clock>,
    rooms: RwLock<HashMap<String, Arc<Mutex<Room>>>>,
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
        }
    }

    fn room(&self, room: &str) -> Result<Arc<Mutex<Room>>, StoreError> {
        let rooms = self.rooms.read().unwrap_or_else(|e| e.into_inner());
        rooms
            .get(room)
            .cloned()
            .ok_or_else(|| StoreError::Invalid(format!("unknown room `{room}`: init_room first")))
    }

    /// Run `f` on the room under its lock with the current time.
    fn with_room<T>(&self, room: &str, f: impl FnOnce(&mut Room, u64) -> T) -> Result<T, StoreError> {
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
            let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
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
            guard.settings = configured.clone();
            guard.digest = digest;
        }
        Ok(guard.settings.clone())
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

    async fn join(&self, room: &str, visitor: VisitorId) -> Result<Placement, StoreError> {
        self.with_room(room, |r, now| r.join(visitor, now))
    }

    async fn status(&self, room: &str, visitor: VisitorId) -> Result<Placement, StoreError> {
        self.with_room(room, |r, now| r.status(visitor, now))
    }

    async fn leave(&self, room: &str, visitor: VisitorId) -> Result<bool, StoreError> {
        self.with_room(room, |r, now| r.leave(visitor, now))
    }

    async fn renew(&self, room: &str, visitor: VisitorId) -> Result<Option<u64>, StoreError> {
        self.with_room(room, |r, now| r.renew(visitor, now))
    }

    async fn revoke(&self, room: &str, visitor: VisitorId) -> Result<bool, StoreError> {
        self.with_room(room, |r, now| r.revoke(visitor, now))
    }

    async fn revocations(&self, room: &str) -> Result<Vec<(VisitorId, u64)>, StoreError> {
        self.with_room(room, |r, now| r.revocations(now))
    }

    async fn admit_tick(&self, room: &str) -> Result<TickOutcome, StoreError> {
        self.with_room(room, |r, now| r.admit_tick(now))
    }

    async fn stats(&self, room: &str) -> Result<RoomStats, StoreError> {
        self.with_room(room, |r, now| r.stats(now))
    }
}
