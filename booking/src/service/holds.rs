//! `POST /v1/events/{id}/holds` and `DELETE /v1/holds/{hold_id}`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use super::errors::ApiError;
use super::input::{json_body, path_id};
use super::{auth, BookingService};
use crate::holds::HoldError;
use crate::{event_of_hold, Hold, Inventory};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    #[serde(default)]
    seats: Option<Vec<String>>,
    #[serde(default)]
    quantity: Option<u64>,
}

pub fn hold_json(hold: &Hold) -> serde_json::Value {
    json!({
        "hold_id": hold.hold_id,
        "event": hold.event,
        "seats": hold.seats,
        "quantity": hold.quantity,
        "expires_at": hold.expires_at_ms,
        "fencing_token": hold.fencing_token,
    })
}

pub async fn create(
    State(service): State<Arc<BookingService>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let passes = auth::passes(&service, &headers)?;
    let id = path_id(path)?;
    let event = service.event(&id).await?;
    let holder = auth::holder_in(&passes, &event)?;
    if let Some(attempts) = &service.attempts {
        // Served without connection info (a router mounted elsewhere): per visitor only.
        let client = peer.map(|Extension(ConnectInfo(peer))| attempts.client(peer, &headers));
        let room = event.room.as_deref().unwrap_or(&event.id);
        attempts
            .admit(room, holder, client, &service.limits)
            .await?;
    }
    let request: HoldRequest = json_body(body)?;
    let ttl_ms = service.limits.ttl_seconds * 1000;
    let max = service.limits.max_seats_per_visitor;
    let hold = match (&event.inventory, request.seats, request.quantity) {
        (Inventory::Seats(all), Some(seats), None) => {
            if seats.len() as u64 > max {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "too_many_seats",
                    format!("at most {max} seats per visitor at a time"),
                ));
            }
            let known: HashSet<&String> = all.iter().collect();
            let unknown: Vec<&String> = seats.iter().filter(|s| !known.contains(s)).collect();
            if !unknown.is_empty() {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unknown_seat",
                    "these seats are not part of the event",
                )
                .with("seats", json!(unknown)));
            }
            service
                .holds
                .hold_seats(&id, &seats, holder, ttl_ms, max)
                .await?
        }
        (Inventory::Capacity(_), None, Some(quantity)) if quantity >= 1 => {
            let hold = || {
                service
                    .holds
                    .hold_quantity(&id, quantity, holder, ttl_ms, max)
            };
            match hold().await {
                // The hold store lost the capacity (flushed): record it again, then retry.
                Err(HoldError::Invalid(_)) => {
                    service.relearn(&event).await?;
                    hold().await?
                }
                other => other?,
            }
        }
        (Inventory::Seats(_), _, _) => {
            return Err(ApiError::bad_request(
                "send {\"seats\": [..]} for this event",
            ))
        }
        (Inventory::Capacity(_), _, _) => {
            return Err(ApiError::bad_request(
                "send {\"quantity\": N} for this general-admission event",
            ))
        }
    };
    service.feeds.poke(&id);
    Ok((StatusCode::CREATED, Json(hold_json(&hold))).into_response())
}

pub async fn release(
    State(service): State<Arc<BookingService>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let passes = auth::passes(&service, &headers)?;
    let hold_id = path_id(path)?;
    let unknown = || ApiError::not_found("unknown_hold", "no live hold of yours has this id");
    let event_id = event_of_hold(&hold_id).ok_or_else(unknown)?;
    // A hold id naming an event that does not exist is an unknown hold, not an unknown event.
    let event = service.event(event_id).await.map_err(|error| {
        if error.status == StatusCode::NOT_FOUND {
            unknown()
        } else {
            error
        }
    })?;
    let holder = auth::holder_in(&passes, &event)?;
    if service.holds.release(event_id, &hold_id, holder).await? {
        service.feeds.poke(event_id);
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(unknown())
    }
}
