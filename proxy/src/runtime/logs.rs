//! The process log: `tracing` events and `log` records (Pingora's, the crates') in one
//! format — text or JSON lines — on stderr, written in batches by a background thread so no
//! request waits on the terminal or the disk (`log_writer`). When that thread falls behind,
//! lines are dropped rather than requests slowed.

use anteroom_config::{LogFormat, LogLevel};

use super::log_writer::{batched_stderr, LogFlusher};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The target of access-log lines: on or off by `[log] access`, whatever the level.
pub const ACCESS_TARGET: &str = "access";

/// Install the process logger. Keep the flusher for the process' life: dropping it writes
/// what is left.
/// `RUST_LOG`, when it names a plain level, overrides `[log] level` (handy in tests).
pub fn init(format: LogFormat, level: LogLevel, access: bool) -> Option<LogFlusher> {
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|text| LogLevel::parse(text.trim()).ok())
        .unwrap_or(level);
    let filter = Targets::new()
        .with_default(level_filter(level))
        .with_target(
            ACCESS_TARGET,
            if access {
                LevelFilter::INFO
            } else {
                LevelFilter::OFF
            },
        );
    let (writer, flusher) = batched_stderr();
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
    installed.ok().map(|()| flusher)
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
