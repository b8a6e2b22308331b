//! The process log: `tracing` events and `log` records (Pingora's, the crates') in one
//! format — text or JSON lines — on stderr, written in batches by a background thread so no
//! request waits on the terminal or the disk (`log_writer`). When that thread falls behind,
//! lines are dropped rather than requests slowed. Access lines (`[log] access`, on or off
//! whatever the level) are the same lines the logger would write for an `info` event of
//! target `access`, written by hand (`access_line`) into the same buffer.

use std::cell::RefCell;
use std::sync::OnceLock;

use anteroom_config::{LogFormat, LogLevel};

use super::access_line::{self, AccessFields};
use super::log_writer::{batched_stderr, BatchedStderr, LogFlusher};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Where access lines go, set by the first `init` with `[log] access` on.
struct AccessSink {
    format: LogFormat,
    writer: BatchedStderr,
}

static ACCESS: OnceLock<AccessSink> = OnceLock::new();

thread_local! {
    /// One line's bytes, reused: a request's line costs no allocation.
    static ACCESS_LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(256));
}

/// Write one request's access line, when the process logs them.
pub fn access(fields: &AccessFields) {
    let Some(sink) = ACCESS.get() else {
        return;
    };
    ACCESS_LINE.with_borrow_mut(|line| {
        line.clear();
        access_line::write(line, sink.format, anteroom_admission::unix_now_us(), fields);
        sink.writer.append_access(line);
    });
}

/// Install the process logger. Keep the flusher for the process' life: dropping it writes
/// what is left.
/// `RUST_LOG`, when it names a plain level, overrides `[log] level` (handy in tests).
pub fn init(format: LogFormat, level: LogLevel, access: bool) -> Option<LogFlusher> {
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|text| LogLevel::parse(text.trim()).ok())
        .unwrap_or(level);
    let filter = Targets::new().with_default(level_filter(level));
    let (writer, flusher) = batched_stderr();
    let access_writer = writer.clone();
    let installed = match format {
        LogFormat::Text => tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(writer)
                    .with_ansi(false),
            )
            .with(filter)
            .try_init(),
        LogFormat::Json => tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_writer(writer),
            )
            .with(filter)
            .try_init(),
    };
    // Only a second init fails (a test calling it twice): the first logger stays.
    installed.ok()?;
    if access {
        let _ = ACCESS.set(AccessSink {
            format,
            writer: access_writer,
        });
    }
    Some(flusher)
}

fn level_filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    }
}
