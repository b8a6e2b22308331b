//! `stream-load open`: N streams from one source address, each with its own visitor id,
//! held until told to stop; every update parsed and counted.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::WebSocketStream;

use crate::http1::{read_head, read_response, Head, HttpError};
use crate::sse::{ChunkedDecoder, SseEvent, SseParser};
use crate::tally::{bump, parse_status, record_spread, StreamTally, Summary};
use crate::ws::{classify, small_config, WsEvent};

#[derive(Debug, Clone)]
pub struct OpenOptions {
    pub target: SocketAddr,
    pub source: IpAddr,
    pub room: String,
    pub streams: u64,
    /// Share of WebSocket streams, 0..=1; the rest are SSE.
    pub ws_share: f64,
    pub connect_concurrency: usize,
    pub open_timeout: Duration,
    pub max_seconds: u64,
    pub ready_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sse,
    Ws,
}

/// Stream `index` is a WebSocket when the running WS count steps up there: the share holds
/// in every prefix, so a partly opened run is mixed too.
pub fn kind_of(index: u64, ws_share: f64) -> Kind {
    let share = ws_share.clamp(0.0, 1.0);
    let before = (index as f64 * share).floor();
    let through = ((index + 1) as f64 * share).floor();
    if through > before {
        Kind::Ws
    } else {
        Kind::Sse
    }
}

struct Shared {
    summary: Mutex<Summary>,
    settled: AtomicU64,
}

impl Shared {
    fn summary(&self) -> MutexGuard<'_, Summary> {
        // A poisoned lock only means a task panicked mid-count; the counts are still usable.
        self.summary.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

pub async fn run(options: OpenOptions) -> Summary {
    let shared = Arc::new(Shared {
        summary: Mutex::new(Summary {
            source: options.source.to_string(),
            requested: options.streams,
            ..Summary::default()
        }),
        settled: AtomicU64::new(0),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let gate = Arc::new(Semaphore::new(options.connect_concurrency.max(1)));
    let options = Arc::new(options);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for index in 0..options.streams {
        let kind = kind_of(index, options.ws_share);
        {
            let mut summary = shared.summary();
            match kind {
                Kind::Sse => summary.sse_requested += 1,
                Kind::Ws => summary.ws_requested += 1,
            }
        }
        tasks.push(tokio::spawn(one_stream(
            kind,
            options.clone(),
            shared.clone(),
            gate.clone(),
            stop_rx.clone(),
        )));
    }

    let deadline = started + Duration::from_secs(options.max_seconds);
    let mut last_report = Instant::now();
    while shared.settled.load(Ordering::Relaxed) < options.streams && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if last_report.elapsed() >= Duration::from_secs(2) {
            last_report = Instant::now();
            eprintln!(
                "[stream-load {}] {} of {} streams settled",
                options.source,
                shared.settled.load(Ordering::Relaxed),
                options.streams
            );
        }
    }
    let connected = shared.summary().connected;
    eprintln!(
        "[stream-load {}] open phase done in {:.1} s: {connected} of {} streams open",
        options.source,
        started.elapsed().as_secs_f64(),
        options.streams
    );
    if let Some(path) = &options.ready_file {
        let line = format!(
            "{{\"connected\":{connected},\"requested\":{}}}\n",
            options.streams
        );
        if let Err(e) = std::fs::write(path, line) {
            eprintln!("[stream-load] cannot write {}: {e}", path.display());
        }
    }

    wait_for_stop(deadline).await;
    let _ = stop_tx.send(true);
    let closing = Instant::now() + Duration::from_secs(10);
    for task in tasks {
        let left = closing.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, task).await.is_err() {
            bump(&mut shared.summary().errors, "not-closed-in-time");
        }
    }
    let summary = shared.summary().clone();
    summary
}

/// SIGTERM, SIGINT or the deadline, whichever comes first.
async fn wait_for_stop(deadline: Instant) {
    let sleep = tokio::time::sleep_until(deadline.into());
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            tokio::select! {
                _ = sleep => {}
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
    }
    sleep.await;
}

async fn one_stream(
    kind: Kind,
    options: Arc<OpenOptions>,
    shared: Arc<Shared>,
    gate: Arc<Semaphore>,
    stop: watch::Receiver<bool>,
) {
    let permit = gate.acquire().await;
    let opened = tokio::time::timeout(options.open_timeout, open(kind, &options, &shared)).await;
    drop(permit);
    let stream = match opened {
        Ok(Some(stream)) => Some(stream),
        Ok(None) => None,
        Err(_) => {
            bump(&mut shared.summary().errors, "open-timeout");
            None
        }
    };
    shared.settled.fetch_add(1, Ordering::Relaxed);
    if let Some(stream) = stream {
        hold(stream, &shared, stop).await;
    }
}

/// An open stream, its first status already counted.
enum Open {
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

/// Connect, ask for a visitor id, open the stream and read its first status. Failures are
/// counted here; None when the stream did not open.
async fn open(kind: Kind, options: &OpenOptions, shared: &Shared) -> Option<Open> {
    let mut tcp = match connect(options).await {
        Ok(tcp) => tcp,
        Err(_) => {
            bump(&mut shared.summary().errors, "connect");
            return None;
        }
    };
    let request = format!(
        "GET /_anteroom/status?room={} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\n\r\n",
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
    if head.close {
        tcp = match connect(options).await {
            Ok(tcp) => tcp,
            Err(_) => {
                bump(&mut shared.summary().errors, "connect");
                return None;
            }
        };
    }
    match kind {
        Kind::Sse => open_sse(tcp, &visitor, options, shared).await,
        Kind::Ws => open_ws(tcp, &visitor, options, shared).await,
    }
}

/// The SSE body decoder chain: HTTP framing, then events.
struct SseBody {
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
        if take_events(&mut body, &mut tally, shared) > 0 {
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

/// Counts the status events parsed so far; returns how many there were.
fn take_events(body: &mut SseBody, tally: &mut StreamTally, shared: &Shared) -> usize {
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
            let summary = summary.get_or_insert_with(|| shared.summary());
            record_spread(&mut summary.spreads, id, now);
        }
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

/// Reads updates until stopped or closed by the server, then adds the stream's tally.
async fn hold(stream: Open, shared: &Shared, mut stop: watch::Receiver<bool>) {
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
                            take_events(&mut body, &mut tally, shared);
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
    let mut summary = shared.summary();
    summary.add_stream(&tally);
    if closed_by_server {
        summary.closed_by_server += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ws_share_holds_in_every_prefix() {
        let kinds: Vec<Kind> = (0..10).map(|i| kind_of(i, 0.5)).collect();
        assert_eq!(kinds.iter().filter(|k| **k == Kind::Ws).count(), 5);
        assert_eq!(kinds.get(..2), Some(&[Kind::Sse, Kind::Ws][..]));
        assert!((0..100).all(|i| kind_of(i, 0.0) == Kind::Sse));
        assert!((0..100).all(|i| kind_of(i, 1.0) == Kind::Ws));
        let third = (0..300)
            .filter(|i| kind_of(*i, 1.0 / 3.0) == Kind::Ws)
            .count();
        assert_eq!(third, 100);
    }
}
