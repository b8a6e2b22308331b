//! The waitlist API: cancel a booking, join / look at / leave an event's waitlist (with a
//! live stream), accept or decline an offer; the operator's overview and an entry's audit
//! trail. The guarantees live in the ledger's `Waitlist`; these translate HTTP.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::{json, Value};
use std::net::SocketAddr;

use anteroom_admission::{unix_now_ms, OfferTokenError, VisitorId};
use anteroom_config::WaitlistPosition;

use super::errors::ApiError;
use super::input::{idempotency_key, json_body, path_id};
use super::{auth, sold_out, BookingService};
use crate::ledger::{Canceller, LedgerError};
use crate::waitlist::{
    band, offer_token, Entry, Offer, Position, TokenRefusal, Waitlist, WaitlistError,
};
use crate::{EventSpec, Inventory};

/// How often a live stream looks for a change (one indexed read).
const STREAM_POLL: Duration = Duration::from_millis(500);

impl From<WaitlistError> for ApiError {
    fn from(error: WaitlistError) -> ApiError {
        match error {
            WaitlistError::Full(waiting) => ApiError::new(
                StatusCode::CONFLICT,
                "waitlist_full",
                format!("the waitlist is full ({waiting} in line)"),
            ),
            WaitlistError::UnknownEntry => {
                ApiError::not_found("unknown_entry", "no waitlist entry of yours has this id")
            }
            WaitlistError::OfferClosed => ApiError::new(
                StatusCode::CONFLICT,
                "offer_closed",
                "this offer has expired, was answered already, or is not yours",
            ),
            WaitlistError::Ledger(error) => error.into(),
        }
    }
}

/// Every refused offer token is `409`: an expired one like any offer past its deadline
/// (`offer_closed`), the others `offer_token_invalid`.
impl From<TokenRefusal> for ApiError {
    fn from(refusal: TokenRefusal) -> ApiError {
        match refusal {
            TokenRefusal::Invalid(OfferTokenError::Expired) => WaitlistError::OfferClosed.into(),
            other => ApiError::new(
                StatusCode::CONFLICT,
                "offer_token_invalid",
                format!("{other}: send the offer's own token, from its status or webhook"),
            ),
        }
    }
}

/// The body of `POST /v1/offers/{id}/accept`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptBody {
    offer_token: String,
}

/// The JSON a fan sees for their entry: state, position (exact or a band), open offer.
pub fn entry_json(service: &BookingService, entry: &Entry) -> Value {
    let position = entry
        .position
        .map(|p| match service.waitlist_config.position {
            WaitlistPosition::Exact => Position::Exact(p),
            WaitlistPosition::Band => band(p),
        });
    let offer = entry
        .offer
        .as_ref()
        .map(|offer| offer_token::presented(offer, entry.visitor, &service.keyring));
    json!({
        "entry_id": entry.entry_id,
        "event": entry.event,
        "state": entry.state,
        "position": position,
        "joined_at": entry.joined_at_ms,
        "offer": offer,
    })
}

fn admin_requested(headers: &HeaderMap) -> bool {
    headers.contains_key("authorization")
}

/// `POST /v1/bookings/{id}/cancel`: the holder (pass) or the operator (admin token).
pub async fn cancel(
    State(service): State<Arc<BookingService>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let by_operator = admin_requested(&headers);
    let passes = if by_operator {
        auth::operator(&service, &headers)?;
        None
    } else {
        Some(auth::passes(&service, &headers)?)
    };
    let id = path_id(path)?;
    let key = idempotency_key(&headers)?;
    let unknown = || ApiError::not_found("unknown_booking", "no booking of yours has this id");
    let booking = service
        .ledger
        .booking(&id)
        .await
        .map_err(|error| match error {
            LedgerError::Invalid(_) => unknown(),
            other => other.into(),
        })?;
    let booking = booking.ok_or_else(unknown)?;
    let event = service.event(&booking.event).await?;
    let by = match &passes {
        Some(passes) => Canceller::Holder(auth::holder_in(passes, &event)?),
        None => Canceller::Operator,
    };
    let cancellation = service.ledger.cancel(&id, &key, by).await?;
    if cancellation.returned_to_sale {
        return_to_sale(&service, &event, &cancellation.seats, cancellation.quantity).await;
    } else {
        service.promote_soon();
    }
    service.feeds.poke(&event.id);
    Ok(Json(json!({
        "booking_id": cancellation.booking.booking_id,
        "event": cancellation.booking.event,
        "status": cancellation.booking.status,
        "seats": cancellation.seats,
        "quantity": cancellation.quantity,
        "released_to": if cancellation.returned_to_sale { "sale" } else { "waitlist" },
        "cancelled_at": cancellation.cancelled_at_ms,
    }))
    .into_response())
}

