//! `[log]`: how the process writes its log (text or JSON lines), from which level, and
//! whether each request gets an access-log line. The gateway and the booking service read
//! the same section with this code.

use crate::location::Source;
use crate::reader::Section;
use crate::schema;

const LOG_KEYS: &[&str] = &["format", "level", "access"];

/// One line per record: readable text, or one JSON object for log shippers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl LogFormat {
    /// `text` or `json`, as the config and `--log-format` spell it.
    pub fn parse(text: &str) -> Result<LogFormat, String> {
        match text {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("expected one of text, json, got {other:?}")),
        }
    }
}

/// The least severe records written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn parse(text: &str) -> Result<LogLevel, String> {
        match text {
            "error" => Ok(LogLevel::Error),
            "warn" => Ok(LogLevel::Warn),
            "info" => Ok(LogLevel::Info),
            "debug" => Ok(LogLevel::Debug),
            "trace" => Ok(LogLevel::Trace),
            other => Err(format!(
                "expected one of error, warn, info, debug, trace, got {other:?}"
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    /// default text
    pub format: LogFormat,
    /// default info
    pub level: LogLevel,
    /// One line per request (target `access`, level info); default true.
    pub access: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: LogLevel::Info,
            access: true,
        }
    }
}

pub(crate) fn section(src: &Source, section: Option<Section>) -> LogConfig {
    let defaults = LogConfig::default();
    let Some(s) = section else {
        return defaults;
    };
    s.deny_unknown(src, LOG_KEYS);
    let read = |key: &str| src.keep(s.string(src, key)).flatten();
    let format = read("format")
        .and_then(|at| schema::check(src, &at, LogFormat::parse))
        .unwrap_or(defaults.format);
    let level = read("level")
        .and_then(|at| schema::check(src, &at, LogLevel::parse))
        .unwrap_or(defaults.level);
    let access = s
        .get("access")
        .and_then(|f| src.keep(f.boolean(src)))
        .map_or(defaults.access, |at| at.value);
    LogConfig {
        format,
        level,
        access,
    }
}
