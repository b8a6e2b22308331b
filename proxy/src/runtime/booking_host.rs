//! Running the booking service (axum) inside a Pingora server as a background service:
//! `anteroom demo` serves gateway, booking and shop from one process.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use pingora::services::ServiceReadyNotifier;

use anteroom_booking::service::{router, BookingService};
use anteroom_booking::EventSpec;

pub struct BookingHost {
    pub addr: SocketAddr,
    pub service: Arc<BookingService>,
    /// Events created at start (the demo's).
    pub events: Vec<EventSpec>,
    /// Serve the demo shop page at `/`.
    pub shop_event: Option<String>,
}

#[async_trait]
impl BackgroundService for BookingHost {
    async fn start_with_ready_notifier(
        &self,
        mut shutdown: ShutdownWatch,
        ready: ServiceReadyNotifier,
    ) {
        if let Err(error) = self.service.ledger.migrate().await {
            log::error!("booking ledger: {error}");
            return;
        }
        for event in &self.events {
            if let Err(error) = self.service.ledger.create_event(event).await {
                log::error!("demo event {}: {error}", event.id);
            }
        }
        // The hold store may have outlived or lost what the ledger knows (a Redis flush,
        // a restart): teach it the ledger's bookings and mark sold-out rooms before serving.
        if let Err(error) = self.service.reconcile().await {
            log::error!("booking reconcile: {error}");
            return;
        }
        let _watch = anteroom_booking::service::watch_hold_store(
            &self.service,
            anteroom_booking::service::FLUSH_CHECK_EVERY,
        );
        // The waitlist (in the same ledger): released places go to the line, in order.
        let _promoter = anteroom_booking::service::run_promoter(&self.service);
        let listener = match tokio::net::TcpListener::bind(self.addr).await {
            Ok(listener) => listener,
            Err(error) => {
                log::error!("booking service cannot listen on {}: {error}", self.addr);
                return;
            }
        };
        ready.notify_ready();
        let mut app = router(self.service.clone());
        if let Some(event) = &self.shop_event {
            app = app.merge(anteroom_booking::service::shop_router(event));
        }
        let stop = async move {
            let _ = shutdown.changed().await;
        };
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            log::error!("booking service stopped: {error}");
        }
    }

    async fn start(&self, _shutdown: ShutdownWatch) {}
}