/// Places nobody on the waitlist takes go back on public sale: the hold store stops calling
/// them booked and the room is no longer sold out. Best effort (logged): the ledger has
/// already released them.
pub(crate) async fn return_to_sale(
    service: &BookingService,
    event: &EventSpec,
    seats: &[String],
    quantity: u64,
) {
    let ga_quantity = if seats.is_empty() { quantity } else { 0 };
    if let Err(error) = service
        .holds
        .return_to_sale(&event.id, seats, ga_quantity)
        .await
    {
        log::warn!(
            "event {}: released places not back on sale in the hold store: {error}",
            event.id
        );
    }
    sold_out::clear(service, event).await;
    service.feeds.poke(&event.id);
}

/// Whether the event has nothing left for the public: everything sold, or what was
/// released is reserved for (or offered to) the line.
async fn sold_out_for_the_public(
    service: &BookingService,
    waitlist: &Arc<dyn Waitlist>,
    event: &EventSpec,
) -> Result<bool, ApiError> {
    let total = match &event.inventory {
        Inventory::Seats(seats) => seats.len() as u64,
        Inventory::Capacity(capacity) => *capacity,
    };
    let sold = service.ledger.sold(&event.id).await?;
    if sold >= total {
        return Ok(true);
    }
    let line = waitlist.overview(&event.id).await?;
    Ok(sold + line.unoffered_places + line.open_offers >= total)
}

/// `POST /v1/events/{id}/waitlist` (a pass or a waitlist token of the event's room): 201
/// with the new entry, 200 with the existing one. Every join counts against the visitor's
/// and the client IP's attempt limits (as hold attempts do, in counters of their own).
pub async fn join(
    State(service): State<Arc<BookingService>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let passes = auth::waitlist_callers(&service, &headers)?;
    let id = path_id(path)?;
    let event = service.event(&id).await?;
    let visitor = auth::holder_in(&passes, &event)?;
    if let Some(attempts) = &service.attempts {
        let client = peer.map(|Extension(ConnectInfo(peer))| attempts.client(peer, &headers));
        let room = format!("{}/waitlist", event.room.as_deref().unwrap_or(&event.id));
        attempts
            .admit(&room, visitor, client, &service.limits)
            .await?;
    }
    let waitlist = &service.waitlist;
    let max_depth = service.waitlist_config.max_depth;
    if !sold_out_for_the_public(&service, waitlist, &event).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_sold_out",
            "places are still on sale: hold one instead",
        ));
    }
    let (entry, created) = waitlist.join(&event.id, visitor, max_depth).await?;
    if created {
        // A place may be waiting for its first fan.
        service.promote_soon();
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(entry_json(&service, &entry))).into_response())
}

/// The entry, if it is the caller's (else 404: no probing of other fans' entries).
async fn own_entry(
    service: &BookingService,
    headers: &HeaderMap,
    entry_id: &str,
) -> Result<(Entry, VisitorId), ApiError> {
    let passes = auth::waitlist_callers(service, headers)?;
    let waitlist = &service.waitlist;
    let entry = waitlist
        .entry(entry_id)
        .await?
        .ok_or(WaitlistError::UnknownEntry)?;
    let event = service.event(&entry.event).await?;
    let visitor = auth::holder_in(&passes, &event)?;
    if entry.visitor != visitor {
        return Err(WaitlistError::UnknownEntry.into());
    }
    Ok((entry, visitor))
}

/// `GET /v1/waitlist/{entry_id}`.
pub async fn show(
    State(service): State<Arc<BookingService>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let id = path_id(path)?;
    let (entry, _) = own_entry(&service, &headers, &id).await?;
    Ok(Json(entry_json(&service, &entry)))
}

