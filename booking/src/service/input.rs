//! Reading requests ourselves so that every refusal is a JSON error: axum's own rejections
//! answer in plain text, which API clients (and the shop page) could not show.

use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::Path;
use axum::http::StatusCode;
use bytes::Bytes;

use super::errors::ApiError;
use super::MAX_BODY;

/// Parse a JSON body (unknown fields are refused by the request types).
pub fn json_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "body_too_large",
                format!("at most {MAX_BODY} bytes"),
            )
        } else {
            ApiError::new(status, "invalid_request", rejection.body_text())
        }
    })?;
    serde_json::from_slice(&body).map_err(|error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("request body: {error}"),
        )
    })
}

/// One path segment (an event, hold or booking id).
pub fn path_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(id)| id)
        .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
}

/// A WebSocket upgrade, or a JSON error saying the endpoint is a WebSocket.
pub fn upgrade(
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<WebSocketUpgrade, ApiError> {
    upgrade.map_err(|rejection| {
        ApiError::new(
            rejection.status(),
            "websocket_required",
            format!(
                "this endpoint is a WebSocket (GET with Upgrade: websocket): {}",
                rejection.body_text()
            ),
        )
    })
}

/// The `Idempotency-Key` header (1-255 characters after trimming), or 400.
pub fn idempotency_key(headers: &axum::http::HeaderMap) -> Result<String, ApiError> {
    headers
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|key| !key.is_empty() && key.len() <= crate::ledger::MAX_IDEMPOTENCY_KEY_LEN)
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request("send an Idempotency-Key header (1-255 characters)"))
}
