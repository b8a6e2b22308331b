//! "The database wins": the hold store is a fast, forgetful front (Redis may be flushed or
//! restarted); the ledger is the truth. These teach the hold store again what the ledger
//! knows, so it stops offering places that are sold, and re-assert sold-out rooms.
//! Correctness never depends on it — a confirmation of a sold seat still fails at the
//! ledger's unique index, a GA oversale at its CHECK — but without it a fan could hold a
//! sold place and only learn at checkout.
//!
//! When: at start ([`BookingService::reconcile`]), and whenever the hold store's sentinel
//! is found missing ([`watch_hold_store`] looks every [`FLUSH_CHECK_EVERY`]): a flush takes
//! the sentinel with everything else.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{sold_out, BookingError, BookingService};
use crate::holds::HoldError;
use crate::{EventSpec, Inventory};

/// Seats per `mark_booked` call (each call is one hold-store round trip with every seat as
/// an argument).
const MARK_CHUNK: usize = 1000;

/// How often the watcher looks for a flushed hold store (one EXISTS per look).
pub const FLUSH_CHECK_EVERY: Duration = Duration::from_secs(1);

impl BookingService {
    /// Every event's booked seats into the hold store, general-admission capacities
    /// recorded again with what was sold, sold-out rooms marked; then the sentinel set.
    pub async fn reconcile(&self) -> Result<(), BookingError> {
        for event in self.ledger.events().await? {
            let event = self.remember(event);
            self.relearn(&event).await?;
            sold_out::signal(self, &event).await;
        }
        self.holds.mark_intact().await?;
        Ok(())
    }

    /// One event: a seated event's booked seats are marked booked; a general-admission
    /// event's capacity, if the hold store lost it, is recorded with the ledger's sold
    /// places already consumed (so it never offers more than is left).
    pub(crate) async fn relearn(&self, event: &EventSpec) -> Result<(), BookingError> {
        match &event.inventory {
            Inventory::Seats(_) => {
                let booked = self.ledger.booked_seats(&event.id).await?;
                for chunk in booked.chunks(MARK_CHUNK) {
                    self.holds.mark_booked(&event.id, chunk).await?;
                }
            }
            Inventory::Capacity(capacity) => {
                // Places released to the waitlist are not for sale either.
                let reserved = self
                    .waitlist
                    .overview(&event.id)
                    .await
                    .map(|line| line.unoffered_places + line.open_offers)
                    .map_err(|error| match error {
                        crate::waitlist::WaitlistError::Ledger(error) => error,
                        other => crate::ledger::LedgerError::Unavailable(other.to_string()),
                    })?;
                let sold = self.ledger.sold(&event.id).await? + reserved;
                match self.holds.seed_capacity(&event.id, *capacity, sold).await {
                    Ok(()) => {}
                    Err(error @ HoldError::Unavailable(_)) => return Err(error.into()),
                    // A different capacity recorded: the ledger still guards every sale.
                    Err(error) => {
                        log::warn!("event {}: capacity not re-recorded: {error}", event.id)
                    }
                }
            }
        }
        Ok(())
    }

    /// One look: a hold store without its sentinel was flushed (or restarted empty) and is
    /// taught the ledger again; sold-out marks that could not be made are tried again.
    pub async fn check_hold_store(&self) {
        match self.holds.intact().await {
            Ok(true) => {}
            Ok(false) => {
                log::warn!("the hold store lost its data (flush or restart): reconciling");
                if let Err(error) = self.reconcile().await {
                    log::warn!("reconcile after a flush failed, trying again: {error}");
                }
            }
            // Unreachable: calls answer 503 meanwhile; the next look tries again.
            Err(error) => log::debug!("hold store check: {error}"),
        }
        sold_out::retry_pending(self).await;
    }
}

/// Look after the hold store every `every` until the service is dropped.
pub fn watch_hold_store(
    service: &Arc<BookingService>,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    let service: Weak<BookingService> = Arc::downgrade(service);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(service) = service.upgrade() else {
                return;
            };
            service.check_hold_store().await;
        }
    })
}
