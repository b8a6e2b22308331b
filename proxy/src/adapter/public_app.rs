//! The public listener's connection loop. It is Pingora's own HTTP/1 loop (one session per
//! request, the connection handed back for keep-alive) with one addition: before each
//! request its first bytes are peeked, and a live stream request (`GET /_anteroom/events`,
//! `GET /_anteroom/ws`) is served here on the connection instead of by the proxy — on the
//! first request of a connection or any later one, as browsers reuse connections for
//! `EventSource`. TLS and HTTP/2 connections go to Pingora's loop unchanged. Every request
//! head is time-bounded (`head_deadline`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::Stream;
use pingora::proxy::HttpProxy;
use pingora::server::ShutdownWatch;

use super::head_deadline::BoundedHead;
use super::streams::{self, looks_like_stream_request};
use super::GatewayProxy;
use crate::gateway::CurrentGateway;

/// Pingora's keep-alive wait for the next request on a connection (its default).
const KEEPALIVE_SECONDS: u64 = 60;

pub struct PublicApp {
    proxy: Arc<HttpProxy<GatewayProxy>>,
    current: Arc<CurrentGateway>,
    head_limit: Duration,
}

impl PublicApp {
    pub fn new(
        proxy: HttpProxy<GatewayProxy>,
        current: Arc<CurrentGateway>,
        head_limit: Duration,
    ) -> PublicApp {
        PublicApp {
            proxy: Arc::new(proxy),
            current,
            head_limit,
        }
    }

    /// Whether the next request on the connection opens a live stream. `None`: the client
    /// went away or sent nothing in time.
    async fn next_is_stream(stream: &mut Stream, wait: Duration) -> Option<bool> {
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
        let mut stream: Stream = Box::new(BoundedHead::new(stream, self.head_limit));
        if stream.get_ssl_digest().is_some() {
            return ServerApp::process_new(&self.proxy, stream, shutdown).await;
        }
        let mut wait = self.head_limit;
        let mut persistent: Option<HttpPersistentSettings> = None;
        loop {
            // Pipelining is never enabled here, so no request bytes wait outside the stream.
            if Self::next_is_stream(&mut stream, wait).await? {
                Box::pin(streams::serve(&self.current.get(), stream, shutdown)).await;
                return None;
            }
            let mut session = ServerSession::new_http1(stream);
            match persistent.take() {
                Some(settings) => settings.apply_to_session(&mut session),
                None => {
                    let keepalive = (!*shutdown.borrow()).then_some(KEEPALIVE_SECONDS);
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
            stream = next;
            persistent = settings;
            wait = Duration::from_secs(KEEPALIVE_SECONDS);
        }
    }

    async fn cleanup(&self) {
        self.proxy.http_cleanup().await
    }
}
