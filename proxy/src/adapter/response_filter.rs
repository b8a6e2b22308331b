//! response_filter: add what the gateway issued (pass and visitor id, as cookies for
//! browsers and headers for apps) and count the origin's answer.

use pingora::http::ResponseHeader;
use pingora::prelude::*;

use super::request_id::REQUEST_ID;
use super::RequestCtx;
use crate::gateway::{Gateway, ProxyPlan, PASS_HEADER, VISITOR_HEADER};

pub fn run(
    gateway: &Gateway,
    upstream_response: &mut ResponseHeader,
    ctx: &mut RequestCtx,
) -> Result<()> {
    upstream_response.insert_header(REQUEST_ID, ctx.request_id.as_str())?;
    let Some(plan) = ctx.plan.as_mut() else {
        return Ok(());
    };
    for addition in additions(plan) {
        match addition {
            Addition::Cookie(cookie) => {
                upstream_response.append_header("set-cookie", cookie)?;
            }
            Addition::Replace(name, value) => upstream_response.insert_header(name, value)?,
        }
    }
    count_response(gateway, plan.room, upstream_response.status.as_str());
    Ok(())
}

/// A header the gateway adds to an origin's response.
pub enum Addition {
    /// `Set-Cookie`, added to the origin's own.
    Cookie(String),
    /// Replaces whatever the origin sent under this name.
    Replace(&'static str, String),
}

/// What the gateway issued on this request, as headers for the origin's response: the pass
/// and visitor id as cookies (browsers) and headers (apps); a response carrying them is
/// one visitor's, so no shared cache may keep it.
pub fn additions(plan: &mut ProxyPlan) -> Vec<Addition> {
    if plan.set_cookies.is_empty() && plan.issued_pass.is_none() && plan.new_visitor_token.is_none()
    {
        return Vec::new();
    }
    let personal = !plan.set_cookies.is_empty();
    let mut additions: Vec<Addition> = plan.set_cookies.drain(..).map(Addition::Cookie).collect();
    if let Some(pass) = plan.issued_pass.take() {
        additions.push(Addition::Replace(PASS_HEADER, pass));
    }
    if let Some(visitor) = plan.new_visitor_token.take() {
        additions.push(Addition::Replace(VISITOR_HEADER, visitor));
    }
    if personal {
        additions.push(Addition::Replace(
            "cache-control",
            "private, no-store".into(),
        ));
    }
    additions
}

/// Count the origin's answer for the room's metrics.
pub fn count_response(gateway: &Gateway, room: Option<usize>, status: &str) {
    let room = room
        .and_then(|index| gateway.rooms.get(index))
        .map(|room| room.config.id.as_str())
        .unwrap_or("");
    gateway
        .metrics
        .upstream_responses_total
        .with_label_values(&[room, status])
        .inc();
}
