//! What the health endpoints report: whether the store answered recently (the ticker's
//! last round that reached it) and whether every room is seeded. Read without a store
//! round trip, so a probe never waits on a dead Redis.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The store counts as reachable while its last answer is at most this old. The ticker
/// reaches it every 100 ms, and a call to a dead Redis fails within its 2 s timeout.
pub const STORE_FRESH_FOR: Duration = Duration::from_secs(3);

#[derive(Debug)]
pub struct StoreHealth {
    started: Instant,
    /// Milliseconds after `started` of the store's last answer, plus one; 0 = never.
    last_answer_ms: AtomicU64,
    rooms_seeded: AtomicBool,
}

impl Default for StoreHealth {
    fn default() -> Self {
        StoreHealth::new()
    }
}

impl StoreHealth {
    pub fn new() -> StoreHealth {
        StoreHealth {
            started: Instant::now(),
            last_answer_ms: AtomicU64::new(0),
            rooms_seeded: AtomicBool::new(false),
        }
    }

    /// The store answered a round trip just now.
    pub fn store_answered(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.last_answer_ms.store(ms + 1, Ordering::Relaxed);
    }

    pub fn rooms_seeded(&self) {
        self.rooms_seeded.store(true, Ordering::Relaxed);
    }

    /// How long ago the store last answered; None if it never did.
    pub fn since_last_answer(&self) -> Option<Duration> {
        match self.last_answer_ms.load(Ordering::Relaxed) {
            0 => None,
            stamp => {
                let answered = Duration::from_millis(stamp - 1);
                Some(self.started.elapsed().saturating_sub(answered))
            }
        }
    }

    pub fn store_reachable(&self) -> bool {
        self.since_last_answer()
            .is_some_and(|age| age <= STORE_FRESH_FOR)
    }

    /// `/healthz`: 200 while the store is reachable now, else 503; the body says which.
    pub fn healthz(&self) -> (u16, Value) {
        let reachable = self.store_reachable();
        let body = json!({
            "store_connected": reachable,
            "store_last_answer_ms_ago": self.since_last_answer().map(|age| age.as_millis() as u64),
        });
        (if reachable { 200 } else { 503 }, body)
    }

    /// `/readyz`: 200 once this instance can serve the queue: the store reachable now,
    /// every room seeded into it, the signing keys loaded (`keys` of them).
    pub fn readyz(&self, keys: usize) -> (u16, Value) {
        let reachable = self.store_reachable();
        let seeded = self.rooms_seeded.load(Ordering::Relaxed);
        let ready = reachable && seeded && keys > 0;
        let body = json!({
            "ready": ready,
            "store_connected": reachable,
            "rooms_seeded": seeded,
            "keys_loaded": keys,
        });
        (if ready { 200 } else { 503 }, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_until_the_store_answers_then_ready_once_seeded() {
        let health = StoreHealth::new();
        assert_eq!(health.healthz().0, 503);
        assert_eq!(health.readyz(1).0, 503);
        health.store_answered();
        assert!(health.store_reachable());
        assert_eq!(health.healthz().0, 200);
        assert_eq!(health.readyz(1).0, 503, "rooms not seeded yet");
        health.rooms_seeded();
        assert_eq!(health.readyz(1).0, 200);
        assert_eq!(health.readyz(0).0, 503, "no keys");
    }

    #[test]
    fn a_stale_answer_is_not_reachable() {
        let long_ago = StoreHealth {
            started: Instant::now() - STORE_FRESH_FOR - Duration::from_secs(1),
            last_answer_ms: AtomicU64::new(1),
            rooms_seeded: AtomicBool::new(true),
        };
        assert!(!long_ago.store_reachable());
        assert_eq!(long_ago.healthz().0, 503);
    }
}
