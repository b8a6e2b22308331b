//! `POST /v1/events` (operator) and `GET /v1/events/{id}/seats` (the seat map).

use std::collections::HashSet;
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
use super::input::{json_body, path_id};
use super::{auth, BookingService};
use crate::holds::{validate_seats, HoldError};
use crate::{EventSpec, Inventory};

/// Most seats one event may list.
const MAX_EVENT_SEATS: usize = 100_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    id: String,
    #[serde(default)]
    seats: Option<Vec<String>>,
    #[serde(default)]
    capacity: Option<u64>,
    #[serde(default)]
    room: Option<String>,
}

pub async fn create(
    State(service): State<Arc<BookingService>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    auth::operator(&service, &headers)?;
    let new: NewEvent = json_body(body)?;
    let id_ok = !new.id.is_empty()
        && new.id.len() <= 64
        && new
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !id_ok {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "id: 1-64 characters of [A-Za-z0-9_-]",
        ));
    }
    // Without a room, a pass admitted to any room could book: every event names the one
    // room whose admitted visitors may book it.
    let room = new
        .room
        .filter(|room| !room.trim().is_empty())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "room_required",
                "room: name the gateway room whose admitted visitors may book this event",
            )
        })?;
    let inventory = match (new.seats, new.capacity) {
        (Some(seats), None) => {
            if seats.len() > MAX_EVENT_SEATS {
                return Err(ApiError::bad_request(format!(
                    "at most {MAX_EVENT_SEATS} seats"
                )));
            }
            // Validate each seat like a hold would, in chunks (a hold names at most 100).
            for chunk in seats.chunks(100) {
                validate_seats(chunk)?;
            }
            if seats.iter().collect::<HashSet<_>>().len() != seats.len() {
                return Err(ApiError::bad_request("seats: each seat once"));
            }
            Inventory::Seats(seats)
        }
        (None, Some(capacity)) if (1..=10_000_000).contains(&capacity) => {
            Inventory::Capacity(capacity)
        }
        _ => {
            return Err(ApiError::bad_request(
                "send either seats: [..] or capacity: N (1..10000000)",
            ))
        }
    };
    let spec = EventSpec {
        id: new.id,
        room: Some(room),
        inventory,
    };
    let created = service.ledger.create_event(&spec).await?;
    if let Inventory::Capacity(capacity) = spec.inventory {
        service.holds.init_capacity(&spec.id, capacity).await?;
    }
    service.remember(spec.clone());
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(describe(&spec))).into_response())
}

fn describe(spec: &EventSpec) -> Value {
    match &spec.inventory {
        Inventory::Seats(seats) => json!({ "id": spec.id, "room": spec.room, "seats": seats }),
        Inventory::Capacity(capacity) => {
            json!({ "id": spec.id, "room": spec.room, "capacity": capacity })
        }
    }
}

/// Every seat of a seated event with its state: booked per the ledger, held per the hold
/// store, else free.
pub async fn seat_states(
    service: &BookingService,
    event: &EventSpec,
) -> Result<Vec<(String, &'static str)>, ApiError> {
    let Inventory::Seats(seats) = &event.inventory else {
        return Ok(Vec::new());
    };
    let booked: HashSet<String> = service
        .ledger
        .booked_seats(&event.id)
        .await?
        .into_iter()
        .collect();
    let held: HashSet<String> = service
        .holds
        .held_seats(&event.id)
        .await?
        .into_iter()
        .collect();
    Ok(seats
        .iter()
        .map(|seat| {
            let state = if booked.contains(seat) {
                "booked"
            } else if held.contains(seat) {
                "held"
            } else {
                "free"
            };
            (seat.clone(), state)
        })
        .collect())
}

/// The seat map; general admission: capacity, available, sold.
pub async fn seat_map(
    State(service): State<Arc<BookingService>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let passes = auth::passes(&service, &headers)?;
    let id = path_id(path)?;
    let event = service.event(&id).await?;
    auth::holder_in(&passes, &event)?;
    match &event.inventory {
        Inventory::Seats(_) => {
            let map: Vec<Value> = seat_states(&service, &event)
                .await?
                .into_iter()
                .map(|(seat, state)| json!({ "seat": seat, "state": state }))
                .collect();
            Ok(Json(Value::Array(map)))
        }
        Inventory::Capacity(capacity) => {
            let sold = service.ledger.sold(&id).await?;
            let available = match service.holds.available(&id).await {
                // The hold store lost the capacity (flushed): record it again.
                Err(HoldError::Invalid(_)) => {
                    service.relearn(&event).await?;
                    service.holds.available(&id).await?
                }
                other => other?,
            };
            Ok(Json(json!({
                "capacity": capacity,
                "available": available.min(capacity.saturating_sub(sold)),
                "sold": sold,
            })))
        }
    }
}
