//! The store owner: connects the store (retrying until it answers), seeds every room's
//! configured settings, then ticks admission and refreshes what this instance knows of each
//! room. Every instance ticks; the store's bucket keeps the rate global (ADR 0001).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use pingora::services::ServiceReadyNotifier;

use anteroom_queue::{QueueStore, StoreError};

use super::health::StoreHealth;
use crate::gateway::engine::{configured_settings, unix_now_ms};
use crate::gateway::{CurrentGateway, StoreSlot};
use crate::runtime::store_connect::{GuardFactory, StoreFactory};

/// How often admission runs. Short enough that every stream sees a tick within a second.
pub const TICK: Duration = Duration::from_millis(100);
/// How often live settings, revocations and figures are re-read: an operator's change
/// reaches every instance within a second.
pub const REFRESH_EVERY_TICKS: u32 = 5;
/// Most revocation pages one refresh reads per room; the rest follow at the next refresh.
const MAX_REVOCATION_PAGES: usize = 50;
/// Most frontier pages one tick reads per room; the rest follow at the next tick.
const MAX_FRONTIER_PAGES: usize = 50;
/// Visitors per `touch` call (one round trip each).
const TOUCH_BATCH: usize = 1000;

pub struct StoreOwner {
    /// Read afresh at every step: a reload's rooms are ticked from the next tick on.
    pub current: Arc<CurrentGateway>,
    pub slot: StoreSlot,
    pub factory: StoreFactory,
    pub guard_factory: GuardFactory,
    pub health: Arc<StoreHealth>,
    /// Ticks so far (what paces the keep-alive of streaming visitors' places).
    pub tick_count: std::sync::atomic::AtomicU32,
}

/// Ticks between two keep-alives of the places of visitors with an open stream: three per
/// abandonment window, so a place is marked seen well before it could be taken as abandoned
/// (at least once a second, at most every 30 s).
pub fn touch_interval_ticks(abandon_after_seconds: u64) -> u32 {
    let seconds = (abandon_after_seconds / 3).clamp(1, 30);
    let ticks = seconds.saturating_mul(1000) / (TICK.as_millis().max(1) as u64);
    u32::try_from(ticks.max(1)).unwrap_or(u32::MAX)
}

#[async_trait]
impl BackgroundService for StoreOwner {
    async fn start_with_ready_notifier(
        &self,
        mut shutdown: ShutdownWatch,
        ready: ServiceReadyNotifier,
    ) {
        let Some(store) = self.connect(&mut shutdown).await else {
            return;
        };
        let _ = self.slot.set(store.clone());
        self.health.store_answered();
        self.health.rooms_seeded();
        self.refresh(store.as_ref()).await;
        ready.notify_ready();
        log::info!("store connected; admission ticking every {:?}", TICK);

        let mut interval = tokio::time::interval(TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks: u32 = 0;
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = shutdown.changed() => return,
            }
            self.tick(store.as_ref()).await;
            ticks = ticks.wrapping_add(1);
            self.tick_count
                .store(ticks, std::sync::atomic::Ordering::Relaxed);
            if ticks.is_multiple_of(REFRESH_EVERY_TICKS) {
                self.refresh(store.as_ref()).await;
            }
        }
    }

    async fn start(&self, _shutdown: ShutdownWatch) {}
}

