//! The booking HTTP API (axum): events, seat map, holds, bookings. Handlers translate
//! between HTTP and the hold store / ledger; the guarantees live in those.

mod attempts;
mod auth;
mod bookings;
mod build;
mod errors;
mod events;
mod holds;
mod input;
mod metrics;
mod promoter;
mod reconcile;
mod seatmap;
mod shop;
mod sold_out;
mod waitlist;
pub mod webhook;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;
use thiserror::Error;

use anteroom_admission::{AdmissionError, Keyring};
use anteroom_config::{HoldsConfig, WaitlistConfig};
use anteroom_queue::QueueStore;

use crate::holds::{validate_event, HoldStore};
use crate::ledger::{Ledger, LedgerError};
use crate::EventSpec;

pub use attempts::{AttemptGuard, ATTEMPT_WINDOW_MS};
pub use build::{build, build_with_rooms};
pub use errors::ApiError;
pub use metrics::WaitlistMetrics;
pub use promoter::{relay_once, run_promoter, run_relay, Webhook, PROMOTE_EVERY};
pub use reconcile::{watch_hold_store, FLUSH_CHECK_EVERY};
pub use shop::shop_router;
pub use waitlist::entry_json;

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
    #[error("{0}")]
    Webhook(#[from] webhook::WebhookError),
}

pub struct BookingService {
    pub holds: Arc<dyn HoldStore>,
    pub ledger: Arc<dyn Ledger>,
    pub keyring: Keyring,
    pub admin_token: Option<Vec<u8>>,
    pub limits: HoldsConfig,
    /// The gateway's shared store, to mark a room sold out.
    pub rooms: Option<Arc<dyn QueueStore>>,
    /// Hold-attempt limits per visitor and per client IP (`with_attempt_guard`); none: every
    /// attempt goes through.
    pub attempts: Option<AttemptGuard>,
    /// Events never change once created: cached after the first read.
    events: RwLock<HashMap<String, Arc<EventSpec>>>,
    /// Live seat-map feeds, one per watched event.
    pub(crate) feeds: seatmap::Feeds,
    /// One ledger read per missing event, however many requests ask at once (a sale opens
    /// with thousands of requests for the same event).
    loading: tokio::sync::Mutex<()>,
    /// Sold-out events whose room could not be marked yet (retried by the watcher).
    pending_sold_out: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The ledger's waitlist (in the ledger's database, PostgreSQL or SQLite).
    pub waitlist: Arc<dyn crate::waitlist::Waitlist>,
    pub waitlist_config: WaitlistConfig,
    /// Wakes the promoter (`run_promoter`).
    pub(crate) promote_now: Arc<tokio::sync::Notify>,
    pub metrics: WaitlistMetrics,
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
            waitlist: ledger.waitlist(),
            waitlist_config: WaitlistConfig::default(),
            promote_now: Arc::default(),
            metrics: WaitlistMetrics::new(),
            holds,
            ledger,
            keyring,
            admin_token,
            limits,
            rooms,
            attempts: None,
            events: RwLock::new(HashMap::new()),
            feeds: seatmap::Feeds::default(),
            loading: tokio::sync::Mutex::new(()),
            pending_sold_out: std::sync::Mutex::default(),
        }
    }

    /// Count hold attempts in `store` against `limits`' per-minute limits, believing
    /// `X-Forwarded-For` only from `trusted_proxies`.
    pub fn with_attempt_guard(
        mut self,
        store: Arc<dyn anteroom_bot_guard::GuardStore>,
        trusted_proxies: Vec<anteroom_bot_guard::Cidr>,
    ) -> BookingService {
        self.attempts = Some(AttemptGuard::new(store, trusted_proxies));
        self
    }

    /// The `[waitlist]` settings (offer TTL, position display, webhook, rate, depth).
    pub fn with_waitlist_config(mut self, config: WaitlistConfig) -> BookingService {
        self.waitlist_config = config;
        self
    }

    /// The event, from the cache or the ledger.
    pub async fn event(&self, id: &str) -> Result<Arc<EventSpec>, ApiError> {
        let unknown = || ApiError::not_found("unknown_event", format!("no event `{id}`"));
        // An id no event can have never reaches the ledger (nor the one-at-a-time load).
        validate_event(id).map_err(|_| unknown())?;
        if let Some(event) = self.cached_event(id) {
            return Ok(event);
        }
        let _loading = self.loading.lock().await;
        if let Some(event) = self.cached_event(id) {
            return Ok(event);
        }
        let event = self.ledger.event(id).await?.ok_or_else(unknown)?;
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

pub fn router(service: Arc<BookingService>) -> Router {
    Router::new()
        .route("/v1/events", post(events::create))
        .route("/v1/events/{id}/seats", get(events::seat_map))
        .route("/v1/events/{id}/seats/ws", get(seatmap::watch))
        .route("/v1/events/{id}/holds", post(holds::create))
        .route("/v1/holds/{hold_id}", delete(holds::release))
        .route("/v1/bookings", post(bookings::confirm))
        .route("/v1/bookings/{id}", get(bookings::show))
        .route("/v1/bookings/{id}/cancel", post(waitlist::cancel))
        .route(
            "/v1/events/{id}/waitlist",
            post(waitlist::join).get(waitlist::overview),
        )
        .route(
            "/v1/waitlist/{entry_id}",
            get(waitlist::show).delete(waitlist::leave),
        )
        .route("/v1/waitlist/{entry_id}/events", get(waitlist::stream))
        .route("/v1/waitlist/{entry_id}/audit", get(waitlist::audit))
        .route("/v1/offers/{id}/accept", post(waitlist::accept))
        .route("/v1/offers/{id}/decline", post(waitlist::decline))
        .route("/metrics", get(waitlist::metrics))
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

/// Serve until `shutdown` completes. Handlers see each connection's peer address (the
/// hold-attempt limits count per client IP).
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: Arc<BookingService>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(service).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
