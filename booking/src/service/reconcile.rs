//! "The database wins": the hold store is a fast, forgetful front (Redis may be flushed or
//! restarted); the ledger is the truth. These teach the hold store again what the ledger
//! knows, so it stops offering seats that are sold. Correctness never depends on it — a
//! confirmation of a sold seat still fails at the ledger's unique index — but without it a
//! fan could hold a sold seat and only learn at checkout.

use super::{sold_out, BookingError, BookingService};
use crate::holds::HoldError;
use crate::{EventSpec, Inventory};

/// Seats per `mark_booked` call (each call is one hold-store round trip with every seat as
/// an argument).
const MARK_CHUNK: usize = 1000;

impl BookingService {
    /// At start: every event's booked seats into the hold store, general-admission
    /// capacities recorded again, and sold-out rooms marked.
    pub async fn reconcile(&self) -> Result<(), BookingError> {
        for event in self.ledger.events().await? {
            let event = self.remember(event);
            self.relearn(&event).await?;
            sold_out::signal(self, &event).await;
        }
        Ok(())
    }

    /// One event: a seated event's booked seats are marked booked; a general-admission
    /// event's capacity is recorded if the hold store lost it. (After such a loss the hold
    /// store counts nothing as sold, so it may let more places be held than are left; the
    /// ledger's `sold <= capacity` check refuses the extra at confirmation: `409 sold_out`.)
    pub(crate) async fn relearn(&self, event: &EventSpec) -> Result<(), BookingError> {
        match &event.inventory {
            Inventory::Seats(_) => {
                let booked = self.ledger.booked_seats(&event.id).await?;
                for chunk in booked.chunks(MARK_CHUNK) {
                    self.holds.mark_booked(&event.id, chunk).await?;
                }
            }
            Inventory::Capacity(capacity) => {
                match self.holds.init_capacity(&event.id, *capacity).await {
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
}
