//! `MemoryHolds`: seat holds for a single node (the embedded default and the demo), with
//! the same semantics as `RedisHolds`. One lock, never held across an await.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use anteroom_admission::VisitorId;
use anteroom_queue::{Clock, SystemClock};

use super::{check_capacity, validate_event, validate_seats, HoldError, HoldStore};
use crate::{new_id, Hold};

#[derive(Default)]
struct EventHolds {
    /// seat -> hold id holding it
    seats: HashMap<String, String>,
    holds: HashMap<String, Hold>,
    /// (expires_at_ms, hold id) of every live hold: expiry pops from the front instead of
    /// scanning every hold on every call.
    expiries: BTreeSet<(u64, String)>,
    /// Places each holder holds in live holds (the per-visitor cap); entries at zero removed.
    held_by: HashMap<VisitorId, u64>,
    /// GA places in live holds.
    ga_held: u64,
    booked: HashSet<String>,
    consumed: HashSet<String>,
    fence: u64,
    capacity: Option<u64>,
    consumed_quantity: u64,
}

impl EventHolds {
    /// Expired holds vanish, as their Redis keys would.
    fn reclaim(&mut self, now: u64) {
        while let Some((expires, id)) = self.expiries.first().cloned() {
            if expires > now {
                break;
            }
            self.drop_hold(&id);
        }
    }

    fn insert_hold(&mut self, hold: Hold) {
        for seat in &hold.seats {
            self.seats.insert(seat.clone(), hold.hold_id.clone());
        }
        if hold.seats.is_empty() {
            self.ga_held += hold.quantity;
        }
        *self.held_by.entry(hold.holder).or_default() += hold.quantity;
        self.expiries
            .insert((hold.expires_at_ms, hold.hold_id.clone()));
        self.holds.insert(hold.hold_id.clone(), hold);
    }

    fn drop_hold(&mut self, id: &str) {
        let Some(hold) = self.holds.remove(id) else {
            return;
        };
        for seat in &hold.seats {
            if self.seats.get(seat).map(String::as_str) == Some(id) {
                self.seats.remove(seat);
            }
        }
        if hold.seats.is_empty() {
            self.ga_held = self.ga_held.saturating_sub(hold.quantity);
        }
        if let Some(held) = self.held_by.get_mut(&hold.holder) {
            *held = held.saturating_sub(hold.quantity);
            if *held == 0 {
                self.held_by.remove(&hold.holder);
            }
        }
        self.expiries.remove(&(hold.expires_at_ms, hold.hold_id));
    }

    fn held_by(&self, holder: VisitorId) -> u64 {
        self.held_by.get(&holder).copied().unwrap_or(0)
    }

    fn available(&self) -> Option<u64> {
        self.capacity
            .map(|capacity| capacity.saturating_sub(self.ga_held + self.consumed_quantity))
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
    /// Never lost while the process lives (a memory store is not flushed under it).
    intact: std::sync::atomic::AtomicBool,
}

impl Default for MemoryHolds {
    fn default() -> Self {
        MemoryHolds::new()
    }
}

impl MemoryHolds {
    /// On the system clock.
    pub fn new() -> MemoryHolds {
        MemoryHolds::with_clock(Arc::new(SystemClock))
    }

