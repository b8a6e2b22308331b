//! Sold out early: when the ledger has sold every place of an event, its gateway room is
//! marked `sold_out` in the shared queue store, so the line stops admitting and every
//! waiting visitor is told at once instead of waiting for nothing.
//!
//! Only the ledger counts: places taken by holds are not sold (they may expire), so a sale
//! whose last places are held is not sold out until they are confirmed. A mark is taken
//! back only when cancelled places go back on public sale (nobody on the waitlist wants
//! them); places released to the waitlist keep the room sold out.

use anteroom_queue::{SettingsPatch, StoreError};

use super::BookingService;
use crate::{EventSpec, Inventory};

/// Check the ledger and, if nothing is left, mark the event's room. Best effort: a failure
/// is logged and the event remembered, to be tried again by the hold-store watcher — a
/// sale never fails because the line could not be told.
pub async fn signal(service: &BookingService, event: &EventSpec) {
    let (Some(room), Some(rooms)) = (&event.room, &service.rooms) else {
        return;
    };
    let total = match &event.inventory {
        Inventory::Seats(seats) => seats.len() as u64,
        Inventory::Capacity(capacity) => *capacity,
    };
    let marked = match service.ledger.sold(&event.id).await {
        Ok(sold) if sold >= total => {
            let patch = SettingsPatch {
                sold_out: Some(true),
                ..SettingsPatch::default()
            };
            match rooms.update_settings(room, &patch).await {
                Ok(_) => {
                    log::info!("event {} sold out: room {room} marked sold_out", event.id);
                    true
                }
                // The gateway has not registered the room (yet, or again after a flush).
                Err(StoreError::Invalid(detail)) => {
                    log::warn!(
                        "event {} sold out but room {room} is not in the store ({detail}); \
                         trying again",
                        event.id
                    );
                    false
                }
                Err(error) => {
                    log::warn!(
                        "event {} sold out but room {room} not marked: {error}",
                        event.id
                    );
                    false
                }
            }
        }
        Ok(_) => true,
        Err(error) => {
            log::warn!("sold-out check for {} failed: {error}", event.id);
            false
        }
    };
    if let Ok(mut pending) = service.pending_sold_out.lock() {
        if marked {
            pending.remove(&event.id);
        } else {
            pending.insert(event.id.clone());
        }
    }
}

/// Try again every event whose mark failed.
pub async fn retry_pending(service: &BookingService) {
    let pending: Vec<String> = match service.pending_sold_out.lock() {
        Ok(pending) => pending.iter().cloned().collect(),
        Err(_) => return,
    };
    for id in pending {
        if let Ok(event) = service.event(&id).await {
            signal(service, &event).await;
        }
    }
}

/// Places went back on public sale (a cancellation nobody on the waitlist took): the room
/// is no longer sold out, so the line moves again. Best effort, like [`signal`].
pub async fn clear(service: &BookingService, event: &EventSpec) {
    let (Some(room), Some(rooms)) = (&event.room, &service.rooms) else {
        return;
    };
    if let Ok(mut pending) = service.pending_sold_out.lock() {
        pending.remove(&event.id);
    }
    let patch = SettingsPatch {
        sold_out: Some(false),
        ..SettingsPatch::default()
    };
    match rooms.update_settings(room, &patch).await {
        Ok(_) => log::info!("event {}: places back on sale, room {room} open", event.id),
        Err(error) => log::warn!(
            "event {}: places back on sale but room {room} still marked sold out: {error}",
            event.id
        ),
    }
}
