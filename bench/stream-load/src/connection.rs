//! One stream's connection: its visitor id, the stream request and first status, then the
//! updates until it is stopped.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::WebSocketStream;

use crate::http1::{read_head, read_response, Head, HttpError};
use crate::open::{unix_us, Kind, OpenOptions, Shared};
use crate::sse::{ChunkedDecoder, SseEvent, SseParser};
use crate::tally::{bump, parse_status, record_spread, StreamTally};
use crate::ws::{classify, small_config, WsEvent};

/// An open stream, its first status already counted.
pub enum Open {
    Sse {
        tcp: TcpStream,
        body: SseBody,
        tally: StreamTally,
    },
    Ws {
        ws: WebSocketStream<TcpStream>,
        tally: StreamTally,
    },
}

async fn connect(options: &OpenOptions) -> std::io::Result<TcpStream> {
    let socket = match options.source {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(options.source, 0))?;
    socket.connect(options.target).await
}

/// Phase one: a visitor id from `/_anteroom/status` (which also takes the place), on a
/// connection closed right after, so the gateway holds nothing for it while the baseline is
/// read. Failures are counted here.
pub async fn visitor_id(options: &OpenOptions, shared: &Shared) -> Option<String> {
    let mut tcp = match connect(options).await {
        Ok(tcp) => tcp,
        Err(_) => {
            bump(&mut shared.summary().errors, "connect");
            return None;
        }
    };
    let request = format!(
        "GET /_anteroom/status?room={} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\n\
         Connection: close\r\n\r\n",
        options.room, options.target
    );
    let mut buf = Vec::new();
    let answer = match tcp.write_all(request.as_bytes()).await {
        Ok(()) => read_response(&mut tcp, &mut buf, 64 * 1024).await,
        Err(e) => Err(HttpError::Io(e.to_string())),
    };
    let (head, body) = match answer {
        Ok(answer) => answer,
        Err(e) => {
            bump(
                &mut shared.summary().errors,
                &format!("status-{}", e.reason()),
            );
            return None;
        }
    };
    let visitor = parse_status(&String::from_utf8_lossy(&body)).and_then(|s| s.visitor);
    let Some(visitor) = visitor.filter(|_| head.status == 200) else {
        bump(
            &mut shared.summary().refused,
            &format!("status-{}", head.status),
        );
        return None;
    };
    shared.summary().visitors += 1;
    Some(visitor)
}

/// Phase two: a fresh connection, the stream request, its first status.
pub async fn open(
    kind: Kind,
    visitor: &str,
    options: &OpenOptions,
    shared: &Shared,
) -> Option<Open> {
    let tcp = match connect(options).await {
        Ok(tcp) => tcp,
        Err(_) => {
            bump(&mut shared.summary().errors, "connect");
            return None;
        }
    };
    match kind {
        Kind::Sse => open_sse(tcp, visitor, options, shared).await,
        Kind::Ws => open_ws(tcp, visitor, options, shared).await,
    }
}

/// The SSE body decoder chain: HTTP framing, then events.
pub struct SseBody {
    chunked: Option<ChunkedDecoder>,
    parser: SseParser,
    payload: Vec<u8>,
    events: Vec<SseEvent>,
}

