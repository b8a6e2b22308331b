//! Who is calling: the visitor named by a valid pass (the holder), or the operator with the
//! admin token.

use axum::http::HeaderMap;

use anteroom_admission::{VisitorId, PASS_COOKIE};

/// Lowercase: header maps look names up as given.
const PASS_HEADER: &str = "x-anteroom-pass";

use super::errors::ApiError;
use super::BookingService;

/// At most this many pass candidates are checked per request.
const MAX_CANDIDATES: usize = 4;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

fn candidates(headers: &HeaderMap) -> Vec<&str> {
    let mut found: Vec<&str> = headers
        .get_all(PASS_HEADER)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(str::trim)
        .collect();
    for cookie in headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        for pair in cookie.split(';') {
            if let Some((name, value)) = pair.trim().split_once('=') {
                if name == PASS_COOKIE && !value.is_empty() {
                    found.push(value);
                }
            }
        }
    }
    found.truncate(MAX_CANDIDATES);
    found
}

/// The holder: the visitor of the first valid pass for `room` (any room when None).
pub fn holder(
    service: &BookingService,
    headers: &HeaderMap,
    room: Option<&str>,
) -> Result<VisitorId, ApiError> {
    let now = now();
    candidates(headers)
        .into_iter()
        .find_map(|token| {
            match room {
                Some(room) => service.keyring.verify_pass(token, room, now),
                None => service.keyring.verify_pass_any_room(token, now),
            }
            .ok()
        })
        .map(|claims| claims.visitor)
        .ok_or_else(ApiError::unauthorized)
}

/// The operator: `Authorization: Bearer <admin token>`, compared in constant time.
pub fn operator(service: &BookingService, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = &service.admin_token else {
        return Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthorized",
            "creating events is disabled: set [admin] token in the config",
        ));
    };
    let presented = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("")
        .as_bytes();
    let mut difference = presented.len() ^ expected.len();
    for (index, byte) in expected.iter().enumerate() {
        difference |= usize::from(byte ^ presented.get(index).copied().unwrap_or(0));
    }
    if difference == 0 {
        Ok(())
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send Authorization: Bearer <admin token>",
        ))
    }
}
