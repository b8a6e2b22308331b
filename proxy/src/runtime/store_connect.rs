//! Building the configured store. A factory (not a store) is handed to the store owner so
//! the connection is made on the runtime that will keep it alive.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use anteroom_bot_guard::{GuardStore, MemoryGuardStore, RedisGuardStore};
use anteroom_config::{StoreBackend, StoreConfig};
use anteroom_queue::{MemoryStore, QueueStore, RedisOptions, RedisStore};

/// Makes something (a store) on the runtime that calls it, as often as it is called.
pub type Factory<S> =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<S, String>> + Send>> + Send + Sync>;

pub type StoreFuture = Pin<Box<dyn Future<Output = Result<Arc<dyn QueueStore>, String>> + Send>>;
pub type StoreFactory = Arc<dyn Fn() -> StoreFuture + Send + Sync>;
pub type GuardFuture = Pin<Box<dyn Future<Output = Result<Arc<dyn GuardStore>, String>> + Send>>;
/// Makes the bot guard's store, on the same backend as the queue's, joining that queue
/// (`GuardStore::check_and_join`): given the connected queue store.
pub type GuardFactory = Arc<dyn Fn(Arc<dyn QueueStore>) -> GuardFuture + Send + Sync>;

pub fn guard_factory(config: &StoreConfig) -> GuardFactory {
    match config.backend {
        StoreBackend::Memory => {
            // One memory store for the life of the process, joining the one memory queue.
            let store: Arc<OnceLock<Arc<dyn GuardStore>>> = Arc::new(OnceLock::new());
            Arc::new(move |queue| {
                let store = store
                    .get_or_init(|| Arc::new(MemoryGuardStore::new().joining(queue)))
                    .clone();
                Box::pin(async move { Ok(store) })
            })
        }
        // The queue's own Redis (the same URL): the guard's script joins it there.
        StoreBackend::Redis => {
            let connect = on_redis(config, |url, options| async move {
                let store = RedisGuardStore::connect(&url, options)
                    .await
                    .map_err(|error| error.to_string())?;
                Ok(Arc::new(store) as Arc<dyn GuardStore>)
            });
            Arc::new(move |_queue| connect())
        }
    }
}

/// A factory that hands out one given store (the demo shares its memory store with the
/// booking service, which marks the room sold out in it).
pub fn shared(store: Arc<dyn QueueStore>) -> StoreFactory {
    Arc::new(move || {
        let store = store.clone();
        Box::pin(async move { Ok(store) })
    })
}

pub fn factory(config: &StoreConfig) -> StoreFactory {
    match config.backend {
        StoreBackend::Memory => {
            // One memory store for the life of the process, however often the factory runs.
            shared(Arc::new(MemoryStore::new()))
        }
        StoreBackend::Redis => on_redis(config, |url, options| async move {
            let store = RedisStore::connect(&url, options)
                .await
                .map_err(|error| error.to_string())?;
            Ok(Arc::new(store) as Arc<dyn QueueStore>)
        }),
    }
}

/// A factory that connects with `connect` to the configured Redis (URL and TLS options)
/// each time it runs: the queue's and the guard's stores are made the same way.
fn on_redis<S, F, Fut>(config: &StoreConfig, connect: F) -> Factory<S>
where
    S: 'static,
    F: Fn(String, RedisOptions) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<S, String>> + Send + 'static,
{
    let url = config.url.clone().unwrap_or_default();
    let tls_ca = config.tls_ca.clone();
    Arc::new(move || {
        let options = RedisOptions {
            tls_ca: tls_ca.clone(),
            ..RedisOptions::default()
        };
        Box::pin(connect(url.clone(), options))
    })
}
