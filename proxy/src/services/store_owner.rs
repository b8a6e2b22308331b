//! The store owner: connects the store (retrying until it answers), seeds every room's
//! configured settings, then ticks admission and refreshes what this instance knows of each
//! room. Every instance ticks; the store's bucket keeps the rate global (ADR 0001).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use pingora::services::ServiceReadyNotifier;

use anteroom_queue::{QueueStore, StoreError};

use crate::core::gateway::configured_settings;
use crate::core::{Gateway, LiveRoom, StoreSlot};
use crate::store_connect::StoreFactory;

/// How often admission runs. Short enough that every stream sees a tick within a second.
pub const TICK: Duration = Duration::from_millis(100);
/// How often live settings, revocations and figures are re-read: an operator's change
/// reaches every instance within a second.
pub const REFRESH_EVERY_TICKS: u32 = 5;

pub struct StoreOwner {
    pub gateway: Arc<Gateway>,
    pub slot: StoreSlot,
    pub factory: StoreFactory,
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
                    Ok(()) => return Some(store),
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

    async fn seed(&self, store: &dyn QueueStore) -> Result<(), anteroom_queue::StoreError> {
        for room in &self.gateway.rooms {
            store
                .init_room(&room.config.id, &configured_settings(&room.config))
                .await?;
        }
        Ok(())
    }

    async fn tick(&self, store: &dyn QueueStore) {
        let gateway = &self.gateway;
        for room in &gateway.rooms {
            let id = room.config.id.as_str();
            let outcome = match gateway.timed("admit_tick", store.admit_tick(id)).await {
                Ok(outcome) => outcome,
                // The store forgot the room (a Redis restart without persistence, a flush):
                // seed it again so the line can rebuild instead of failing forever.
                Err(StoreError::Invalid(_)) => {
                    if let Err(error) = store
                        .init_room(id, &configured_settings(&room.config))
                        .await
                    {
                        log::warn!("re-seeding room {id} failed: {error}");
                    }
                    continue;
                }
                Err(_) => continue,
            };
            gateway
                .metrics
                .admitted_total
                .with_label_values(&[id])
                .inc_by(outcome.admitted);
            gateway
                .metrics
                .set_room_figures(id, outcome.waiting, outcome.active);
        }
    }

    /// Re-read each room's settings, revocations and figures into this instance.
    pub async fn refresh(&self, store: &dyn QueueStore) {
        let gateway = &self.gateway;
        for (index, room) in gateway.rooms.iter().enumerate() {
            let id = room.config.id.as_str();
            let Ok(settings) = gateway.timed("settings", store.settings(id)).await else {
                continue;
            };
            let revoked: HashMap<_, _> = gateway
                .timed("revocations", store.revocations(id))
                .await
                .map(|list| list.into_iter().collect())
                .unwrap_or_else(|_| room.live().revoked.clone());
            let stats = gateway.timed("stats", store.stats(id)).await.ok();
            let mut live = LiveRoom::new(settings);
            live.revoked = revoked;
            if let Some(stats) = stats {
                live.waiting = stats.waiting;
                live.active = stats.active;
                gateway
                    .metrics
                    .set_room_figures(id, stats.waiting, stats.active);
            }
            gateway.set_live(index, live);
        }
    }
}
