//! `stream-load open`: N streams from one source address, each with its own visitor id,
//! held until told to stop; every update parsed and counted.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{watch, Semaphore};

use crate::connection::{hold, open, visitor_id, Open};
use crate::tally::{bump, Summary};

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
    /// Reopen a stream the server ends (as `EventSource` does), same visitor, at most this
    /// many times per stream; 0 = never.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=100))]
    pub reconnects: u64,
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

pub(crate) struct Shared {
    summary: Mutex<Summary>,
    pub(crate) ids_settled: AtomicU64,
    pub(crate) settled: AtomicU64,
}

impl Shared {
    pub(crate) fn summary(&self) -> MutexGuard<'_, Summary> {
        // A poisoned lock only means a task panicked mid-count; the counts are still usable.
        self.summary.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) fn unix_us() -> u64 {
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
    let Some(stream) = stream else {
        return;
    };
    let (mut tally, mut closed) = hold(stream, &shared, stop.clone()).await;
    let mut reopened = 0;
    while closed && reopened < options.reconnects && !*stop.borrow() {
        let Some(stream) = reopen(kind, &visitor, &options, &shared).await else {
            bump(&mut shared.summary().errors, "reconnect-failed");
            break;
        };
        reopened += 1;
        shared.summary().reconnected += 1;
        let (next, still_closed) = hold(stream, &shared, stop.clone()).await;
        tally = tally.continued_by(next);
        closed = still_closed;
    }
    let mut summary = shared.summary();
    summary.add_stream(&tally);
    if closed {
        summary.closed_by_server += 1;
    }
}

/// Open the visitor's stream again, trying until `open_timeout`.
async fn reopen(kind: Kind, visitor: &str, options: &OpenOptions, shared: &Shared) -> Option<Open> {
    let deadline = Instant::now() + Duration::from_secs(options.open_timeout);
    while Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        if let Ok(Some(stream)) =
            tokio::time::timeout(left, open(kind, visitor, options, shared)).await
        {
            return Some(stream);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
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

#[cfg(test)]
#[path = "open_wire_tests.rs"]
mod wire_tests;
