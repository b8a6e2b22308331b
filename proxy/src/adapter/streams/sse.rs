//! Server-Sent Events: `event: status` messages with the line snapshot's version as `id`, in
//! a chunked HTTP/1.1 response or HTTP/2 data frames; a `retry` hint so a dropped `EventSource` comes back within seconds
//! (to this process or, after a restart, the next one — the place is in the store).

use std::sync::Arc;

use async_trait::async_trait;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::super::raw_reply;
use super::{observe, Ended, WRITE_TIMEOUT};
use crate::gateway::streams::{Opened, Update, HEARTBEAT};
use crate::gateway::Gateway;

/// How long a disconnected `EventSource` waits before reconnecting.
const RETRY_MS: u32 = 2000;

/// One event of the stream.
pub fn event_text(update: &Update, retry: bool) -> String {
    let mut event = String::with_capacity(update.json.len() + 48);
    if retry {
        event.push_str(&format!("retry: {RETRY_MS}\n"));
    }
    event.push_str(&format!(
        "event: status\nid: {}\ndata: {}\n\n",
        update.id, update.json
    ));
    event
}

/// One event framed as one HTTP/1.1 chunk.
fn chunk(event: &str) -> Vec<u8> {
    let mut chunk = format!("{:x}\r\n", event.len()).into_bytes();
    chunk.extend_from_slice(event.as_bytes());
    chunk.extend_from_slice(b"\r\n");
    chunk
}

/// Where the events of a stream go: an HTTP/1.1 connection (a chunked body, `H1`) or an
/// HTTP/2 stream (`h2::H2Events`). Every write is bounded by `WRITE_TIMEOUT`.
#[async_trait]
pub trait EventSink: Send {
    /// The response head (with the cookies of a visitor id new to the client) and the first
    /// event.
    async fn open(&mut self, cookies: &[String], first: &str) -> Result<(), Ended>;
    async fn send(&mut self, event: &str) -> Result<(), Ended>;
    /// Resolves when the client goes away (an SSE client sends nothing after its request).
    async fn gone(&mut self);
    /// End the body cleanly: the client reconnects after `retry`.
    async fn finish(&mut self);
}

pub async fn run(
    gateway: &Arc<Gateway>,
    sink: &mut impl EventSink,
    opened: Opened,
    mut shutdown: ShutdownWatch,
) -> Ended {
    let Opened {
        first,
        cookies,
        mut subscription,
    } = opened;
    let kind = subscription.kind();
    // Sent and freed before the loop: nothing of the opening stays with the stream.
    let opening = sink.open(&cookies, &event_text(&first, true)).await;
    drop((first, cookies));
    if let Err(ended) = opening {
        return ended;
    }

    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    loop {
        let event = tokio::select! {
            update = subscription.next() => match update {
                Some(update) => {
                    observe(gateway, kind, &update);
                    event_text(&update, false)
                }
                None => {
                    let ended = finish(sink).await;
                    return if subscription.renewal_due() { Ended::Renewal } else { ended };
                }
            },
            _ = heartbeat.tick() => event_text(&subscription.current(), false),
            _ = sink.gone() => return Ended::Client,
            _ = shutdown.changed() => return finish(sink).await,
        };
        if let Err(ended) = sink.send(&event).await {
            return ended;
        }
    }
}

async fn finish(sink: &mut impl EventSink) -> Ended {
    sink.finish().await;
    Ended::Shutdown
}

/// A write bounded by `WRITE_TIMEOUT`: a client that does not take it is dropped.
pub async fn bounded_write<E>(
    write: impl std::future::Future<Output = Result<(), E>>,
) -> Result<(), Ended> {
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Ended::Client),
        Err(_) => Err(Ended::SlowClient),
    }
}

/// An HTTP/1.1 connection carrying one SSE response to its end.
pub struct H1<'a>(pub &'a mut Stream);

#[async_trait]
impl EventSink for H1<'_> {
    async fn open(&mut self, cookies: &[String], first: &str) -> Result<(), Ended> {
        let mut head = raw_reply::status_line(200);
        head.push_str(
            "content-type: text/event-stream; charset=utf-8\r\ncache-control: no-store\r\n\
             x-accel-buffering: no\r\ntransfer-encoding: chunked\r\nconnection: close\r\n",
        );
        for cookie in cookies {
            head.push_str(&format!("set-cookie: {cookie}\r\n"));
        }
        head.push_str("\r\n");
        let mut opening = head.into_bytes();
        opening.extend_from_slice(&chunk(first));
        send(self.0, &opening).await
    }

    async fn send(&mut self, event: &str) -> Result<(), Ended> {
        send(self.0, &chunk(event)).await
    }

    async fn gone(&mut self) {
        let mut probe = [0u8; 1];
        let _ = self.0.read(&mut probe).await;
    }

    async fn finish(&mut self) {
        let _ = send(self.0, b"0\r\n\r\n").await;
    }
}

async fn send(stream: &mut Stream, bytes: &[u8]) -> Result<(), Ended> {
    bounded_write(async {
        stream.write_all(bytes).await?;
        stream.flush().await
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client that stops reading fills its socket buffer; the next write waits at most
    /// `WRITE_TIMEOUT`, then the stream ends (and with it everything it held).
    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_is_dropped() {
        let (ours, _peer_never_reads) = tokio::net::UnixStream::pair().unwrap();
        let l4: pingora::protocols::l4::stream::Stream = ours.into();
        let mut stream: Stream = Box::new(l4);
        let started = tokio::time::Instant::now();
        let flood = vec![b'x'; 32 << 20];
        assert_eq!(send(&mut stream, &flood).await, Err(Ended::SlowClient));
        assert!(started.elapsed() >= WRITE_TIMEOUT);
    }

    #[test]
    fn an_event_is_one_chunk_of_exactly_its_length() {
        let update = Update {
            id: 7,
            json: "{\"state\":\"waiting\"}".into(),
            lag: None,
        };
        let chunk = String::from_utf8(chunk(&event_text(&update, true))).unwrap();
        let (size, rest) = chunk.split_once("\r\n").unwrap();
        let body = rest.strip_suffix("\r\n").unwrap();
        assert_eq!(usize::from_str_radix(size, 16).unwrap(), body.len());
        assert_eq!(
            body,
            "retry: 2000\nevent: status\nid: 7\ndata: {\"state\":\"waiting\"}\n\n"
        );
    }
}
