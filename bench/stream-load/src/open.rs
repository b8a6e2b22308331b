//! `stream-load open`: N streams from one source address, each with its own visitor id,
//! held until told to stop; every update parsed and counted.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
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

#[derive(Debug, Clone, clap::Args)]
pub struct OpenOptions {
    /// The gateway's public listener, e.g. 127.0.0.1:8080.
    #[arg(long)]
    pub target: SocketAddr,
    /// Source address of every connection (127.0.0.2, 127.0.0.3, ... on loopback).
    #[arg(long, default_value = "127.0.0.1")]
    pub source: IpAddr,
    #[arg(long)]
    pub room: String,
    /// At most 19,000: one process cannot hold more sockets here (20,000 files).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=19_000))]
    pub streams: u64,
    /// Share of WebSocket streams (0 = all SSE, 1 = all WebSocket).
    #[arg(long, default_value_t = 0.5)]
    pub ws_share: f64,
    /// Connections being set up at once.
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
    /// Seconds one stream may take for each phase: its visitor id, then its first status.
    #[arg(long, default_value_t = 30)]
    pub open_timeout: u64,
    /// The process ends by itself after this long, whatever happens.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub max_seconds: u64,
    /// Written (`{"visitors":N,"requested":M}`) once every stream has its visitor id.
    #[arg(long)]
    pub ids_file: Option<PathBuf>,
    /// Streams open only once this file exists (the caller reads a baseline first).
    #[arg(long)]
    pub go_file: Option<PathBuf>,
    /// Written (`{"connected":N,"requested":M}`) once every stream opened or failed to.
    #[arg(long)]
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
    ids_settled: AtomicU64,
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

/// Opens the streams and holds them until SIGTERM, SIGINT or `max_seconds`.
pub async fn run(options: OpenOptions) -> Summary {
    let deadline = Instant::now() + Duration::from_secs(options.max_seconds);
    run_until(options, wait_for_stop(deadline)).await
}

/// Opens the streams and holds them until `stop` completes (or `max_seconds`).
pub async fn run_until(
    options: OpenOptions,
    stop: impl std::future::Future<Output = ()>,
) -> Summary {
    let shared = Arc::new(Shared {
        summary: Mutex::new(Summary {
            source: options.source.to_string(),
            requested: options.streams,
            ..Summary::default()
        }),
        ids_settled: AtomicU64::new(0),
        settled: AtomicU64::new(0),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let (go_tx, go_rx) = watch::channel(false);
    let gate = Arc::new(Semaphore::new(options.connect_concurrency.max(1)));
    let options = Arc::new(options);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(options.max_seconds);
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
            go_rx.clone(),
            stop_rx.clone(),
        )));
    }

    wait_settled(&shared.ids_settled, &options, deadline, "visitor ids").await;
    let visitors = shared.summary().visitors;
    write_file(
        options.ids_file.as_deref(),
        &format!(
            "{{\"visitors\":{visitors},\"requested\":{}}}\n",
            options.streams
        ),
    );
    wait_for_go(options.go_file.as_deref(), deadline).await;
    let _ = go_tx.send(true);

    wait_settled(&shared.settled, &options, deadline, "streams").await;
    let connected = shared.summary().connected;
    eprintln!(
        "[stream-load {}] open phase done after {:.1} s: {connected} of {} streams open",
        options.source,
        started.elapsed().as_secs_f64(),
        options.streams
    );
    write_file(
        options.ready_file.as_deref(),
        &format!(
            "{{\"connected\":{connected},\"requested\":{}}}\n",
            options.streams
        ),
    );

    tokio::select! {
        _ = stop => {}
        _ = tokio::time::sleep_until(deadline.into()) => {}
    }
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

