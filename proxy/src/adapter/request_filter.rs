//! request_filter: every request — `Upgrade` ones included — is decided by the gateway
//! before anything reaches an origin, on the normal form of its target and Host; a form whose
//! meaning origins disagree on is refused here.

use pingora::prelude::*;

use super::{facts, write_reply, RequestCtx};
use crate::gateway::{Gateway, Outcome, Reply};

pub async fn run(gateway: &Gateway, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
    let peer = facts::Peer {
        ip: session
            .client_addr()
            .and_then(|address| address.as_inet())
            .map(|address| address.ip()),
        trusted_proxies: gateway.guard.trusted_proxies(),
    };
    let mut facts = match facts::read(session.req_header(), false, peer) {
        Ok(facts) => facts,
        Err(refused) => {
            // Nothing more is read from a client that sent an ambiguous request.
            session.set_keepalive(None);
            let reply = Reply::error(400, refused.code(), &refused.to_string());
            write_reply(session, reply).await?;
            return Ok(true);
        }
    };
    ctx.wants_json = facts.wants_json;
    match gateway.handle(&facts).await {
        Outcome::Proxy(plan) => {
            ctx.plan = Some(plan);
            ctx.forward = facts.forward.take();
            Ok(false)
        }
        Outcome::Reply(reply) => {
            write_reply(session, reply).await?;
            Ok(true)
        }
    }
}