impl SseBody {
    fn new(head: &Head) -> SseBody {
        SseBody {
            chunked: head.chunked.then(ChunkedDecoder::default),
            parser: SseParser::default(),
            payload: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Ok(false) when the body ended (last chunk).
    fn feed(&mut self, bytes: &[u8]) -> Result<bool, String> {
        let ended = match &mut self.chunked {
            Some(decoder) => {
                self.payload.clear();
                let done = decoder.feed(bytes, &mut self.payload).map_err(|e| e.0)?;
                self.parser.feed(&self.payload, &mut self.events);
                done
            }
            None => {
                self.parser.feed(bytes, &mut self.events);
                false
            }
        };
        Ok(!ended)
    }
}

async fn open_sse(
    mut tcp: TcpStream,
    visitor: &str,
    options: &OpenOptions,
    shared: &Shared,
) -> Option<Open> {
    let request = format!(
        "GET /_anteroom/events?room={} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\
         X-Anteroom-Visitor: {visitor}\r\n\r\n",
        options.room, options.target
    );
    let sent = Instant::now();
    if tcp.write_all(request.as_bytes()).await.is_err() {
        bump(&mut shared.summary().errors, "sse-write");
        return None;
    }
    let mut buf = Vec::new();
    let head = match read_head(&mut tcp, &mut buf).await {
        Ok(head) => head,
        Err(e) => {
            bump(&mut shared.summary().errors, &format!("sse-{}", e.reason()));
            return None;
        }
    };
    if head.status != 200 {
        bump(
            &mut shared.summary().refused,
            &format!("sse-{}", head.status),
        );
        return None;
    }
    let mut body = SseBody::new(&head);
    let mut tally = StreamTally::default();
    let mut pending = buf.split_off(head.len);
    let mut read_buf = vec![0u8; 2048];
    loop {
        let open = match body.feed(&pending) {
            Ok(open) => open,
            Err(_) => {
                bump(&mut shared.summary().errors, "sse-framing");
                return None;
            }
        };
        if take_events(&mut body, &mut tally, shared, false) > 0 {
            let mut summary = shared.summary();
            summary
                .first_status_ms
                .push(sent.elapsed().as_secs_f64() * 1000.0);
            summary.connected += 1;
            summary.sse_connected += 1;
            return Some(Open::Sse { tcp, body, tally });
        }
        if !open {
            bump(&mut shared.summary().errors, "sse-ended-before-status");
            return None;
        }
        match tcp.read(&mut read_buf).await {
            Ok(0) | Err(_) => {
                bump(&mut shared.summary().errors, "sse-closed-before-status");
                return None;
            }
            Ok(n) => pending = read_buf.get(..n).unwrap_or_default().to_vec(),
        }
    }
}

/// Counts the status events parsed so far; returns how many there were. `held`: the stream
/// is past its first status. After the first status a new id is an update whose arrival
/// time counts in the spread (a first status, or a heartbeat repeating the id, says nothing
/// about fan-out).
fn take_events(
    body: &mut SseBody,
    tally: &mut StreamTally,
    shared: &Shared,
    mut held: bool,
) -> usize {
    let now = unix_us();
    let mut statuses = 0;
    let heartbeats = std::mem::take(&mut body.parser.comments);
    let mut summary = None;
    for event in body.events.drain(..) {
        if event.event != "status" {
            continue;
        }
        let Some(update) = parse_status(&event.data) else {
            continue;
        };
        tally.observe(&update);
        statuses += 1;
        if let Some(id) = &event.id {
            if tally.new_id(id) && held {
                let summary = summary.get_or_insert_with(|| shared.summary());
                record_spread(&mut summary.spreads, id, now);
            }
        }
        held = true;
    }
    if heartbeats > 0 {
        summary.get_or_insert_with(|| shared.summary()).heartbeats += heartbeats;
    }
    statuses
}

async fn open_ws(
    tcp: TcpStream,
    visitor: &str,
    options: &OpenOptions,
    shared: &Shared,
) -> Option<Open> {
    let url = format!("ws://{}/_anteroom/ws?room={}", options.target, options.room);
    let mut request = match url.into_client_request() {
        Ok(request) => request,
        Err(_) => {
            bump(&mut shared.summary().errors, "ws-request");
            return None;
        }
    };
    if let Ok(value) = HeaderValue::from_str(visitor) {
        request.headers_mut().insert("x-anteroom-visitor", value);
    }
    shared.summary().ws_upgrade_attempts += 1;
    let sent = Instant::now();
    let handshake =
        tokio_tungstenite::client_async_with_config(request, tcp, Some(small_config())).await;
    let mut ws = match handshake {
        Ok((ws, _response)) => ws,
        Err(WsError::Http(response)) => {
            bump(
                &mut shared.summary().refused,
                &format!("ws-{}", response.status().as_u16()),
            );
            return None;
        }
        Err(_) => {
            // Closed or broken before a 101 arrived.
            shared.summary().ws_upgrades_dropped += 1;
            return None;
        }
    };
    shared.summary().ws_upgrades_101 += 1;
    let mut tally = StreamTally::default();
    while let Some(Ok(message)) = ws.next().await {
        match classify(&message) {
            WsEvent::Status(text) => {
                if let Some(update) = parse_status(text) {
                    tally.observe(&update);
                    let mut summary = shared.summary();
                    summary
                        .first_status_ms
                        .push(sent.elapsed().as_secs_f64() * 1000.0);
                    summary.connected += 1;
                    summary.ws_connected += 1;
                    return Some(Open::Ws { ws, tally });
                }
            }
            WsEvent::Heartbeat | WsEvent::Unexpected => {}
            WsEvent::Closed => break,
        }
    }
    // The 101 came, the first status did not (pingora#946).
    shared.summary().ws_upgrades_dropped += 1;
    None
}

/// Reads updates until stopped or closed by the server (true); returns the stream's tally.
pub async fn hold(
    stream: Open,
    shared: &Shared,
    mut stop: watch::Receiver<bool>,
) -> (StreamTally, bool) {
    let (tally, closed_by_server) = match stream {
        Open::Sse {
            mut tcp,
            mut body,
            mut tally,
        } => {
            let mut read_buf = vec![0u8; 2048];
            let closed = loop {
                tokio::select! {
                    _ = stop.changed() => break false,
                    read = tcp.read(&mut read_buf) => match read {
                        Ok(0) | Err(_) => break true,
                        Ok(n) => {
                            let open = body.feed(read_buf.get(..n).unwrap_or_default());
                            take_events(&mut body, &mut tally, shared, true);
                            if !matches!(open, Ok(true)) {
                                break true;
                            }
                        }
                    },
                }
            };
            (tally, closed)
        }
        Open::Ws { mut ws, mut tally } => {
            let closed = loop {
                tokio::select! {
                    _ = stop.changed() => {
                        let _ = ws.close(None).await;
                        break false;
                    }
                    message = ws.next() => match message {
                        Some(Ok(message)) => match classify(&message) {
                            WsEvent::Status(text) => {
                                if let Some(update) = parse_status(text) {
                                    tally.observe(&update);
                                }
                            }
                            WsEvent::Heartbeat => shared.summary().heartbeats += 1,
                            WsEvent::Unexpected => {}
                            WsEvent::Closed => break true,
                        },
                        Some(Err(_)) | None => break true,
                    },
                }
            };
            (tally, closed)
        }
    };
    (tally, closed_by_server)
}
