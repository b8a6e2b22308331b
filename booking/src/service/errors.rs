//! Every failure the API reports: JSON `{"error": code, "detail": text}` with the right
//! status (and `Retry-After` when a backend is briefly away).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::holds::HoldError;
use crate::ledger::LedgerError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// Extra fields merged into the body (e.g. `"seats"` for seat_taken).
    pub extra: Option<(&'static str, Value)>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            detail: detail.into(),
            extra: None,
            retry_after: None,
        }
    }

    pub fn with(mut self, key: &'static str, value: Value) -> ApiError {
        self.extra = Some((key, value));
        self
    }

    pub fn unavailable(what: &str, detail: impl std::fmt::Display) -> ApiError {
        log::warn!("{what} unavailable: {detail}");
        ApiError {
            retry_after: Some(2),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("the {what} is briefly unavailable; retry in a moment"),
            )
        }
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid Anteroom pass is required (cookie anteroom_pass or header X-Anteroom-Pass)",
        )
    }

    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", detail)
    }

    pub fn not_found(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, detail)
    }

    pub fn hold_expired() -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            "hold_expired",
            "this hold has expired or is not yours; hold the seats again",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.code, "detail": self.detail });
        if let (Some((key, value)), Some(object)) = (self.extra, body.as_object_mut()) {
            object.insert(key.to_string(), value);
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<HoldError> for ApiError {
    fn from(error: HoldError) -> ApiError {
        match error {
            HoldError::SeatTaken(seats) => ApiError::new(
                StatusCode::CONFLICT,
                "seat_taken",
                "some of these seats are held or booked by someone else",
            )
            .with("seats", json!(seats)),
            HoldError::TooManySeats { limit } => ApiError::new(
                StatusCode::CONFLICT,
                "too_many_seats",
                format!("at most {limit} seats per visitor at a time"),
            ),
            HoldError::NotEnoughLeft { available } => ApiError::new(
                StatusCode::CONFLICT,
                "not_enough_left",
                format!("only {available} left"),
            )
            .with("available", json!(available)),
            HoldError::Invalid(detail) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", detail)
            }
            HoldError::Unavailable(detail) => ApiError::unavailable("hold store", detail),
        }
    }
}

impl From<LedgerError> for ApiError {
    fn from(error: LedgerError) -> ApiError {
        match error {
            LedgerError::SeatsAlreadyBooked(seats) => ApiError::new(
                StatusCode::CONFLICT,
                "seat_taken",
                "some of these seats are already booked",
            )
            .with("seats", json!(seats)),
            LedgerError::StaleFence => ApiError::hold_expired(),
            LedgerError::SoldOut => {
                ApiError::new(StatusCode::CONFLICT, "sold_out", "nothing left to sell")
            }
            LedgerError::IdempotencyKeyReused => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was already used for another hold",
            ),
            LedgerError::UnknownEvent => ApiError::not_found("unknown_event", "no such event"),
            LedgerError::EventConflict => ApiError::new(
                StatusCode::CONFLICT,
                "event_exists",
                "an event with this id exists with a different inventory",
            ),
            LedgerError::Invalid(detail) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", detail)
            }
            LedgerError::Unavailable(detail) => ApiError::unavailable("database", detail),
            LedgerError::UnknownBooking => {
                ApiError::not_found("unknown_booking", "no booking of yours has this id")
            }
        }
    }
}

impl From<super::BookingError> for ApiError {
    fn from(error: super::BookingError) -> ApiError {
        use super::BookingError;
        match error {
            BookingError::Holds(error) => error.into(),
            BookingError::Ledger(error) => error.into(),
            BookingError::Queue(error) => ApiError::unavailable("queue store", error),
            // Start-up errors: no request meets them.
            BookingError::Keys(_) | BookingError::Webhook(_) => {
                log::error!("{error}");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the service is misconfigured",
                )
            }
        }
    }
}