    /// On any clock (`anteroom_queue::ManualClock` makes expiry exact in tests).
    pub fn with_clock(clock: Arc<dyn Clock>) -> MemoryHolds {
        MemoryHolds {
            events: Mutex::new(HashMap::new()),
            clock,
            intact: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn events(&self) -> MutexGuard<'_, HashMap<String, EventHolds>> {
        // Nothing done under the lock panics (checks first, then plain collection updates),
        // so a poisoned lock would still guard consistent state: keep serving.
        self.events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Run `f` on the event's state (created if new) after reclaiming expired holds.
    fn with_event<T>(
        &self,
        event: &str,
        f: impl FnOnce(&mut EventHolds, u64) -> Result<T, HoldError>,
    ) -> Result<T, HoldError> {
        validate_event(event)?;
        let now = self.clock.now_ms();
        let mut events = self.events();
        let state = events.entry(event.to_string()).or_default();
        state.reclaim(now);
        f(state, now)
    }

    /// Like `with_event` for calls that only look or remove: an unknown event answers
    /// `absent` instead of leaving an empty entry behind (ids come from the outside).
    fn with_known_event<T>(
        &self,
        event: &str,
        absent: T,
        f: impl FnOnce(&mut EventHolds) -> T,
    ) -> Result<T, HoldError> {
        validate_event(event)?;
        let now = self.clock.now_ms();
        let mut events = self.events();
        Ok(match events.get_mut(event) {
            Some(state) => {
                state.reclaim(now);
                f(state)
            }
            None => absent,
        })
    }
}

fn no_capacity(event: &str) -> HoldError {
    HoldError::Invalid(format!("event `{event}` has no general-admission capacity"))
}

#[async_trait]
impl HoldStore for MemoryHolds {
    async fn seed_capacity(&self, event: &str, capacity: u64, sold: u64) -> Result<(), HoldError> {
        check_capacity(capacity, sold)?;
        self.with_event(event, |state, _| match state.capacity {
            Some(existing) if existing != capacity => Err(HoldError::Invalid(format!(
                "event `{event}` already has capacity {existing}"
            ))),
            Some(_) => Ok(()),
            None => {
                state.capacity = Some(capacity);
                state.consumed_quantity = sold;
                Ok(())
            }
        })
    }

    async fn intact(&self) -> Result<bool, HoldError> {
        Ok(self.intact.load(std::sync::atomic::Ordering::SeqCst))
    }

    async fn mark_intact(&self) -> Result<(), HoldError> {
        self.intact.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
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
                expires_at_ms: now.saturating_add(ttl_ms.max(1)),
                fencing_token: state.next_fence(now),
            };
            state.insert_hold(hold.clone());
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
            let available = state.available().ok_or_else(|| no_capacity(event))?;
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
                expires_at_ms: now.saturating_add(ttl_ms.max(1)),
                fencing_token: state.next_fence(now),
            };
            state.insert_hold(hold.clone());
            Ok(hold)
        })
    }

    async fn get(&self, event: &str, hold_id: &str) -> Result<Option<Hold>, HoldError> {
        self.with_known_event(event, None, |state| state.holds.get(hold_id).cloned())
    }

    async fn release(
        &self,
        event: &str,
        hold_id: &str,
        holder: VisitorId,
    ) -> Result<bool, HoldError> {
        self.with_known_event(event, false, |state| {
            let mine = state
                .holds
                .get(hold_id)
                .is_some_and(|hold| hold.holder == holder);
            if mine {
                state.drop_hold(hold_id);
            }
            mine
        })
    }

    async fn consume(&self, hold: &Hold) -> Result<(), HoldError> {
        self.with_event(&hold.event, |state, _| {
            if !state.consumed.insert(hold.hold_id.clone()) {
                return Ok(());
            }
            // Works even if the hold expired meanwhile: the ledger's word is final.
            state.drop_hold(&hold.hold_id);
            state.booked.extend(hold.seats.iter().cloned());
            if hold.seats.is_empty() {
                state.consumed_quantity += hold.quantity;
            }
            Ok(())
        })
    }

    async fn mark_booked(&self, event: &str, seats: &[String]) -> Result<(), HoldError> {
        if seats.is_empty() {
            return Ok(());
        }
        let seats = validate_seats(seats)?;
        self.with_event(event, |state, _| {
            state.booked.extend(seats);
            Ok(())
        })
    }

    async fn return_to_sale(
        &self,
        event: &str,
        seats: &[String],
        quantity: u64,
    ) -> Result<(), HoldError> {
        let seats = if seats.is_empty() {
            Vec::new()
        } else {
            validate_seats(seats)?
        };
        self.with_event(event, |state, _| {
            if seats.is_empty() {
                state.consumed_quantity = state.consumed_quantity.saturating_sub(quantity);
            }
            for seat in &seats {
                state.booked.remove(seat);
            }
            Ok(())
        })
    }

    async fn held_seats(&self, event: &str) -> Result<Vec<String>, HoldError> {
        let mut seats = self.with_known_event(event, Vec::new(), |state| {
            state.seats.keys().cloned().collect::<Vec<_>>()
        })?;
        seats.sort();
        Ok(seats)
    }

    async fn available(&self, event: &str) -> Result<u64, HoldError> {
        self.with_known_event(event, None, |state| state.available())?
            .ok_or_else(|| no_capacity(event))
    }
}
