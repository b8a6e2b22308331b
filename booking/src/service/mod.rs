//! The booking HTTP API (axum): events, seat map, holds, bookings. Handlers translate
//! between HTTP and the hold store / ledger; the guarantees live in those.

mod auth;
mod bookings;
mod errors;
mod events;
mod holds;
mod seatmap;
mod shop;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;
use thiserror::Error;

use anteroom_admission::{AdmissionError, Keyring};
use anteroom_config::{BookingConfig, HoldsConfig, StoreBackend};
use anteroom_queue::{QueueStore, RedisOptions};

use crate::holds::{HoldStore, MemoryHolds, RedisHolds};
use crate::ledger::{self, Ledger, LedgerError};
use crate::EventSpec;

pub use errors::ApiError;
pub use shop::shop_router;

/// Largest request body read.
pub const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, Error)]
pub enum BookingError {
    #[error("keys: {0}")]
    Keys(#[from] AdmissionError),
    #[error("hold store: {0}")]
    Holds(#[from] crate::holds::HoldError),
    #[error("database: {0}")]
    Ledger(#[from] LedgerError),
    #[error("queue store: {0}")]
    Queue(#[from] anteroom_queue::StoreError),
}

pub struct BookingService {
    pub holds: Arc<dyn HoldStore>,
    pub ledger: Arc<dyn Ledger>,
    pub keyring: Keyring,
    pub admin_token: Option<Vec<u8>>,
    pub limits: HoldsConfig,
    /// The gateway's shared store, to mark a room sold out.
    pub rooms: Option<Arc<dyn QueueStore>>,
    /// Events never change once created: cached after the first read.
    events: RwLock<HashMap<String, Arc<EventSpec>>>,
    /// Live seat-map feeds, one per watched event.
    pub(crate) feeds: seatmap::Feeds,
    /// One ledger read per missing event, however many requests ask at once (a sale opens
    /// with thousands of requests for the same event).
    loading: tokio::sync::Mutex<()>,
}

impl BookingService {
    pub fn new(
        holds: Arc<dyn HoldStore>,
        ledger: Arc<dyn Ledger>,
        keyring: Keyring,
        admin_token: Option<Vec<u8>>,
        limits: HoldsConfig,
        rooms: Option<Arc<dyn QueueStore>>,
    ) -> BookingService {
        BookingService {
            holds,
            ledger,
            keyring,
            admin_token,
            limits,
            rooms,
            events: RwLock::new(HashMap::new()),
            feeds: seatmap::Feeds::default(),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    /// The event, from the cache or the ledger.
    pub async fn event(&self, id: &str) -> Result<Arc<EventSpec>, ApiError> {
        if let Some(event) = self.cached_event(id) {
            return Ok(event);
        }
        let _loading = self.loading.lock().await;
        if let Some(event) = self.cached_event(id) {
            return Ok(event);
        }
        let event = self
            .ledger
            .event(id)
            .await?
            .ok_or_else(|| ApiError::not_found("unknown_event", format!("no event `{id}`")))?;
        Ok(self.remember(event))
    }

    fn cached_event(&self, id: &str) -> Option<Arc<EventSpec>> {
        self.events.read().ok().and_then(|map| map.get(id).cloned())
    }

    /// Cache an event (they never change once created).
    pub(crate) fn remember(&self, event: EventSpec) -> Arc<EventSpec> {
        let event = Arc::new(event);
        if let Ok(mut map) = self.events.write() {
            map.insert(event.id.clone(), event.clone());
        }
        event
    }
}

/// Build the service a config describes: hold store, ledger (migrated), keys; with a Redis
/// store, also the gateway's queue store for the sold-out signal.
pub async fn build(config: &BookingConfig) -> Result<Arc<BookingService>, BookingError> {
    let secrets = config
        .keys
        .secrets
        .iter()
        .map(|(kid, secret)| (kid.clone(), secret.0.clone()))
        .collect();
    let keyring = Keyring::new(&config.keys.signing, secrets)?;
    let (holds, rooms): (Arc<dyn HoldStore>, Option<Arc<dyn QueueStore>>) =
        match (config.store.backend, config.store.url.as_deref()) {
            (StoreBackend::Redis, Some(url)) => {
                let options = RedisOptions {
                    tls_ca: config.store.tls_ca.clone(),
                    ..RedisOptions::default()
                };
                (
                    Arc::new(RedisHolds::connect(url, options.clone()).await?),
                    Some(Arc::new(
                        anteroom_queue::RedisStore::connect(url, options).await?,
                    )),
                )
            }
            _ => (Arc::new(MemoryHolds::new()), None),
        };
    let ledger = ledger::open_url(&config.database_url).await?;
    Ok(Arc::new(BookingService::new(
        holds,
        ledger,
        keyring,
        config.admin.token.as_ref().map(|token| token.0.clone()),
        config.holds,
        rooms,
    )))
}

pub fn router(service: Arc<BookingService>) -> Router {
    Router::new()
        .route("/v1/events", post(events::create))
        .route("/v1/events/{id}/seats", get(events::seat_map))
        .route("/v1/events/{id}/seats/ws", get(seatmap::watch))
        .route("/v1/events/{id}/holds", post(holds::create))
        .route("/v1/holds/{hold_id}", delete(holds::release))
        .route("/v1/bookings", post(bookings::confirm))
        .route("/v1/bookings/{id}", get(bookings::show))
        .fallback(|| async {
            ApiError::not_found("not_found", "no such endpoint; see docs/booking.md")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "see docs/booking.md for each endpoint's method",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(service)
}

/// Serve until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: Arc<BookingService>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(service))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Parse a JSON body ourselves so every refusal is a JSON error.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(
    body: Result<bytes::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<T, ApiError> {
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "body_too_large",
                format!("at most {MAX_BODY} bytes"),
            )
        } else {
            ApiError::bad_request(rejection.body_text())
        }
    })?;
    serde_json::from_slice(&body).map_err(|error| {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("request body: {error}"),
        )
    })
}
