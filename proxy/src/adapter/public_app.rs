//! The public listener's connection loop. It is Pingora's own HTTP/1 loop (one session per
//! request, the connection handed back for keep-alive) with one addition: before each
//! request its first bytes are peeked, and a live stream request (`GET /_anteroom/events`,
//! `GET /_anteroom/ws`) is served here on the connection instead of by the proxy — on the
//! first request of a connection or any later one, as browsers reuse connections for
//! `EventSource`. Every request head is time-bounded (`head_deadline`).
//!
//! With TLS configured the handshake is done here (under the same time bound, so a slow
//! handshake holds a connection no longer than a slow head), and the connection then goes
//! the same way decrypted: HTTP/1.1 to the loop above (the peek reads ahead through TLS),
//! HTTP/2 (chosen by ALPN) to an HTTP/2 loop that serves event streams on their HTTP/2
//! streams and hands every other request to the proxy.
//!
//! With `[listen] proxy_protocol`, a connection from a trusted proxy opens with a PROXY
//! header (read first, under the same time bound); the client it names becomes the
//! connection's peer for everything after — the gateway's client address, the bot guard,
//! `X-Forwarded-For`. A trusted connection without one is closed: a balancer configured to
//! send it always does, so its absence is a misconfiguration or someone else.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ServerApp};
use pingora::listeners::tls::Acceptor;
use pingora::listeners::ALPN;
use pingora::protocols::http::v2::server::{self as h2, H2Accept, HttpSession};
use pingora::protocols::http::ServerSession;
use pingora::protocols::l4::socket::SocketAddr as InetOrUnix;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::{Digest, Peek, Shutdown, SocketDigest, Stream};
use pingora::proxy::HttpProxy;
use pingora::server::ShutdownWatch;

use super::direct::{DirectPath, Served};
use super::head_deadline::BoundedHead;
use super::proxy_protocol::{self, Proxied};
use super::streams::{self, looks_like_stream_request};
use super::GatewayProxy;
use crate::gateway::CurrentGateway;

/// Pingora's keep-alive wait for the next request on a connection (its default).
const KEEPALIVE_SECONDS: u64 = 60;
/// Malformed HTTP/2 streams one connection may send before it is closed (Pingora's bound).
const MAX_MALFORMED_H2_STREAMS: usize = 32;

pub struct PublicApp {
    proxy: Arc<HttpProxy<GatewayProxy>>,
    current: Arc<CurrentGateway>,
    head_limit: Duration,
    /// Set when the listener speaks TLS.
    tls: Option<Acceptor>,
    /// `[listen] proxy_protocol`
    proxy_protocol: bool,
    /// Admitted `GET`/`HEAD` requests served without Pingora's proxy loop (`direct`);
    /// off (`[listen] direct_path = false`), every request goes to Pingora.
    direct: DirectPath,
    direct_on: bool,
}

impl PublicApp {
    pub fn new(
        proxy: HttpProxy<GatewayProxy>,
        current: Arc<CurrentGateway>,
        head_limit: Duration,
        tls: Option<Acceptor>,
    ) -> PublicApp {
        PublicApp {
            proxy: Arc::new(proxy),
            current,
            head_limit,
            tls,
            proxy_protocol: false,
            direct: DirectPath::new(true),
            direct_on: true,
        }
    }

    /// `[listen] direct_path`
    pub fn with_direct_path(mut self, on: bool) -> PublicApp {
        self.direct_on = on;
        self
    }

    /// `[log] access` for the requests the direct path serves (the proxy logs its own).
    pub fn with_access_log(mut self, on: bool) -> PublicApp {
        self.direct = DirectPath::new(on);
        self
    }

    /// Read a PROXY header on connections from trusted proxies (`[listen] proxy_protocol`).
    pub fn with_proxy_protocol(mut self, on: bool) -> PublicApp {
        self.proxy_protocol = on;
        self
    }

    /// The connection with its client as a trusted proxy's PROXY header names it; `None`
    /// (the connection is dropped) when that header is missing, malformed or too slow.
    async fn take_proxy_header(&self, mut stream: Stream) -> Option<Stream> {
        let digest = stream.get_socket_digest();
        let peer = digest
            .as_ref()
            .and_then(|digest| digest.peer_addr())
            .and_then(|peer| peer.as_inet())
            .map(|peer| peer.ip());
        let gateway = self.current.get();
        let trusted = peer.is_some_and(|peer| {
            anteroom_bot_guard::is_trusted(peer, gateway.guard.trusted_proxies())
        });
        if !trusted {
            return Some(stream);
        }
        let header = tokio::time::timeout(self.head_limit, proxy_protocol::read(&mut stream)).await;
        match header {
            Ok(Ok(Some(Proxied::Client(client)))) => {
                let named = SocketDigest::from_raw_fd(stream.id());
                let _ = named.peer_addr.set(Some(InetOrUnix::Inet(client)));
                let local = digest
                    .as_ref()
                    .and_then(|digest| digest.local_addr().cloned());
                let _ = named.local_addr.set(local);
                stream.set_socket_digest(named);
                Some(stream)
            }
            // A health check of the balancer's own: the connection is the balancer's.
            Ok(Ok(Some(Proxied::Local))) => Some(stream),
            Ok(Ok(None)) | Ok(Err(_)) | Err(_) => None,
        }
    }

