//! Live status streams over HTTP/2 (a TLS connection whose client chose `h2` by ALPN, as
//! browsers do): an `EventSource` there is one HTTP/2 stream of the connection, served here
//! with the same checks, limits and metrics as over HTTP/1.1. WebSocket over HTTP/2
//! (RFC 8441) is not offered, so browsers open their WebSocket on an HTTP/1.1 connection.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::protocols::http::v2::server::HttpSession;
use pingora::server::ShutdownWatch;

use super::sse::{self, bounded_write, EventSink};
use super::{count_close, open_request, Ended};
use crate::adapter::write_reply::into_parts;
use crate::gateway::Gateway;
use crate::gateway::Reply;

/// The HTTP/2 form of `looks_like_stream_request`'s SSE test: `GET` and the same path start.
pub fn is_h2_event_stream(header: &RequestHeader) -> bool {
    header.method == http::Method::GET && header.uri.path().starts_with("/_anteroom/e")
}

/// Serve one event stream request on its HTTP/2 stream, to its end.
pub async fn serve_h2(gateway: &Arc<Gateway>, mut session: HttpSession, shutdown: &ShutdownWatch) {
    let ip = session
        .client_addr()
        .and_then(|address| address.as_inet())
        .map(|address| address.ip());
    let header = session.req_header().clone();
    let opened = match open_request(gateway, header, ip, true).await {
        Ok((_, opened)) => opened,
        Err(reply) => {
            let _ = bounded_write(refuse(&mut session, reply)).await;
            return;
        }
    };
    let kind = opened.subscription.kind();
    let ended = sse::run(
        gateway,
        &mut H2Events(&mut session),
        opened,
        shutdown.clone(),
    )
    .await;
    count_close(gateway, kind, ended);
}

async fn refuse(session: &mut HttpSession, reply: Reply) -> pingora::Result<()> {
    let (header, body) = into_parts(reply)?;
    session.write_response_header(Box::new(header), false)?;
    session.write_body(body, true).await
}

/// An HTTP/2 stream carrying one SSE response.
struct H2Events<'a>(&'a mut HttpSession);

#[async_trait]
impl EventSink for H2Events<'_> {
    async fn open(&mut self, cookies: &[String], first: &str) -> Result<(), Ended> {
        let head = async {
            let mut header = ResponseHeader::build(200, Some(3 + cookies.len()))?;
            header.insert_header("content-type", "text/event-stream; charset=utf-8")?;
            header.insert_header("cache-control", "no-store")?;
            header.insert_header("x-accel-buffering", "no")?;
            for cookie in cookies {
                header.append_header("set-cookie", cookie.as_str())?;
            }
            self.0.write_response_header(Box::new(header), false)?;
            self.0
                .write_body(Bytes::from(first.to_owned()), false)
                .await
        };
        bounded_write(head).await
    }

    async fn send(&mut self, event: &str) -> Result<(), Ended> {
        bounded_write(self.0.write_body(Bytes::from(event.to_owned()), false)).await
    }

    async fn gone(&mut self) {
        let _ = self.0.idle().await;
    }

    async fn finish(&mut self) {
        let _ = bounded_write(self.0.write_body(Bytes::new(), true)).await;
    }
}
