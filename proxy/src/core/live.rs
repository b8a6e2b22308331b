//! What this instance currently knows of a room's shared state: the live settings, the
//! revocations in force and the latest figures. Refreshed by the ticker from the store;
//! read on every request without a store round trip.

use std::collections::HashMap;

use anteroom_admission::VisitorId;
use anteroom_queue::RoomSettings;

#[derive(Debug, Clone)]
pub struct LiveRoom {
    pub settings: RoomSettings,
    /// visitor -> revoked_at (unix ms): passes issued at or before it are refused.
    pub revoked: HashMap<VisitorId, u64>,
    pub waiting: u64,
    pub active: u64,
}

impl LiveRoom {
    pub fn new(settings: RoomSettings) -> LiveRoom {
        LiveRoom {
            settings,
            revoked: HashMap::new(),
            waiting: 0,
            active: 0,
        }
    }

    /// A pass issued at `issued_at` (unix s) for this visitor was revoked since.
    pub fn is_revoked(&self, visitor: &VisitorId, issued_at: u64) -> bool {
        match self.revoked.get(visitor) {
            Some(revoked_at_ms) => issued_at.saturating_mul(1000) <= *revoked_at_ms,
            None => false,
        }
    }
}
