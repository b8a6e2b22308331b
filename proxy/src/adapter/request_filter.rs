//! request_filter: every request — `Upgrade` ones included — is decided by the gateway
//! before anything reaches an origin, on the normal form of its target and Host; a form whose
//! meaning origins disagree on is refused here.

use pingora::prelude::*;

use super::request_id::RequestId;
use super::{facts, write_reply, RequestCtx};
use crate::gateway::{
    AccessOutcome, Gateway, Outcome, Reply, CHALLENGE_MAX_BODY as MAX_BODY, CHALLENGE_PATH,
};

/// The request body, up to `limit` bytes; None when it is longer.
async fn read_body(session: &mut Session, limit: usize) -> Option<bytes::Bytes> {
    let mut body = bytes::BytesMut::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return None;
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Some(body.freeze()),
            Err(_) => return Some(body.freeze()),
        }
    }
}

pub async fn run(gateway: &Gateway, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
    let peer = facts::Peer {
        ip: session
            .client_addr()
            .and_then(|address| address.as_inet())
            .map(|address| address.ip()),
        trusted_proxies: gateway.guard.trusted_proxies(),
    };
    ctx.request_id = RequestId::for_request(session.req_header(), peer.ip, peer.trusted_proxies);
    let tls = session
        .digest()
        .is_some_and(|digest| digest.ssl_digest.is_some());
    let mut facts = match facts::read(session.req_header(), tls, peer) {
        Ok(facts) => facts,
        Err(refused) => {
            // Nothing more is read from a client that sent an ambiguous request.
            session.set_keepalive(None);
            let reply = Reply::error(400, refused.code(), &refused.to_string())
                .served(AccessOutcome::Refused, None);
            answer(session, ctx, reply).await?;
            return Ok(true);
        }
    };
    ctx.wants_json = facts.wants_json;
    if facts.method == "POST" && facts.path == CHALLENGE_PATH {
        match read_body(session, MAX_BODY).await {
            Some(body) => facts.body = Some(body),
            None => {
                session.set_keepalive(None);
                let reply = Reply::error(413, "body_too_large", "at most 8 KiB")
                    .served(AccessOutcome::Refused, None);
                answer(session, ctx, reply).await?;
                return Ok(true);
            }
        }
    }
    let header = session.req_header();
    let read_guard =
        |facts: &mut crate::gateway::RequestFacts| facts::read_guard(header, peer, facts);
    match gateway.handle(&mut facts, &read_guard).await {
        Outcome::Proxy(plan) => {
            ctx.outcome = plan.outcome;
            ctx.room = plan.room;
            ctx.plan = Some(plan);
            ctx.forward = facts.forward.take();
            ctx.client_ip = facts.guard.client_ip;
            ctx.client_https = facts.tls;
            Ok(false)
        }
        Outcome::Reply(reply) => {
            answer(session, ctx, reply).await?;
            Ok(true)
        }
    }
}

/// Write the gateway's own answer, noting it for the access log and naming the request.
async fn answer(session: &mut Session, ctx: &mut RequestCtx, reply: Reply) -> Result<()> {
    ctx.outcome = reply.outcome;
    ctx.room = reply.room;
    let reply = reply.with_header("x-request-id", ctx.request_id.as_str());
    write_reply(session, reply).await
}
