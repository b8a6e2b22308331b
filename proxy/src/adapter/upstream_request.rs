//! upstream_request_filter: the origin sees only a pass the gateway verified or issued,
//! never one a client made up.

use pingora::http::RequestHeader;
use pingora::prelude::*;

use super::RequestCtx;
use crate::core::PASS_HEADER;

pub fn run(upstream_request: &mut RequestHeader, ctx: &RequestCtx) -> Result<()> {
    upstream_request.remove_header(PASS_HEADER);
    if let Some(pass) = ctx
        .plan
        .as_ref()
        .and_then(|plan| plan.forward_pass.as_ref())
    {
        upstream_request.insert_header(PASS_HEADER, pass.as_str())?;
    }
    Ok(())
}