impl StoreOwner {
    async fn connect(&self, shutdown: &mut ShutdownWatch) -> Option<Arc<dyn QueueStore>> {
        let mut delay = Duration::from_millis(200);
        loop {
            match (self.factory)().await {
                Ok(store) => match self.seed(store.as_ref()).await {
                    Ok(()) => match (self.guard_factory)(store.clone()).await {
                        Ok(guard) => {
                            self.current.get().guard.connect(guard);
                            return Some(store);
                        }
                        Err(error) => log::error!("bot guard store connection failed: {error}"),
                    },
                    Err(error) => log::error!("store connected but seeding rooms failed: {error}"),
                },
                Err(error) => {
                    log::error!("store connection failed: {error}; retrying in {delay:?}")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => return None,
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    async fn seed(&self, store: &dyn QueueStore) -> Result<(), StoreError> {
        for room in &self.current.get().rooms {
            store
                .init_room(&room.config.id, &configured_settings(&room.config))
                .await?;
        }
        Ok(())
    }

    /// One admission step for every room. The store counts as reachable when every call
    /// of the round got an answer from it.
    async fn tick(&self, store: &dyn QueueStore) {
        let gateway = &self.current.get();
        let mut answered = true;
        if gateway.rooms.is_empty() {
            answered = gateway.timed("ping", store.ping()).await.is_ok();
        }
        for (index, room) in gateway.rooms.iter().enumerate() {
            let id = room.config.id.as_str();
            let outcome = match gateway.timed("admit_tick", store.admit_tick(id)).await {
                Ok(outcome) => outcome,
                // The store forgot the room (a flush, a Redis restart without persistence).
                Err(StoreError::Invalid(_)) => {
                    self.restore(gateway, store, index).await;
                    continue;
                }
                Err(StoreError::Protocol(_)) => continue,
                Err(StoreError::Unavailable(_)) => {
                    answered = false;
                    continue;
                }
            };
            gateway
                .metrics
                .admitted_total
                .with_label_values(&[id])
                .inc_by(outcome.admitted);
            gateway
                .metrics
                .set_room_figures(id, outcome.waiting, outcome.active);
            if !self.follow_line(gateway, store, index).await {
                answered = false;
            }
        }
        if answered {
            self.health.store_answered();
        }
    }

    /// For a room with streams open here: read what changed in its line since the last
    /// tick (one call; more only after a burst of over a thousand removals) and wake its
    /// streams; now and then keep their visitors' places alive. False when the store did
    /// not answer.
    async fn follow_line(
        &self,
        gateway: &crate::gateway::Gateway,
        store: &dyn QueueStore,
        index: usize,
    ) -> bool {
        let (Some(feed), Some(room)) = (gateway.streams.feed(index), gateway.rooms.get(index))
        else {
            return true;
        };
        if !feed.has_streams() {
            return true;
        }
        let id = room.config.id.as_str();
        let live = room.live();
        for _ in 0..MAX_FRONTIER_PAGES {
            match gateway
                .timed("frontier", store.frontier(id, feed.cursor()))
                .await
            {
                Ok(page) => {
                    if !feed.publish(Some(&page), &live) {
                        break;
                    }
                }
                Err(StoreError::Unavailable(_)) => return false,
                Err(_) => break,
            }
        }

        let touch_every = touch_interval_ticks(live.settings.abandon_after_seconds);
        let due = self
            .tick_count
            .load(std::sync::atomic::Ordering::Relaxed)
            .is_multiple_of(touch_every);
        if due {
            for batch in feed.connected_visitors().chunks(TOUCH_BATCH) {
                if let Err(StoreError::Unavailable(_)) =
                    gateway.timed("touch", store.touch(id, batch)).await
                {
                    return false;
                }
            }
        }
        true
    }

    /// Seed a room the store lost with what this instance last saw of it — its live
    /// settings (runtime flags such as `paused` and `sold_out` included, not the config's)
    /// and the revocations still in force — so the line rebuilds without reopening a sold-out
    /// sale or forgetting who was revoked.
    async fn restore(
        &self,
        gateway: &crate::gateway::Gateway,
        store: &dyn QueueStore,
        index: usize,
    ) {
        let Some(room) = gateway.rooms.get(index) else {
            return;
        };
        let id = room.config.id.as_str();
        let live = room.live();
        let configured = configured_settings(&room.config);
        match store.restore_room(id, &configured, &live.settings).await {
            Ok((_, false)) => {}
            Ok((_, true)) => {
                log::warn!("room {id} was missing from the store: restored its live settings");
                if let Err(error) = store.restore_revocations(id, &live.revocations()).await {
                    log::warn!("restoring revocations of room {id} failed: {error}");
                }
            }
            Err(error) => log::warn!("restoring room {id} failed: {error}"),
        }
    }

    /// Take the room's live bot-guard change from the store when another instance made one.
    async fn refresh_guard_rules(&self, gateway: &crate::gateway::Gateway, index: usize, id: &str) {
        let guard = &gateway.guard;
        let Some(store) = guard.store() else {
            return;
        };
        let Ok(stored) = store.rules(id).await else {
            return;
        };
        let live = match stored {
            Some(text) => match serde_json::from_str(&text)
                .map_err(|error| vec![error.to_string()])
                .and_then(|value| crate::gateway::guard_rules::parse_live(&value))
            {
                Ok(live) => live,
                Err(problems) => {
                    log::warn!("room {id}: stored bot-guard rules unreadable: {problems:?}");
                    return;
                }
            },
            None => Default::default(),
        };
        if live != guard.live(index) {
            guard.apply_live(index, live);
        }
    }

    /// Re-read each room's settings, new revocations and figures into this instance. The
    /// store is read first and what it said applied in one step, so a revocation this
    /// instance recorded meanwhile (admin revoke, leave) is never overwritten.
    pub async fn refresh(&self, store: &dyn QueueStore) {
        let gateway = &self.current.get();
        for (index, room) in gateway.rooms.iter().enumerate() {
            let id = room.config.id.as_str();
            let Ok(settings) = gateway.timed("settings", store.settings(id)).await else {
                continue;
            };
            let mut cursor = room.live().revocation_cursor.clone();
            let mut revocations = Vec::new();
            for _ in 0..MAX_REVOCATION_PAGES {
                let Ok(page) = gateway
                    .timed("revocations", store.revocations_since(id, &cursor))
                    .await
                else {
                    break;
                };
                revocations.extend(page.revocations);
                cursor = page.cursor;
                if !page.more {
                    break;
                }
            }
            self.refresh_guard_rules(gateway, index, id).await;
            let stats = gateway.timed("stats", store.stats(id)).await.ok();
            if let Some(stats) = stats {
                gateway
                    .metrics
                    .set_room_figures(id, stats.waiting, stats.active);
            }
            gateway.update_live(index, |live| {
                live.settings = settings;
                live.add_revocations(revocations);
                live.revocation_cursor = cursor;
                live.prune_revocations(unix_now_ms());
                if let Some(stats) = stats {
                    live.waiting = stats.waiting;
                    live.active = stats.active;
                    live.admissions.record(unix_now_ms(), stats.admitted_total);
                }
            });
            if let Some(feed) = gateway.streams.feed(index) {
                // Operator changes (pause, message, sold out) reach open streams now.
                feed.publish(None, &room.live());
            }
        }
    }
}
