//! Live status streams on the public listener, served on the connection itself: the request
//! head is read here (not by Pingora, whose proxy session a `ProxyHttp` filter cannot hand
//! over), the gateway opens the stream with the same checks as any request, and the SSE or
//! WebSocket loop writes what the subscription says. A connection costs its socket, a few
//! small buffers and the subscription: no proxy session stays behind it.

mod h2;
mod head;
mod sse;
mod ws;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use pingora::http::RequestHeader;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;

use super::{facts, raw_reply};
use crate::gateway::streams::{self, StreamKind, Update};
use crate::gateway::{Gateway, Reply};

pub use h2::{is_h2_event_stream, serve_h2};
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
    /// The stream reached its renewal time (`guard::renew_after`): the client reconnects
    /// and meets the bot guard again.
    Renewal,
    /// A write or protocol error.
    Error,
}

impl Ended {
    fn label(self) -> &'static str {
        match self {
            Ended::Client => "client",
            Ended::SlowClient => "slow_client",
            Ended::Shutdown => "shutdown",
            Ended::Renewal => "renewal",
            Ended::Error => "error",
        }
    }
}

/// Serve one stream request on an HTTP/1.1 `stream` (cleartext or TLS; its head not yet
/// read), to the end of the connection.
pub async fn serve(gateway: &Arc<Gateway>, mut stream: Stream, shutdown: &ShutdownWatch) {
    let Some((accept, leftover, opened)) = open(gateway, &mut stream).await else {
        return;
    };
    let kind = opened.subscription.kind();
    let ended = match accept {
        Some(accept) => ws::run(gateway, stream, leftover, &accept, opened, shutdown.clone()).await,
        None => sse::run(gateway, &mut sse::H1(&mut stream), opened, shutdown.clone()).await,
    };
    count_close(gateway, kind, ended);
}

fn count_close(gateway: &Gateway, kind: StreamKind, ended: Ended) {
    gateway
        .metrics
        .stream_closes_total
        .with_label_values(&[kind.label(), ended.label()])
        .inc();
}

/// Read the request and open its stream, or answer the refusal and return None. The request
/// (its head, its facts) ends here: an open stream keeps only what it sends, a few hundred
/// bytes, for as long as it lasts.
async fn open(
    gateway: &Arc<Gateway>,
    stream: &mut Stream,
) -> Option<(Option<String>, Vec<u8>, streams::Opened)> {
    let outcome = async {
        let (header, leftover) = match head::read(stream).await {
            Ok(read) => read,
            Err(head::HeadError::Closed) => return Err(None),
            Err(error) => {
                return Err(Some(Reply::error(
                    error.status(),
                    error.code(),
                    &error.to_string(),
                )))
            }
        };
        let ip = stream
            .get_socket_digest()
            .and_then(|digest| digest.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()));
        let tls = stream.get_ssl_digest().is_some();
        let (accept, opened) = open_request(gateway, header, ip, tls).await.map_err(Some)?;
        Ok((accept, leftover, opened))
    }
    .await;
    match outcome {
        Ok(opened) => Some(opened),
        Err(Some(reply)) => {
            let _ = raw_reply::write(stream, reply).await;
            None
        }
        Err(None) => None,
    }
}

/// Open the stream `header` asks for, with the same checks as any request, or the refusal.
/// `ip`: the connection's peer; `tls`: the connection is TLS. The head is dropped before the
/// stream opens.
async fn open_request(
    gateway: &Arc<Gateway>,
    header: RequestHeader,
    ip: Option<IpAddr>,
    tls: bool,
) -> Result<(Option<String>, streams::Opened), Reply> {
    let peer = facts::Peer {
        ip,
        trusted_proxies: gateway.guard.trusted_proxies(),
    };
    let facts = facts::read(&header, tls, peer)
        .map_err(|refused| Reply::error(400, refused.code(), &refused.to_string()))?;
    let kind = if facts.path.ends_with("/ws") {
        StreamKind::Ws
    } else {
        StreamKind::Sse
    };
    let accept = match kind {
        StreamKind::Ws => Some(ws::handshake(&header)?),
        StreamKind::Sse => None,
    };
    drop(header);
    let opened = streams::open(gateway, &facts, kind).await?;
    Ok((accept, opened))
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
