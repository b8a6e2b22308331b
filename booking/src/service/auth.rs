//! Who is calling: the visitor named by a valid pass (the holder), or the operator with the
//! admin token.
//!
//! Passes are checked in two steps so that a caller without any valid pass gets `401` before
//! anything is looked up (no probing which events or bookings exist): first every presented
//! pass is verified for any room ([`passes`]), then, once the event is known, one of them
//! must name the event's room ([`holder_in`]).
//!
//! The waitlist endpoints also take a **waitlist token** (`X-Anteroom-Waitlist`), which the
//! gateway hands to the visitors of a sold-out room ([`waitlist_callers`]): a fan who waited
//! in the line and never got a pass can join and follow the line with it. It stands for the
//! same (room, visitor) as a pass would, and for nothing else: holds and bookings ask
//! [`passes`], which never reads it.

use axum::http::HeaderMap;

use anteroom_admission::{
    constant_time_eq, parse_cookies, unix_now, VisitorId, PASS_COOKIE, PASS_HEADER_LOWER,
    WAITLIST_HEADER_LOWER,
};

use super::errors::ApiError;
use super::BookingService;
use crate::EventSpec;

/// At most this many pass candidates are checked per request (a bounded amount of HMAC work
/// whatever a client sends).
const MAX_CANDIDATES: usize = 4;

/// Who the valid credentials of a request admit, at least one (else 401).
pub struct Passes(Vec<Caller>);

/// One valid credential: a pass, or a waitlist token, of `room` for `visitor`.
struct Caller {
    room: String,
    visitor: VisitorId,
    /// A waitlist token names its room and only that room, even for an event without one.
    waitlist_token: bool,
}

fn candidates(headers: &HeaderMap) -> Vec<String> {
    let mut found: Vec<String> = headers
        .get_all(PASS_HEADER_LOWER)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(|value| value.trim().to_string())
        .collect();
    let jar = parse_cookies(
        headers
            .get_all("cookie")
            .iter()
            .filter_map(|value| value.to_str().ok()),
    );
    found.extend(jar.all(PASS_COOKIE).map(str::to_string));
    found.truncate(MAX_CANDIDATES);
    found
}

/// Every valid (signed, unexpired) pass of the request, whatever its room; 401 if none.
pub fn passes(service: &BookingService, headers: &HeaderMap) -> Result<Passes, ApiError> {
    let now = unix_now();
    let valid: Vec<Caller> = candidates(headers)
        .into_iter()
        .filter_map(|token| service.keyring.verify_pass_any_room(&token, now).ok())
        .map(|claims| Caller {
            room: claims.room,
            visitor: claims.visitor,
            waitlist_token: false,
        })
        .collect();
    if valid.is_empty() {
        Err(ApiError::unauthorized())
    } else {
        Ok(Passes(valid))
    }
}

/// For the waitlist endpoints only: the valid passes and waitlist tokens
/// (`X-Anteroom-Waitlist`, at most [`MAX_CANDIDATES`]) of the request, whatever their room;
/// 401 if none. A token presented but refused (forged, expired, altered) is 401 with
/// `waitlist_token_invalid`, so an app can tell it to fetch a fresh one from the gateway.
pub fn waitlist_callers(service: &BookingService, headers: &HeaderMap) -> Result<Passes, ApiError> {
    let now = unix_now();
    let tokens: Vec<&str> = headers
        .get_all(WAITLIST_HEADER_LOWER)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(str::trim)
        .take(MAX_CANDIDATES)
        .collect();
    let mut valid: Vec<Caller> = Vec::new();
    let mut refused = None;
    for token in tokens {
        match service.keyring.verify_waitlist_token(token, now) {
            Ok(claims) => valid.push(Caller {
                room: claims.room,
                visitor: claims.visitor,
                waitlist_token: true,
            }),
            Err(error) => refused = Some(error),
        }
    }
    match passes(service, headers) {
        Ok(Passes(more)) => valid.extend(more),
        Err(unauthorized) if valid.is_empty() => {
            return Err(match refused {
                Some(error) => ApiError::new(
                    axum::http::StatusCode::UNAUTHORIZED,
                    "waitlist_token_invalid",
                    format!(
                        "waitlist token refused ({error}): get a fresh one from the gateway's \
                         status (waitlist.token) while the room is sold out"
                    ),
                ),
                None => unauthorized,
            })
        }
        Err(_) => {}
    }
    Ok(Passes(valid))
}

/// The holder for `event`: the visitor of the first pass (or waitlist token) scoped to the
/// event's room (any pass when the event names no room; a waitlist token never there). A
/// credential of another room is none here: 401.
pub fn holder_in(passes: &Passes, event: &EventSpec) -> Result<VisitorId, ApiError> {
    passes
        .0
        .iter()
        .find(|caller| match event.room.as_deref() {
            Some(room) => caller.room == room,
            None => !caller.waitlist_token,
        })
        .map(|caller| caller.visitor)
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
    if constant_time_eq(presented, expected) {
        Ok(())
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send Authorization: Bearer <admin token>",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Inventory;

    fn claims(room: &str, byte: u8) -> Caller {
        Caller {
            room: room.into(),
            visitor: VisitorId([byte; 16]),
            waitlist_token: false,
        }
    }

    fn event(room: Option<&str>) -> EventSpec {
        EventSpec {
            id: "e".into(),
            room: room.map(str::to_string),
            inventory: Inventory::Capacity(1),
        }
    }

    #[test]
    fn the_pass_must_name_the_events_room() {
        let passes = Passes(vec![claims("a", 1), claims("b", 2)]);
        assert_eq!(
            holder_in(&passes, &event(Some("b"))).unwrap(),
            VisitorId([2; 16])
        );
        assert_eq!(
            holder_in(&passes, &event(None)).unwrap(),
            VisitorId([1; 16])
        );
        let refused = holder_in(&passes, &event(Some("c"))).unwrap_err();
        assert_eq!(refused.status, axum::http::StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn a_waitlist_token_names_only_its_room() {
        let token = Caller {
            waitlist_token: true,
            ..claims("a", 3)
        };
        let passes = Passes(vec![token]);
        assert_eq!(
            holder_in(&passes, &event(Some("a"))).unwrap(),
            VisitorId([3; 16])
        );
        for other in [event(Some("b")), event(None)] {
            let refused = holder_in(&passes, &other).unwrap_err();
            assert_eq!(refused.status, axum::http::StatusCode::UNAUTHORIZED);
        }
    }

    #[test]
    fn header_and_cookie_candidates_are_bounded() {
        let mut headers = HeaderMap::new();
        headers.append(PASS_HEADER_LOWER, " h1 ".parse().unwrap());
        headers.append(
            "cookie",
            "x=1; anteroom_pass=c1; anteroom_pass=c2; anteroom_pass=c3; anteroom_pass=c4"
                .parse()
                .unwrap(),
        );
        assert_eq!(candidates(&headers), vec!["h1", "c1", "c2", "c3"]);
    }
}