/// Until every stream passed a phase (or the deadline), with progress on stderr.
async fn wait_settled(counter: &AtomicU64, options: &OpenOptions, deadline: Instant, what: &str) {
    let mut last_report = Instant::now();
    while counter.load(Ordering::Relaxed) < options.streams && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if last_report.elapsed() >= Duration::from_secs(2) {
            last_report = Instant::now();
            eprintln!(
                "[stream-load {}] {what}: {} of {} settled",
                options.source,
                counter.load(Ordering::Relaxed),
                options.streams
            );
        }
    }
}

/// Until the go file exists (none given: at once).
async fn wait_for_go(go_file: Option<&Path>, deadline: Instant) {
    let Some(path) = go_file else { return };
    while !path.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn write_file(path: Option<&Path>, text: &str) {
    if let Some(path) = path {
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("[stream-load] cannot write {}: {e}", path.display());
        }
    }
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
    mut go: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
) {
    let permit = gate.acquire().await;
    let visitor = tokio::time::timeout(
        Duration::from_secs(options.open_timeout),
        visitor_id(&options, &shared),
    )
    .await;
    drop(permit);
    let visitor = visitor.unwrap_or_else(|_| {
        bump(&mut shared.summary().errors, "status-timeout");
        None
    });
    shared.ids_settled.fetch_add(1, Ordering::Relaxed);
    // No stream without an id, none before the go (the gateway's baseline is read between).
    let Some(visitor) = visitor else {
        shared.settled.fetch_add(1, Ordering::Relaxed);
        return;
    };
    if go.wait_for(|go| *go).await.is_err() {
        shared.settled.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let permit = gate.acquire().await;
    let opened = tokio::time::timeout(
        Duration::from_secs(options.open_timeout),
        open(kind, &visitor, &options, &shared),
    )
    .await;
    drop(permit);
    let stream = opened.unwrap_or_else(|_| {
        bump(&mut shared.summary().errors, "open-timeout");
        None
    });
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

/// Phase one: a visitor id from `/_anteroom/status` (which also takes the place), on a
/// connection closed right after, so the gateway holds nothing for it while the baseline is
/// read. Failures are counted here.
async fn visitor_id(options: &OpenOptions, shared: &Shared) -> Option<String> {
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
async fn open(kind: Kind, visitor: &str, options: &OpenOptions, shared: &Shared) -> Option<Open> {
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

/// The client against a small in-process server speaking the wire format of the contract:
/// status (closes the connection), SSE (chunked) and WebSocket, each stream sending positions
/// 5, 7 (a rise), 3, then the admission with a pass.
#[cfg(test)]
mod wire_tests {
    use super::*;
    use futures_util::SinkExt;
    use std::sync::atomic::AtomicBool;
    use tokio::net::TcpListener;
    use tokio_tungstenite::tungstenite::Message;

    const UPDATES: [&str; 4] = [
        r#"{"room":"r","visitor":"V","state":"waiting","position":5,"pass":null}"#,
        r#"{"room":"r","visitor":"V","state":"waiting","position":7,"pass":null}"#,
        r#"{"room":"r","visitor":"V","state":"waiting","position":3,"pass":null}"#,
        r#"{"room":"r","visitor":"V","state":"admitted","position":null,"pass":"v1.k.p.m"}"#,
    ];

    async fn serve(listener: TcpListener, drop_ws_after_101: Arc<AtomicBool>) {
        let mut visitors = 0u64;
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            visitors += 1;
            let drop_ws = drop_ws_after_101.load(Ordering::Relaxed);
            tokio::spawn(connection(tcp, visitors, drop_ws));
        }
    }

    async fn connection(mut tcp: TcpStream, n: u64, drop_ws: bool) {
        // Peek at the request head so a WebSocket handshake can still read it whole.
        let mut peeked = vec![0u8; 4096];
        let head_len = loop {
            let got = tcp.peek(&mut peeked).await.unwrap();
            let text = String::from_utf8_lossy(&peeked[..got]).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                break end + 4;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let head = String::from_utf8_lossy(&peeked[..head_len]).to_string();
        if head.starts_with("GET /_anteroom/ws") {
            assert!(head
                .to_ascii_lowercase()
                .contains("x-anteroom-visitor: v1.visitor-"));
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            if drop_ws {
                return; // 101 sent, then gone (pingora#946)
            }
            for update in UPDATES {
                ws.send(Message::text(update)).await.unwrap();
            }
            while let Some(Ok(_)) = ws.next().await {}
            return;
        }
        tcp.read_exact(&mut peeked[..head_len]).await.unwrap();
        if head.starts_with("GET /_anteroom/status") {
            let body = format!(
                r#"{{"room":"r","visitor":"v1.visitor-{n}","state":"waiting","position":9,"pass":null}}"#
            );
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            tcp.write_all(reply.as_bytes()).await.unwrap();
            return;
        }
        assert!(head.starts_with("GET /_anteroom/events"), "{head}");
        let mut wire = String::from(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
        );
        let mut events = String::from("retry: 1000\n\n: hi\n\n");
        for (id, update) in UPDATES.iter().enumerate() {
            events.push_str(&format!("event: status\nid: {id}\ndata: {update}\n\n"));
        }
        // Chunks that cut events anywhere.
        for piece in events.as_bytes().chunks(37) {
            wire.push_str(&format!(
                "{:x}\r\n{}\r\n",
                piece.len(),
                String::from_utf8_lossy(piece)
            ));
        }
        tcp.write_all(wire.as_bytes()).await.unwrap();
        let mut sink = [0u8; 64];
        while !matches!(tcp.read(&mut sink).await, Ok(0) | Err(_)) {}
    }

    async fn run_against_fake(drop_ws: bool) -> Summary {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, Arc::new(AtomicBool::new(drop_ws))));
        let options = OpenOptions {
            target,
            source: "127.0.0.1".parse().unwrap(),
            room: "r".into(),
            streams: 6,
            ws_share: 0.5,
            connect_concurrency: 4,
            open_timeout: 10,
            max_seconds: 30,
            ids_file: None,
            go_file: None,
            ready_file: None,
        };
        // Every update is sent at once; the hold only has to outlast their delivery.
        let summary = run_until(options, tokio::time::sleep(Duration::from_millis(500))).await;
        server.abort();
        summary
    }

    #[tokio::test]
    async fn every_update_of_both_kinds_is_counted() {
        let s = run_against_fake(false).await;
        assert_eq!((s.requested, s.visitors, s.connected), (6, 6, 6));
        assert_eq!((s.sse_connected, s.ws_connected), (3, 3));
        assert_eq!(
            (
                s.ws_upgrade_attempts,
                s.ws_upgrades_101,
                s.ws_upgrades_dropped
            ),
            (3, 3, 0)
        );
        assert_eq!(s.updates, 24);
        assert_eq!(
            s.position_violations, 6,
            "5 -> 7 is a rise, once per stream"
        );
        assert_eq!(s.saw_own_admission, 6);
        assert_eq!(s.first_status_ms.len(), 6);
        assert_eq!(s.heartbeats, 3, "one SSE comment per SSE stream");
        // The first status (id 0) comes with the opening, not with a tick: not in the spread.
        assert_eq!(s.spreads.len(), 3);
        assert!(s.spreads.values().all(|spread| spread.streams == 3));
        assert_eq!(s.closed_by_server, 0);
        assert!(s.errors.is_empty() && s.refused.is_empty(), "{s:?}");
    }

    #[tokio::test]
    async fn a_websocket_closed_right_after_its_101_counts_as_dropped() {
        let s = run_against_fake(true).await;
        assert_eq!(
            (
                s.ws_upgrade_attempts,
                s.ws_upgrades_101,
                s.ws_upgrades_dropped
            ),
            (3, 3, 3)
        );
        assert_eq!((s.connected, s.sse_connected, s.ws_connected), (3, 3, 0));
        assert_eq!(s.updates, 12);
    }
}
