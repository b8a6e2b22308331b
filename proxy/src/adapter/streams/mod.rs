//! Live status streams on the public listener, served on the connection itself: the request
//! head is read here (not by Pingora, whose proxy session a `ProxyHttp` filter cannot hand
//! over), the gateway opens the stream with the same checks as any request, and the SSE or
//! WebSocket loop writes what the subscription says. A connection costs its socket, a few
//! small buffers and the subscription: no proxy session stays behind it.

mod head;
mod raw_reply;
mod sse;
mod ws;

use std::sync::Arc;
use std::time::Duration;

use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;

use super::facts;
use crate::gateway::streams::{self, StreamKind, Update};
use crate::gateway::{Gateway, Reply};

pub use head::looks_like_stream_request;

/// How many first bytes of a request tell a stream request apart.
pub const fn head_len() -> usize {
    head::PEEK_LEN
}

/// A write that a client does not take within this long ends its stream: a client that
/// stops reading holds no memory (only the latest status is ever pending).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How a stream ended (the `reason` label of `anteroom_stream_closes_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The client closed it.
    Client,
    /// The client did not take a write within `WRITE_TIMEOUT`, or stopped answering pings.
    SlowClient,
    /// This process is shutting down (the client reconnects to the next one).
    Shutdown,
    /// A write or protocol error.
    Error,
}

impl Ended {
    fn label(self) -> &'static str {
        match self {
            Ended::Client => "client",
            Ended::SlowClient => "slow_client",
            Ended::Shutdown => "shutdown",
            Ended::Error => "error",
        }
    }
}

/// Serve one stream request on `stream` (its head not yet read), to the end of the
/// connection.
pub async fn serve(gateway: &Arc<Gateway>, mut stream: Stream, shutdown: &ShutdownWatch) {
    let (header, leftover) = match head::read(&mut stream).await {
        Ok(read) => read,
        Err(head::HeadError::Closed) => return,
        Err(error) => {
            let reply = Reply::error(error.status(), error.code(), &error.to_string());
            let _ = raw_reply::write(&mut stream, reply).await;
            return;
        }
    };
    let facts = match facts::read(&header, false) {
        Ok(facts) => facts,
        Err(refused) => {
            let reply = Reply::error(400, refused.code(), &refused.to_string());
            let _ = raw_reply::write(&mut stream, reply).await;
            return;
        }
    };
    let kind = if facts.path.ends_with("/ws") {
        StreamKind::Ws
    } else {
        StreamKind::Sse
    };
    let handshake = match kind {
        StreamKind::Ws => match ws::handshake(&header) {
            Ok(accept) => Some(accept),
            Err(reply) => {
                let _ = raw_reply::write(&mut stream, reply).await;
                return;
            }
        },
        StreamKind::Sse => None,
    };
    let opened = match streams::open(gateway, &facts, kind).await {
        Ok(opened) => opened,
        Err(reply) => {
            let _ = raw_reply::write(&mut stream, reply).await;
            return;
        }
    };
    let ended = match handshake {
        Some(accept) => ws::run(gateway, stream, leftover, &accept, opened, shutdown.clone()).await,
        None => sse::run(gateway, &mut stream, opened, shutdown.clone()).await,
    };
    gateway
        .metrics
        .stream_closes_total
        .with_label_values(&[kind.label(), ended.label()])
        .inc();
}

/// Count the lag of an update caused by a change of the line.
fn observe(gateway: &Gateway, kind: StreamKind, update: &Update) {
    if let Some(lag) = update.lag {
        gateway
            .metrics
            .stream_update_seconds
            .with_label_values(&[kind.label()])
            .observe(lag.as_secs_f64());
    }
}
