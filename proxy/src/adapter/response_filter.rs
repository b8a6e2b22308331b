//! response_filter: add what the gateway issued (pass and visitor id, as cookies for
//! browsers and headers for apps) and count the origin's answer.

use pingora::http::ResponseHeader;
use pingora::prelude::*;

use super::request_id::REQUEST_ID;
use super::RequestCtx;
use crate::gateway::{Gateway, PASS_HEADER, VISITOR_HEADER};

pub fn run(
    gateway: &Gateway,
    upstream_response: &mut ResponseHeader,
    ctx: &mut RequestCtx,
) -> Result<()> {
    upstream_response.insert_header(REQUEST_ID, ctx.request_id.as_str())?;
    let Some(plan) = ctx.plan.as_mut() else {
        return Ok(());
    };
    let personal = !plan.set_cookies.is_empty();
    for cookie in plan.set_cookies.drain(..) {
        upstream_response.append_header("set-cookie", cookie)?;
    }
    if let Some(pass) = plan.issued_pass.take() {
        upstream_response.insert_header(PASS_HEADER, pass)?;
    }
    if let Some(visitor) = plan.new_visitor_token.take() {
        upstream_response.insert_header(VISITOR_HEADER, visitor)?;
    }
    if personal {
        // This response now carries one visitor's credentials: no shared cache may keep it.
        upstream_response.insert_header("cache-control", "private, no-store")?;
    }
    let room = plan
        .room
        .and_then(|index| gateway.rooms.get(index))
        .map(|room| room.config.id.as_str())
        .unwrap_or("");
    gateway
        .metrics
        .upstream_responses_total
        .with_label_values(&[room, upstream_response.status.as_str()])
        .inc();
    Ok(())
}
