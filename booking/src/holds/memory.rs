//! `MemoryHolds`: seat holds for a single node (the embedded default and the demo), with
//! the same semantics as `RedisHolds`. One lock, never held across an await.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use anteroom_admission::VisitorId;
use anteroom_queue::{Clock, SystemClock};

use super::{validate_seats, HoldError, HoldStore};
use crate::{new_id, Hold};

#[derive(Default)]
struct EventHolds {
    /// seat -> hold id holding it
    seats: HashMap<String, String>,
    holds: BTreeMap<String, Hold>,
    booked: HashSet<String>,
    consumed: HashSet<String>,
    fence: u64,
    capacity: Option<u64>,
    consumed_quantity: u64,
}

impl EventHolds {
    /// Expired holds vanish, as their Redis keys would.
    fn reclaim(&mut self, now: u64) {
        let expired: Vec<String> = self
            .holds
            .iter()
            .filter(|(_, hold)| hold.expires_at_ms <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.drop_hold(&id);
        }
    }

    fn drop_hold(&mut self, id: &str) {
        if let Some(hold) = self.holds.remove(id) {
            for seat in &hold.seats {
                if self.seats.get(seat).map(String::as_str) == Some(id) {
                    self.seats.remove(seat);
                }
            }
        }
    }

    fn held_by(&self, holder: VisitorId) -> u64 {
        self.holds
            .values()
            .filter(|hold| hold.holder == holder)
            .map(|hold| hold.quantity)
            .sum()
    }

    fn ga_held(&self) -> u64 {
        self.holds
            .values()
            .filter(|hold| hold.seats.is_empty())
            .map(|hold| hold.quantity)
            .sum()
    }

    /// Monotonic, floored by the clock in microseconds like the Redis store's.
    fn next_fence(&mut self, now_ms: u64) -> u64 {
        self.fence = (self.fence + 1).max(now_ms.saturating_mul(1000));
        self.fence
    }
}

pub struct MemoryHolds {
    events: Mutex<HashMap<String, EventHolds>>,
    clock: Arc<dyn Clock>,
}

impl Default for MemoryHolds {
    fn default() -> Self {
        MemoryHolds::new()
    }
}

impl MemoryHolds {
    pub fn new() -> MemoryHolds {
        MemoryHolds::with_clock(Arc::new(SystemClock))
    }

    pub fn with_clock(clock: Arc<dyn Clock>) -> MemoryHolds {
        MemoryHolds {
            events: Mutex::new(HashMap::new()),
            clock,
        }
    }

    fn events(&self) -> MutexGuard<'_, HashMap<String, EventHolds>> {
        // A panic while holding the lock cannot leave a half-applied hold (every change is
        // computed before it is applied), so a poisoned lock is still consistent.
        self.events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Run `f` on the event's state after reclaiming expired holds.
    fn with_event<T>(&self, event: &str, f: impl FnOnce(&mut EventHolds, u64) -> T) -> T {
        let now = self.clock.now_ms();
        let mut events = self.events();
        let state = events.entry(event.to_string()).or_default();
        state.reclaim(now);
        f(state, now)
    }
}

#[async_trait]
impl HoldStore for MemoryHolds {
    async fn init_capacity(&self, event: &str, capacity: u64) -> Result<(), HoldError> {
        if capacity == 0 {
            return Err(HoldError::Invalid("capacity must be at least 1".into()));
        }
        self.with_event(event, |state, _| match state.capacity {
            Some(existing) if existing != capacity => Err(HoldError::Invalid(format!(
                "event `{event}` already has capacity {existing}"
            ))),
            _ => {
                state.capacity = Some(capacity);
                Ok(())
            }
        })
    }

