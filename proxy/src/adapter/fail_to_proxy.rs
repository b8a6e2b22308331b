//! fail_to_proxy: a branded page (or JSON) instead of Pingora's bare error when the origin
//! is down or the request is broken.

use pingora::prelude::*;
use pingora::proxy::FailToProxy;
use pingora::{ErrorSource, ErrorType};

use super::{write_reply, RequestCtx};
use crate::gateway::pages;
use crate::gateway::{AccessOutcome, Reply};

pub async fn run(session: &mut Session, error: &Error, ctx: &mut RequestCtx) -> FailToProxy {
    let code = match error.etype() {
        ErrorType::HTTPStatus(code) => *code,
        _ => match error.esource() {
            ErrorSource::Upstream => 502,
            ErrorSource::Downstream => match error.etype() {
                ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                _ => 400,
            },
            ErrorSource::Internal | ErrorSource::Unset => 500,
        },
    };
    if matches!(error.esource(), ErrorSource::Upstream) {
        ctx.outcome = AccessOutcome::UpstreamError;
    }
    if code > 0 {
        let reply = error_reply(code, ctx.wants_json, ctx.request_id.as_str());
        if let Err(write_error) = write_reply(session, reply).await {
            log::debug!("could not send the error page: {write_error}");
        }
    }
    FailToProxy {
        error_code: code,
        can_reuse_downstream: false,
    }
}

/// The gateway's answer when a request cannot be proxied: a branded page, or JSON for apps.
pub fn error_reply(code: u16, wants_json: bool, request_id: &str) -> Reply {
    let (title, detail) = match code {
        502..=504 => (
            "The site is busy",
            "We couldn't reach the site just now. Please try again in a moment.",
        ),
        400..=499 => ("Bad request", "The request could not be understood."),
        _ => ("Something went wrong", "Please try again in a moment."),
    };
    let reply = if wants_json {
        Reply::error(code, "upstream_unavailable", detail)
    } else {
        Reply::html(code, pages::error_page(code, title, detail))
    };
    reply
        .with_header("retry-after", "5")
        .with_header("x-request-id", request_id)
}
