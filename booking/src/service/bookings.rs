//! `POST /v1/bookings` (confirm a hold, idempotent by `Idempotency-Key`) and
//! `GET /v1/bookings/{id}`. The ledger has the last word: when the hold store and the
//! ledger disagree, the ledger wins.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use anteroom_queue::SettingsPatch;

use super::errors::ApiError;
use super::{auth, json_body, BookingService};
use crate::ledger::LedgerError;
use crate::{event_of_hold, Booking, EventSpec, Inventory};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    hold_id: String,
}

const MAX_KEY_LEN: usize = 255;

fn booking_json(booking: &Booking) -> Value {
    json!({
        "booking_id": booking.booking_id,
        "event": booking.event,
        "seats": booking.seats,
        "quantity": booking.quantity,
        "status": booking.status,
    })
}

pub async fn confirm(
    State(service): State<Arc<BookingService>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let key = headers
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|key| !key.is_empty() && key.len() <= MAX_KEY_LEN)
        .ok_or_else(|| ApiError::bad_request("send an Idempotency-Key header (1-255 characters)"))?
        .to_string();
    let request: ConfirmRequest = json_body(body)?;
    let event_id = event_of_hold(&request.hold_id).ok_or_else(ApiError::hold_expired)?;
    let event = service.event(event_id).await?;
    let holder = auth::holder(&service, &headers, event.room.as_deref())?;

    // The same key again (a double tap, a retry): the same answer, whatever became of the hold.
    if let Some(booking) = service.ledger.find_by_idempotency_key(&key, holder).await? {
        return Ok((StatusCode::CREATED, Json(booking_json(&booking))).into_response());
    }
    let hold = match service
        .holds
        .get(event_id, &request.hold_id)
        .await?
        .filter(|hold| hold.holder == holder)
    {
        Some(hold) => hold,
        None => {
            // A concurrent tap with this key may have confirmed and consumed the hold since
            // the first look: the ledger commits before the hold store catches up.
            if let Some(booking) = service.ledger.find_by_idempotency_key(&key, holder).await? {
                return Ok((StatusCode::CREATED, Json(booking_json(&booking))).into_response());
            }
            return Err(ApiError::hold_expired());
        }
    };
    let booking = match service.ledger.confirm(&key, &hold).await {
        Ok(booking) => booking,
        Err(LedgerError::SeatsAlreadyBooked(seats)) => {
            // The hold store did not know (a flush, a restart): teach it again.
            if let Err(error) = service.holds.mark_booked(event_id, &seats).await {
                log::warn!("could not re-mark booked seats: {error}");
            }
            return Err(LedgerError::SeatsAlreadyBooked(seats).into());
        }
        Err(other) => return Err(other.into()),
    };
    // The ledger already decided; the hold store only catches up.
    if let Err(error) = service.holds.consume(&hold).await {
        log::warn!(
            "booking {} confirmed but the hold store did not catch up: {error}",
            booking.booking_id
        );
    }
    service.feeds.poke(event_id);
    signal_sold_out(&service, &event).await;
    Ok((StatusCode::CREATED, Json(booking_json(&booking))).into_response())
}

/// When nothing is left, tell the gateway's line at once instead of letting it wait.
async fn signal_sold_out(service: &BookingService, event: &EventSpec) {
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
            if let Err(error) = rooms.update_settings(room, &patch).await {
                log::warn!(
                    "event {} sold out but room {room} not marked: {error}",
                    event.id
                );
            }
        }
        Ok(_) => {}
        Err(error) => log::warn!("sold-out check for {} failed: {error}", event.id),
    }
}

pub async fn show(
    State(service): State<Arc<BookingService>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let not_found = || ApiError::not_found("unknown_booking", "no booking of yours has this id");
    let booking = service.ledger.booking(&id).await?.ok_or_else(not_found)?;
    let event = service.event(&booking.event).await?;
    let holder = auth::holder(&service, &headers, event.room.as_deref())?;
    if booking.holder != holder {
        return Err(not_found());
    }
    Ok(Json(booking_json(&booking)))
}
