//! The Pingora adapter: translates between HTTP sessions and the gateway's domain, one
//! module per proxy phase. No queue or admission logic lives here.

mod direct;
mod facts;
mod fail_to_proxy;
pub mod head_deadline;
mod logging;
pub mod proxy_protocol;
pub mod public_app;
mod raw_reply;
mod request_filter;
pub mod request_id;
mod response_filter;
mod spare_buffers;
pub mod streams;
mod upstream_peer;
mod upstream_request;
mod write_reply;

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use pingora::prelude::*;
use pingora::proxy::FailToProxy;

use crate::gateway::{AccessOutcome, CurrentGateway, ForwardTarget, Gateway, ProxyPlan};
use request_id::RequestId;

pub use write_reply::write_reply;

/// Per-request state carried between phases.
pub struct RequestCtx {
    plan: Option<ProxyPlan>,
    /// The normal target the origin gets when the client sent another form.
    forward: Option<ForwardTarget>,
    wants_json: bool,
    /// The client as the gateway resolved it (`[listen] trusted_proxies`), appended to the
    /// upstream request's `X-Forwarded-For`.
    client_ip: Option<std::net::IpAddr>,
    /// For the access log: when the request began, its id, what the gateway decided and in
    /// which room (an index).
    started: Instant,
    request_id: RequestId,
    outcome: AccessOutcome,
    room: Option<usize>,
    /// The client's connection is HTTPS (TLS here, or a trusted proxy said so): the origin's
    /// `X-Forwarded-Proto`.
    client_https: bool,
    /// The gateway in force when the request arrived: every phase of the request uses it,
    /// whatever a reload puts in force meanwhile.
    gateway: Option<Arc<Gateway>>,
}

impl Default for RequestCtx {
    fn default() -> Self {
        RequestCtx {
            plan: None,
            forward: None,
            wants_json: false,
            client_ip: None,
            started: Instant::now(),
            request_id: RequestId::default(),
            outcome: AccessOutcome::default(),
            room: None,
            client_https: false,
            gateway: None,
        }
    }
}

pub struct GatewayProxy {
    current: Arc<CurrentGateway>,
    /// `[log] access`
    access_log: bool,
}

impl GatewayProxy {
    pub fn new(current: Arc<CurrentGateway>) -> GatewayProxy {
        GatewayProxy {
            current,
            access_log: true,
        }
    }

    pub fn with_access_log(mut self, on: bool) -> GatewayProxy {
        self.access_log = on;
        self
    }
}

#[async_trait]
impl ProxyHttp for GatewayProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::default()
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        if session.is_process_shutting_down() {
            // Listeners closed (upgrade, shutdown): this answer ends its connection, so the
            // client's next request opens one to the new instance instead of racing the exit.
            session.set_keepalive(None);
        }
        let gateway = self.current.get();
        ctx.gateway = Some(gateway.clone());
        request_filter::run(&gateway, session, ctx).await
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        upstream_peer::run(ctx)
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        upstream_request::run(upstream_request, ctx)
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let gateway = ctx.gateway.clone().unwrap_or_else(|| self.current.get());
        response_filter::run(&gateway, upstream_response, ctx)
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        error: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        fail_to_proxy::run(session, error, ctx).await
    }

    async fn logging(&self, session: &mut Session, error: Option<&Error>, ctx: &mut RequestCtx) {
        if self.access_log {
            let gateway = ctx.gateway.take().unwrap_or_else(|| self.current.get());
            logging::run(&gateway, session, error, ctx);
        }
    }
}
