//! logging: one access-log line per request (target `access`, level info) when `[log]
//! access` is on — room, the gateway's outcome, status, latency, request id, method and the
//! path cut to a bounded length. Never the query, a header or a cookie: passes, visitor ids
//! and tokens travel there. Written by hand into the process log's buffer
//! (`runtime::logs::access`, the logger's own line format); the fields are borrowed, so a
//! line costs no allocation.

use pingora::prelude::*;

use super::RequestCtx;
use crate::gateway::{AccessOutcome, Gateway};
use crate::runtime::access_line::AccessFields;
use crate::runtime::logs;

/// Longest path written; longer ones are cut (at a character boundary).
pub const MAX_LOGGED_PATH: usize = 128;

pub fn run(gateway: &Gateway, session: &Session, error: Option<&Error>, ctx: &RequestCtx) {
    let status = session
        .response_written()
        .map_or(0, |response| response.status.as_u16());
    // An error after the gateway decided to proxy is the origin's (or the connection's).
    let outcome = match (error, ctx.outcome) {
        (Some(_), AccessOutcome::Proxied | AccessOutcome::Admitted)
            if status == 0 || status >= 500 =>
        {
            AccessOutcome::UpstreamError
        }
        (_, outcome) => outcome,
    };
    let request = session.req_header();
    line(
        gateway,
        ctx,
        outcome,
        status,
        request.method.as_str(),
        request.uri.path(),
    );
}

/// Write the access line of one request (either path: Pingora's or the direct one).
pub fn line(
    gateway: &Gateway,
    ctx: &RequestCtx,
    outcome: AccessOutcome,
    status: u16,
    method: &str,
    path: &str,
) {
    let room = ctx
        .room
        .and_then(|index| gateway.rooms.get(index))
        .map_or("-", |room| room.config.id.as_str());
    logs::access(&AccessFields {
        request_id: ctx.request_id.as_str(),
        room,
        outcome: outcome.as_str(),
        status,
        latency_us: u64::try_from(ctx.started.elapsed().as_micros()).unwrap_or(u64::MAX),
        method,
        path: bounded(path),
    });
}

/// `path` cut to at most `MAX_LOGGED_PATH` bytes.
pub fn bounded(path: &str) -> &str {
    if path.len() <= MAX_LOGGED_PATH {
        return path;
    }
    let mut end = MAX_LOGGED_PATH;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    path.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_paths_are_cut_at_a_character_boundary() {
        assert_eq!(bounded("/tour"), "/tour");
        let long = format!("/{}", "é".repeat(100));
        let cut = bounded(&long);
        assert!(cut.len() <= MAX_LOGGED_PATH && cut.len() >= MAX_LOGGED_PATH - 1);
        assert!(long.starts_with(cut));
    }
}
