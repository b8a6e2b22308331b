//! response_filter: add the cookies the gateway issued (pass, visitor id) and count the
//! origin's answer.

use pingora::http::ResponseHeader;
use pingora::prelude::*;

use super::RequestCtx;
use crate::core::Gateway;

pub fn run(
    gateway: &Gateway,
    upstream_response: &mut ResponseHeader,
    ctx: &mut RequestCtx,
) -> Result<()> {
    let Some(plan) = ctx.plan.as_mut() else {
        return Ok(());
    };
    for cookie in plan.set_cookies.drain(..) {
        upstream_response.append_header("set-cookie", cookie)?;
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
