//! `POST /v1/bookings` (confirm a hold, idempotent by `Idempotency-Key`) and
//! `GET /v1/bookings/{id}`. The ledger has the last word: when the hold store and the
//! ledger disagree, the ledger wins.

use std::sync::Arc;

use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::ApiError;
use super::input::{idempotency_key, json_body, path_id};
use super::{auth, sold_out, BookingService};
use crate::ledger::LedgerError;
use crate::{event_of_hold, Booking};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    hold_id: String,
}

pub(crate) fn booking_json(booking: &Booking) -> Value {
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
    let passes = auth::passes(&service, &headers)?;
    let key = idempotency_key(&headers)?;
    let request: ConfirmRequest = json_body(body)?;
    let event_id = event_of_hold(&request.hold_id).ok_or_else(ApiError::hold_expired)?;
    let event = service.event(event_id).await.map_err(|error| {
        if error.status == StatusCode::NOT_FOUND {
            ApiError::hold_expired()
        } else {
            error
        }
    })?;
    let holder = auth::holder_in(&passes, &event)?;

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
            // One hold, one booking: a hold already confirmed (under any key) answers with
            // its booking, so a second key is told what the first one bought — while it
            // stands: once cancelled, the hold is gone and nothing is bought (only the first
            // key replays its answer, its status now "cancelled").
            if let Some(booking) = service
                .ledger
                .booking_of_hold(&request.hold_id)
                .await?
                .filter(|booking| booking.holder == holder && booking.status == "confirmed")
            {
                return Ok((StatusCode::CREATED, Json(booking_json(&booking))).into_response());
            }
            return Err(ApiError::hold_expired());
        }
    };
    let booking = match service.ledger.confirm(&key, &hold).await {
        Ok(booking) => booking,
        Err(LedgerError::SeatsAlreadyBooked(seats)) => {
            // The hold store did not know (a flush, a restart): teach it every booked seat
            // of the event again, not only these.
            if let Err(error) = service.relearn(&event).await {
                log::warn!("could not re-mark booked seats of {event_id}: {error}");
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
    sold_out::signal(&service, &event).await;
    Ok((StatusCode::CREATED, Json(booking_json(&booking))).into_response())
}

pub async fn show(
    State(service): State<Arc<BookingService>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let passes = auth::passes(&service, &headers)?;
    let id = path_id(path)?;
    let not_found = || ApiError::not_found("unknown_booking", "no booking of yours has this id");
    // Booking ids are 32 lowercase hex: anything else is unknown without a database read.
    if id.len() != 32 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(not_found());
    }
    let booking = service.ledger.booking(&id).await?.ok_or_else(not_found)?;
    let event = service.event(&booking.event).await?;
    let holder = auth::holder_in(&passes, &event)?;
    if booking.holder != holder {
        return Err(not_found());
    }
    Ok(Json(booking_json(&booking)))
}
