//! upstream_peer: the origin the gateway chose.

use pingora::prelude::*;

use super::RequestCtx;

pub fn run(ctx: &RequestCtx) -> Result<Box<HttpPeer>> {
    match &ctx.plan {
        Some(plan) => Ok(Box::new(HttpPeer::new(plan.origin, false, String::new()))),
        // request_filter always answers or plans; reaching here without a plan is a bug.
        None => Error::e_explain(InternalError, "no proxy plan for this request"),
    }
}
