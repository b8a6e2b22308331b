//! The waitlist's background work, on every booking instance: the promoter (expire overdue
//! offers, offer released places to the next fans in waves, return unwanted places to
//! sale) and the outbox relay (deliver offers to the webhook at least once). Both are safe
//! to run on any number of instances at once: promotion is serialised per event in the
//! database, and the relay's messages carry an id the receiver de-duplicates by.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{waitlist::return_to_sale, BookingService};
use crate::waitlist::{PromotionRules, Waitlist};

/// The promoter looks for work at least this often (offers expire on time within it), and
/// at once when poked (a cancellation, a decline, a fan leaving or joining).
pub const PROMOTE_EVERY: Duration = Duration::from_millis(250);

/// The relay looks for due messages this often.
pub const RELAY_EVERY: Duration = Duration::from_millis(200);

/// Retry delays double from this to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Messages per relay look.
const RELAY_BATCH: u32 = 100;

impl BookingService {
    /// One promotion pass over every event with work. Returns the offers made.
    pub async fn promote_once(&self) -> usize {
        let waitlist = &self.waitlist;
        let events = match waitlist.events_to_promote().await {
            Ok(events) => events,
            Err(error) => {
                log::debug!("waitlist promotion: {error}");
                return 0;
            }
        };
        let rules = PromotionRules {
            offer_ttl_ms: self.waitlist_config.offer_ttl_seconds * 1000,
            notify_per_second: self.waitlist_config.notify_per_second,
            keyring: self.keyring.clone(),
        };
        let mut offered = 0;
        for id in events {
            let promotion = match waitlist.promote(&id, &rules).await {
                Ok(promotion) => promotion,
                Err(error) => {
                    log::warn!("waitlist promotion for {id}: {error}");
                    continue;
                }
            };
            offered += promotion.offered.len();
            self.metrics.record_promotion(&promotion);
            if !promotion.returned_seats.is_empty() || promotion.returned_quantity > 0 {
                if let Ok(event) = self.event(&id).await {
                    return_to_sale(
                        self,
                        &event,
                        &promotion.returned_seats,
                        promotion.returned_quantity,
                    )
                    .await;
                }
            }
        }
        offered
    }

    /// Wake the promoter now (a place or a fan became available).
    pub fn promote_soon(&self) {
        self.promote_now.notify_one();
    }
}

/// Run the promoter until the service is dropped.
pub fn run_promoter(service: &Arc<BookingService>) -> tokio::task::JoinHandle<()> {
    let weak: Weak<BookingService> = Arc::downgrade(service);
    let poke = service.promote_now.clone();
    tokio::spawn(async move {
        loop {
            let Some(service) = weak.upgrade() else {
                return;
            };
            service.promote_once().await;
            drop(service);
            tokio::select! {
                _ = poke.notified() => {}
                _ = tokio::time::sleep(PROMOTE_EVERY) => {}
            }
        }
    })
}

/// Where and how deliveries go: the client (`webhook::client`), the URL, the signing secret.
pub struct Webhook {
    pub client: reqwest::Client,
    pub url: String,
    pub secret: Option<Vec<u8>>,
}

/// Deliver every due outbox message to the webhook once: 2xx → delivered, anything else
/// (or no answer) → retried later with a doubling delay. Returns the number delivered.
pub async fn relay_once(waitlist: &dyn Waitlist, webhook: &Webhook) -> usize {
    let messages = match waitlist.due_messages(RELAY_BATCH).await {
        Ok(messages) => messages,
        Err(error) => {
            log::debug!("outbox: {error}");
            return 0;
        }
    };
    let mut delivered = 0;
    for message in messages {
        let mut request = webhook
            .client
            .post(&webhook.url)
            .header("content-type", "application/json")
            .header("idempotency-key", &message.message_id)
            .header("x-anteroom-message-id", &message.message_id);
        if let Some(secret) = &webhook.secret {
            let signed = super::webhook::signature(
                secret,
                anteroom_admission::unix_now(),
                message.payload.as_bytes(),
            );
            request = request.header(super::webhook::SIGNATURE_HEADER, signed);
        }
        let sent = request.body(message.payload.clone()).send().await;
        let ok = matches!(&sent, Ok(response) if response.status().is_success());
        let recorded = if ok {
            delivered += 1;
            waitlist.delivered(&message.message_id).await
        } else {
            let delay = RETRY_FIRST
                .saturating_mul(1u32 << message.attempts.min(16))
                .min(RETRY_MAX);
            log::debug!(
                "webhook delivery of {} failed (attempt {}), retrying in {delay:?}",
                message.message_id,
                message.attempts + 1
            );
            waitlist
                .failed(&message.message_id, delay.as_millis() as u64)
                .await
        };
        if let Err(error) = recorded {
            log::warn!("outbox {}: {error}", message.message_id);
        }
    }
    delivered
}

/// Run the relay until the service is dropped (only with `[waitlist] webhook_url`). A client that cannot be made (an unusable `webhook_ca`) stops the start.
pub fn run_relay(
    service: &Arc<BookingService>,
) -> Result<Option<tokio::task::JoinHandle<()>>, super::webhook::WebhookError> {
    let config = &service.waitlist_config;
    let Some(url) = config.webhook_url.clone() else {
        return Ok(None);
    };
    let waitlist = service.waitlist.clone();
    let webhook = Webhook {
        client: super::webhook::client(config)?,
        url,
        secret: config
            .webhook_secret
            .as_ref()
            .map(|secret| secret.0.clone()),
    };
    let weak: Weak<BookingService> = Arc::downgrade(service);
    Ok(Some(tokio::spawn(async move {
        loop {
            if weak.strong_count() == 0 {
                return;
            }
            relay_once(&*waitlist, &webhook).await;
            tokio::time::sleep(RELAY_EVERY).await;
        }
    })))
}