/// `GET /v1/waitlist/{entry_id}/events`: Server-Sent Events, `event: entry` with the same
/// object as the status, at once and on every change (an offer shows within a poll,
/// whatever the webhook does).
pub async fn stream(
    State(service): State<Arc<BookingService>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = path_id(path)?;
    let (entry, _) = own_entry(&service, &headers, &id).await?;
    let first = entry_json(&service, &entry);
    let waitlist = service.waitlist.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<SseEvent, Infallible>>(4);
    let weak = Arc::downgrade(&service);
    tokio::spawn(async move {
        let mut last = first.clone();
        if tx
            .send(Ok(SseEvent::default()
                .event("entry")
                .data(first.to_string())))
            .await
            .is_err()
        {
            return;
        }
        loop {
            tokio::select! {
                _ = tx.closed() => return,
                _ = tokio::time::sleep(STREAM_POLL) => {}
            }
            let Some(service) = weak.upgrade() else {
                return;
            };
            let Ok(Some(entry)) = waitlist.entry(&id).await else {
                continue;
            };
            let now = entry_json(&service, &entry);
            if now != last {
                let event = SseEvent::default().event("entry").data(now.to_string());
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
                last = now;
            }
        }
    });
    let events = tokio_stream_from(rx);
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// `DELETE /v1/waitlist/{entry_id}`: leave (also while offered: the offer goes to the next).
pub async fn leave(
    State(service): State<Arc<BookingService>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let id = path_id(path)?;
    let (_, visitor) = own_entry(&service, &headers, &id).await?;
    let entry = service.waitlist.leave(&id, visitor).await?;
    service.promote_soon();
    Ok(Json(entry_json(&service, &entry)))
}

/// The offer, its event and the caller's visitor id in it (a foreign or unknown offer is
/// 409 offer_closed, like an expired one).
async fn offer_caller(
    service: &BookingService,
    passes: &auth::Passes,
    offer_id: &str,
) -> Result<(Offer, Arc<EventSpec>, VisitorId), ApiError> {
    let offer = service
        .waitlist
        .offer(offer_id)
        .await?
        .ok_or(WaitlistError::OfferClosed)?;
    let event = service.event(&offer.event).await?;
    let visitor = auth::holder_in(passes, &event)?;
    Ok((offer, event, visitor))
}

/// `POST /v1/offers/{id}/accept` + Idempotency-Key + `{"offer_token"}` → 201 with the
/// booking. The token is checked (signature and deadline) before the database is asked,
/// then bound to the offer and the caller.
pub async fn accept(
    State(service): State<Arc<BookingService>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let passes = auth::waitlist_callers(&service, &headers)?;
    let id = path_id(path)?;
    let key = idempotency_key(&headers)?;
    let AcceptBody { offer_token: token } = json_body(body)?;
    let claims = service
        .keyring
        .verify_offer_token(&token, unix_now_ms())
        .map_err(TokenRefusal::from)?;
    if claims.offer != id {
        return Err(TokenRefusal::Mismatch("offer").into());
    }
    let (offer, event, visitor) = offer_caller(&service, &passes, &id).await?;
    offer_token::bound_to(&claims, &offer, visitor)?;
    let (booking, fresh) = service.waitlist.accept(&id, &key, visitor).await?;
    if fresh {
        service.metrics.outcome("accepted", 1);
    }
    service.feeds.poke(&event.id);
    sold_out::signal(&service, &event).await;
    Ok((
        StatusCode::CREATED,
        Json(super::bookings::booking_json(&booking)),
    )
        .into_response())
}

/// `POST /v1/offers/{id}/decline`: the place goes to the next fan.
pub async fn decline(
    State(service): State<Arc<BookingService>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let passes = auth::waitlist_callers(&service, &headers)?;
    let id = path_id(path)?;
    let (_, _, visitor) = offer_caller(&service, &passes, &id).await?;
    let entry = service.waitlist.decline(&id, visitor).await?;
    service.metrics.outcome("declined", 1);
    service.promote_soon();
    Ok(Json(entry_json(&service, &entry)))
}

/// Admin `GET /v1/events/{id}/waitlist`: depth, offers, promotion lag, outbox backlog.
pub async fn overview(
    State(service): State<Arc<BookingService>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    auth::operator(&service, &headers)?;
    let id = path_id(path)?;
    let event = service.event(&id).await?;
    let overview = service.waitlist.overview(&event.id).await?;
    Ok(Json(json!(overview)))
}

/// Admin `GET /v1/waitlist/{entry_id}/audit`: the entry and every transition it went through.
pub async fn audit(
    State(service): State<Arc<BookingService>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    auth::operator(&service, &headers)?;
    let id = path_id(path)?;
    let waitlist = &service.waitlist;
    let entry = waitlist
        .entry(&id)
        .await?
        .ok_or(WaitlistError::UnknownEntry)?;
    let audit = waitlist.audit(&id).await?;
    Ok(Json(json!({
        "entry": entry_json(&service, &entry),
        "visitor": entry.visitor.to_hex(),
        "audit": audit,
    })))
}

/// `GET /metrics` (operator token): the waitlist metrics, gauges refreshed from the
/// database for every event.
pub async fn metrics(
    State(service): State<Arc<BookingService>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth::operator(&service, &headers)?;
    for event in service.ledger.events().await? {
        service
            .metrics
            .observe(&service.waitlist.overview(&event.id).await?);
    }
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        service.metrics.render(),
    )
        .into_response())
}
