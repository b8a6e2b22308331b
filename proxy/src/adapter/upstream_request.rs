//! upstream_request_filter: the origin sees only a pass the gateway verified or issued,
//! never one a client made up.

use pingora::http::RequestHeader;
use pingora::prelude::*;

use super::facts::PASS_HEADER_NAME;
use super::RequestCtx;
use crate::core::PASS_HEADER;

pub fn run(upstream_request: &mut RequestHeader, ctx: &RequestCtx) -> Result<()> {
    let forward = ctx
        .plan
        .as_ref()
        .and_then(|plan| plan.forward_pass.as_deref());
    let sent = upstream_request.headers.get_all(&PASS_HEADER_NAME);
    let mut sent_values = sent.iter();
    // An app that sent exactly the verified pass (and nothing else) needs no rewrite:
    // the common admitted request leaves the header map untouched.
    let already_right = match (forward, sent_values.next(), sent_values.next()) {
        (Some(pass), Some(value), None) => value.as_bytes() == pass.as_bytes(),
        (None, None, _) => true,
        _ => false,
    };
    if already_right {
        return Ok(());
    }
    upstream_request.remove_header(PASS_HEADER);
    if let Some(pass) = forward {
        upstream_request.insert_header(PASS_HEADER, pass)?;
    }
    Ok(())
}