    async fn hold_seats(
        &self,
        event: &str,
        seats: &[String],
        holder: VisitorId,
        ttl_ms: u64,
        max_per_holder: u64,
    ) -> Result<Hold, HoldError> {
        let seats = validate_seats(seats)?;
        self.with_event(event, |state, now| {
            let taken: Vec<String> = seats
                .iter()
                .filter(|seat| state.booked.contains(*seat) || state.seats.contains_key(*seat))
                .cloned()
                .collect();
            if !taken.is_empty() {
                return Err(HoldError::SeatTaken(taken));
            }
            if state.held_by(holder) + seats.len() as u64 > max_per_holder {
                return Err(HoldError::TooManySeats {
                    limit: max_per_holder,
                });
            }
            let hold = Hold {
                hold_id: format!("{}.{event}", new_id()),
                event: event.to_string(),
                holder,
                quantity: seats.len() as u64,
                seats,
                expires_at_ms: now + ttl_ms.max(1),
                fencing_token: state.next_fence(now),
            };
            for seat in &hold.seats {
                state.seats.insert(seat.clone(), hold.hold_id.clone());
            }
            state.holds.insert(hold.hold_id.clone(), hold.clone());
            Ok(hold)
        })
    }

    async fn hold_quantity(
        &self,
        event: &str,
        quantity: u64,
        holder: VisitorId,
        ttl_ms: u64,
        max_per_holder: u64,
    ) -> Result<Hold, HoldError> {
        if quantity == 0 {
            return Err(HoldError::Invalid("quantity must be at least 1".into()));
        }
        self.with_event(event, |state, now| {
            let Some(capacity) = state.capacity else {
                return Err(HoldError::Invalid(format!(
                    "event `{event}` has no general-admission capacity"
                )));
            };
            let available = capacity.saturating_sub(state.ga_held() + state.consumed_quantity);
            if quantity > available {
                return Err(HoldError::NotEnoughLeft { available });
            }
            if state.held_by(holder) + quantity > max_per_holder {
                return Err(HoldError::TooManySeats {
                    limit: max_per_holder,
                });
            }
            let hold = Hold {
                hold_id: format!("{}.{event}", new_id()),
                event: event.to_string(),
                holder,
                seats: Vec::new(),
                quantity,
                expires_at_ms: now + ttl_ms.max(1),
                fencing_token: state.next_fence(now),
            };
            state.holds.insert(hold.hold_id.clone(), hold.clone());
            Ok(hold)
        })
    }

    async fn get(&self, event: &str, hold_id: &str) -> Result<Option<Hold>, HoldError> {
        Ok(self.with_event(event, |state, _| state.holds.get(hold_id).cloned()))
    }

    async fn release(
        &self,
        event: &str,
        hold_id: &str,
        holder: VisitorId,
    ) -> Result<bool, HoldError> {
        Ok(self.with_event(event, |state, _| {
            let mine = state
                .holds
                .get(hold_id)
                .is_some_and(|hold| hold.holder == holder);
            if mine {
                state.drop_hold(hold_id);
            }
            mine
        }))
    }

    async fn consume(&self, hold: &Hold) -> Result<(), HoldError> {
        self.with_event(&hold.event, |state, _| {
            if !state.consumed.insert(hold.hold_id.clone()) {
                return;
            }
            state.drop_hold(&hold.hold_id);
            state.booked.extend(hold.seats.iter().cloned());
            if hold.seats.is_empty() {
                state.consumed_quantity += hold.quantity;
            }
        });
        Ok(())
    }

    async fn mark_booked(&self, event: &str, seats: &[String]) -> Result<(), HoldError> {
        let seats = validate_seats(seats)?;
        self.with_event(event, |state, _| state.booked.extend(seats));
        Ok(())
    }

    async fn held_seats(&self, event: &str) -> Result<Vec<String>, HoldError> {
        let mut seats = self.with_event(event, |state, _| {
            state.seats.keys().cloned().collect::<Vec<_>>()
        });
        seats.sort();
        Ok(seats)
    }

    async fn available(&self, event: &str) -> Result<u64, HoldError> {
        self.with_event(event, |state, _| match state.capacity {
            Some(capacity) => {
                Ok(capacity.saturating_sub(state.ga_held() + state.consumed_quantity))
            }
            None => Err(HoldError::Invalid(format!(
                "event `{event}` has no general-admission capacity"
            ))),
        })
    }
}
