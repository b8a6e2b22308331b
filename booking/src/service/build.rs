//! Building the service a config describes: the one place that picks the hold store and
//! ledger implementations.

use std::sync::Arc;

use anteroom_admission::Keyring;
use anteroom_bot_guard::{GuardStore, MemoryGuardStore, RedisGuardStore};
use anteroom_config::{BookingConfig, StoreBackend};
use anteroom_queue::{QueueStore, RedisOptions};

use super::{BookingError, BookingService};
use crate::holds::{HoldStore, MemoryHolds, RedisHolds};
use crate::ledger;

/// [`build_with_rooms`] without a given queue store: with `[store] backend = "redis"` the
/// gateway's store is reached at the same URL, with `memory` there is none to tell (a
/// separate process cannot see a gateway's memory store) and sold out is not signalled.
pub async fn build(config: &BookingConfig) -> Result<Arc<BookingService>, BookingError> {
    build_with_rooms(config, None).await
}

/// Hold store, ledger (migrated), keys, and the queue store where a sold-out event's room is
/// marked (`rooms`; when None and the hold store is Redis, the gateway's `RedisStore` at the
/// same URL). Then [`BookingService::reconcile`]: the hold store re-learns the ledger's
/// bookings and sold-out rooms are marked, so a restart after a Redis flush sells nothing
/// twice and hides nothing that is sold out; and [`super::watch_hold_store`] does the same
/// whenever the hold store is flushed while the service runs (needs a tokio runtime).
pub async fn build_with_rooms(
    config: &BookingConfig,
    rooms: Option<Arc<dyn QueueStore>>,
) -> Result<Arc<BookingService>, BookingError> {
    let keyring = Keyring::from_config(&config.keys)?;
    type Stores = (
        Arc<dyn HoldStore>,
        Option<Arc<dyn QueueStore>>,
        Arc<dyn GuardStore>,
    );
    let (holds, rooms, guard): Stores = match (config.store.backend, config.store.url.as_deref()) {
        (StoreBackend::Redis, Some(url)) => {
            let options = RedisOptions {
                tls_ca: config.store.tls_ca.clone(),
                ..RedisOptions::default()
            };
            let holds = Arc::new(RedisHolds::connect(url, options.clone()).await?);
            // Hold attempts are counted on the same Redis: the limits hold for the sum of
            // every booking instance.
            let guard = Arc::new(RedisGuardStore::connect(url, options.clone()).await?);
            let rooms = match rooms {
                Some(rooms) => rooms,
                None => Arc::new(anteroom_queue::RedisStore::connect(url, options).await?),
            };
            (holds, Some(rooms), guard)
        }
        // The config refuses redis without a url; memory otherwise.
        _ => (
            Arc::new(MemoryHolds::new()),
            rooms,
            Arc::new(MemoryGuardStore::new()),
        ),
    };
    let ledger = ledger::open_url(&config.database_url).await?;
    let service = Arc::new(
        BookingService::new(
            holds,
            ledger,
            keyring,
            config.admin.token.as_ref().map(|token| token.0.clone()),
            config.holds,
            rooms,
        )
        .with_attempt_guard(guard, config.trusted_proxies.clone())
        .with_waitlist_config(config.waitlist.clone()),
    );
    service.reconcile().await?;
    super::watch_hold_store(&service, super::FLUSH_CHECK_EVERY);
    super::run_promoter(&service);
    super::run_relay(&service)?;
    Ok(service)
}
