//! Server-Sent Events: `event: status` messages with the line snapshot's version as `id`, in
//! a chunked response; a `retry` hint so a dropped `EventSource` comes back within seconds
//! (to this process or, after a restart, the next one — the place is in the store).

use std::sync::Arc;

use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{observe, raw_reply, Ended, WRITE_TIMEOUT};
use crate::gateway::streams::{Opened, Update, HEARTBEAT};
use crate::gateway::Gateway;

/// How long a disconnected `EventSource` waits before reconnecting.
const RETRY_MS: u32 = 2000;

/// One event of the stream, framed as one HTTP chunk.
pub fn event_chunk(update: &Update, retry: bool) -> Vec<u8> {
    let mut event = String::with_capacity(update.json.len() + 48);
    if retry {
        event.push_str(&format!("retry: {RETRY_MS}\n"));
    }
    event.push_str(&format!(
        "event: status\nid: {}\ndata: {}\n\n",
        update.id, update.json
    ));
    let mut chunk = format!("{:x}\r\n", event.len()).into_bytes();
    chunk.extend_from_slice(event.as_bytes());
    chunk.extend_from_slice(b"\r\n");
    chunk
}

pub async fn run(
    gateway: &Arc<Gateway>,
    stream: &mut Stream,
    opened: Opened,
    mut shutdown: ShutdownWatch,
) -> Ended {
    let Opened {
        first,
        cookies,
        mut subscription,
    } = opened;
    let kind = subscription.kind();
    // Built, sent and freed before the loop: nothing of the opening stays with the stream.
    let opening = opening(&first, &cookies);
    drop((first, cookies));
    if let Err(ended) = send(stream, &opening).await {
        return ended;
    }
    drop(opening);

    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    let mut probe = [0u8; 1];
    loop {
        let bytes = tokio::select! {
            update = subscription.next() => match update {
                Some(update) => {
                    observe(gateway, kind, &update);
                    event_chunk(&update, false)
                }
                None => return finish(stream).await,
            },
            _ = heartbeat.tick() => event_chunk(&subscription.current(), false),
            // An SSE client sends nothing after its request: a read that ends is its leaving.
            _ = stream.read(&mut probe) => return Ended::Client,
            _ = shutdown.changed() => return finish(stream).await,
        };
        if let Err(ended) = send(stream, &bytes).await {
            return ended;
        }
    }
}

/// The response head (with the cookies of a visitor id new to the client) and the first event.
fn opening(first: &Update, cookies: &[String]) -> Vec<u8> {
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
    opening.extend_from_slice(&event_chunk(first, true));
    opening
}

async fn send(stream: &mut Stream, bytes: &[u8]) -> Result<(), Ended> {
    let write = async {
        stream.write_all(bytes).await?;
        stream.flush().await
    };
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Ended::Client),
        Err(_) => Err(Ended::SlowClient),
    }
}

/// End the chunked body: the client sees a clean end and reconnects after `retry`.
async fn finish(stream: &mut Stream) -> Ended {
    let _ = send(stream, b"0\r\n\r\n").await;
    Ended::Shutdown
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
        let chunk = String::from_utf8(event_chunk(&update, true)).unwrap();
        let (size, rest) = chunk.split_once("\r\n").unwrap();
        let body = rest.strip_suffix("\r\n").unwrap();
        assert_eq!(usize::from_str_radix(size, 16).unwrap(), body.len());
        assert_eq!(
            body,
            "retry: 2000\nevent: status\nid: 7\ndata: {\"state\":\"waiting\"}\n\n"
        );
    }
}