    /// The TLS handshake, within the head limit; None when it fails or takes longer.
    async fn tls_handshake(&self, acceptor: &Acceptor, stream: Stream) -> Option<Stream> {
        // The listener hands over its TCP stream as it accepted it.
        let Ok(tcp) = stream.into_any().downcast::<L4Stream>() else {
            log::error!("public listener: a connection that is not TCP cannot take TLS");
            return None;
        };
        match tokio::time::timeout(self.head_limit, acceptor.tls_handshake(*tcp)).await {
            Ok(Ok(tls)) => Some(Box::new(tls)),
            Ok(Err(error)) => {
                log::debug!("TLS handshake failed: {error}");
                None
            }
            Err(_) => None,
        }
    }

    /// An HTTP/2 connection: each request on its own task, event streams served here and
    /// the rest by the proxy; on shutdown a GOAWAY lets the open streams finish. A connection
    /// with no request in progress is closed after one to two keep-alive periods, as an idle
    /// HTTP/1.1 one is after one.
    async fn serve_h2(self: &Arc<Self>, stream: Stream, shutdown: &ShutdownWatch) {
        let digest = Arc::new(Digest {
            ssl_digest: stream.get_ssl_digest(),
            timing_digest: stream.get_timing_digest(),
            proxy_digest: stream.get_proxy_digest(),
            socket_digest: stream.get_socket_digest(),
        });
        let handshake = h2::handshake(stream, self.proxy.h2_options());
        let Ok(Ok(mut connection)) = tokio::time::timeout(self.head_limit, handshake).await else {
            return;
        };
        let mut watch = shutdown.clone();
        let mut draining = *watch.borrow();
        // Malformed streams (refused by Pingora as they are accepted) per connection, counted
        // over its life as Pingora's own loop does: valid requests in between reset nothing.
        let mut malformed = 0usize;
        // One clone per request in progress.
        let in_progress = Arc::new(());
        let keepalive = Duration::from_secs(KEEPALIVE_SECONDS);
        if draining {
            connection.graceful_shutdown();
        }
        loop {
            let accepted = tokio::select! {
                biased;
                _ = watch.changed(), if !draining => {
                    connection.graceful_shutdown();
                    draining = true;
                    continue;
                }
                _ = tokio::time::sleep(keepalive) => {
                    if Arc::strong_count(&in_progress) == 1 {
                        return;
                    }
                    continue;
                }
                accepted = HttpSession::from_h2_conn(&mut connection, digest.clone()) => accepted,
            };
            let session = match accepted {
                Ok(Some(H2Accept::Session(session))) => session,
                Ok(Some(H2Accept::Rejected)) if malformed < MAX_MALFORMED_H2_STREAMS => {
                    malformed += 1;
                    continue;
                }
                Ok(Some(H2Accept::Rejected)) => return,
                Ok(None) | Err(_) => return,
            };
            let app = self.clone();
            let shutdown = shutdown.clone();
            let request = in_progress.clone();
            tokio::spawn(async move {
                let _request = request;
                if streams::is_h2_event_stream(session.req_header()) {
                    streams::serve_h2(&app.current.get(), session, &shutdown).await;
                } else {
                    let session = ServerSession::new_http2(session);
                    app.proxy.process_new_http(session, &shutdown).await;
                }
            });
        }
    }

    /// Whether the next request on the connection opens a live stream. `None`: the client
    /// went away or sent nothing in time.
    async fn next_is_stream(stream: &mut BoundedHead, wait: Duration) -> Option<bool> {
        let mut start = [0u8; streams::head_len()];
        match tokio::time::timeout(wait, stream.try_peek(&mut start)).await {
            Ok(Ok(true)) => Some(looks_like_stream_request(&start)),
            // A stream that cannot peek is served by the proxy as it is.
            Ok(Ok(false)) => Some(false),
            Ok(Err(_)) | Err(_) => None,
        }
    }
}

#[async_trait]
impl ServerApp for PublicApp {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let stream = if self.proxy_protocol {
            self.take_proxy_header(stream).await?
        } else {
            stream
        };
        let stream = match &self.tls {
            Some(acceptor) => self.tls_handshake(acceptor, stream).await?,
            None => stream,
        };
        if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            self.serve_h2(stream, shutdown).await;
            return None;
        }
        let mut connection = Box::new(BoundedHead::new(stream, self.head_limit));
        let mut wait = self.head_limit;
        let mut persistent: Option<HttpPersistentSettings> = None;
        loop {
            if Self::next_is_stream(&mut connection, wait).await? {
                Box::pin(streams::serve(&self.current.get(), connection, shutdown)).await;
                return None;
            }
            wait = Duration::from_secs(KEEPALIVE_SECONDS);
            let closing = *shutdown.borrow();
            if self.direct_on {
                let gateway = self.current.get();
                match self.direct.serve(&gateway, &mut connection, closing).await {
                    Served::KeepAlive => continue,
                    Served::Close => {
                        connection.shutdown().await;
                        return None;
                    }
                    Served::HandOver => {}
                }
            }
            let mut session = ServerSession::new_http1(connection);
            match persistent.take() {
                Some(settings) => settings.apply_to_session(&mut session),
                None => {
                    let keepalive = (!closing).then_some(KEEPALIVE_SECONDS);
                    session.set_keepalive(keepalive);
                    session.set_keepalive_reuses_remaining(
                        self.proxy
                            .server_options()
                            .and_then(|options| options.keepalive_request_limit),
                    );
                }
            }
            let reused = self.proxy.process_new_http(session, shutdown).await?;
            let (next, settings) = reused.consume();
            // The stream Pingora hands back is the one it was given.
            connection = next.into_any().downcast::<BoundedHead>().ok()?;
            persistent = settings;
        }
    }

    async fn cleanup(&self) {
        self.proxy.http_cleanup().await
    }
}
