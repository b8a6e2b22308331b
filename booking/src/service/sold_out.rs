//! Sold out early: when the ledger has sold every place of an event, its gateway room is
//! marked `sold_out` in the shared queue store, so the line stops admitting and every
//! waiting visitor is told at once instead of waiting for nothing.

use anteroom_queue::{SettingsPatch, StoreError};

use super::BookingService;
use crate::{EventSpec, Inventory};

/// Check the ledger and, if nothing is left, mark the event's room. Best effort: a failure
/// is logged and the next confirmation (or restart) tries again — a sale never fails
/// because the line could not be told.
pub async fn signal(service: &BookingService, event: &EventSpec) {
    let (Some(room), Some(rooms)) = (&event.room, &service.rooms) else {
        return;
    };
    let total = match &event.inventory {
        Inventory::Seats(seats) => seats.len() as u64,
        Inventory::Capacity(capacity) => *capacity,
    };
    match service.ledger.sold(&event.id).await {
        Ok(sold) if sold >= total => {
            let patch = SettingsPatch {
                sold_out: Some(true),
                ..SettingsPatch::default()
            };
            match rooms.update_settings(room, &patch).await {
                Ok(_) => log::info!("event {} sold out: room {room} marked sold_out", event.id),
                // The gateway has not registered the room yet (it seeds rooms at its start).
                Err(StoreError::Invalid(detail)) => log::warn!(
                    "event {} sold out but room {room} is not in the store yet ({detail}); \
                     retrying on the next confirmation",
                    event.id
                ),
                Err(error) => log::warn!(
                    "event {} sold out but room {room} not marked: {error}",
                    event.id
                ),
            }
        }
        Ok(_) => {}
        Err(error) => log::warn!("sold-out check for {} failed: {error}", event.id),
    }
}
