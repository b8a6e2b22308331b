//! request_filter: every request — `Upgrade` ones included — is decided by the gateway
//! before anything reaches an origin.

use pingora::prelude::*;

use super::{facts, write_reply, RequestCtx};
use crate::core::{Gateway, Outcome};

pub async fn run(gateway: &Gateway, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
    let facts = facts::read(session.req_header(), false);
    ctx.wants_json = facts.wants_json;
    match gateway.handle(&facts).await {
        Outcome::Proxy(plan) => {
            ctx.plan = Some(plan);
            Ok(false)
        }
        Outcome::Reply(reply) => {
            write_reply(session, reply).await?;
            Ok(true)
        }
    }
}
