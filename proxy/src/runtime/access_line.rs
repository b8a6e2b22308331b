//! The access-log line, written by hand: byte for byte what the process logger's formatter
//! (`tracing_subscriber`'s text or JSON format, `logs`) writes for the same event, without its
//! event dispatch, field visitors and `fmt` machinery — ~11,500 instructions a request, a
//! third of an admitted request's cost, when it went through `tracing::info!`. The test
//! below formats the same fields both ways and compares the bytes, so the two cannot drift.

use anteroom_config::LogFormat;

/// One request's access-log fields (all borrowed: a line costs no allocation).
#[derive(Debug, Clone, Copy)]
pub struct AccessFields<'a> {
    pub request_id: &'a str,
    pub room: &'a str,
    pub outcome: &'a str,
    pub status: u16,
    pub latency_us: u64,
    pub method: &'a str,
    pub path: &'a str,
}

/// Append the line for `fields` at `unix_micros` (microseconds since the Unix epoch) in
/// `format`, newline included.
pub fn write(out: &mut Vec<u8>, format: LogFormat, unix_micros: u64, fields: &AccessFields) {
    match format {
        LogFormat::Text => write_text(out, unix_micros, fields),
        LogFormat::Json => write_json(out, unix_micros, fields),
    }
}

/// One field's value as the logger records it: `%` text, or a number.
enum Value<'a> {
    Text(&'a str),
    Number(u64),
}

/// The fields in the order the logger writes them.
fn named<'a>(f: &AccessFields<'a>) -> [(&'static str, Value<'a>); 7] {
    [
        ("request_id", Value::Text(f.request_id)),
        ("room", Value::Text(f.room)),
        ("outcome", Value::Text(f.outcome)),
        ("status", Value::Number(u64::from(f.status))),
        ("latency_us", Value::Number(f.latency_us)),
        ("method", Value::Text(f.method)),
        ("path", Value::Text(f.path)),
    ]
}

/// `2026-12-01T05:59:05.192896Z  INFO access: request_id=… room=… outcome=… status=200
/// latency_us=4525 method=GET path=/tour/tickets` — values as `Display` writes them (the
/// logger's `%`): ids, rooms and outcomes come from fixed alphabets, a method is a token and a
/// parsed path holds no spaces or line breaks.
fn write_text(out: &mut Vec<u8>, unix_micros: u64, f: &AccessFields) {
    write_timestamp(out, unix_micros);
    out.extend_from_slice(b"  INFO access:");
    for (name, value) in named(f) {
        out.push(b' ');
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        match value {
            Value::Text(text) => out.extend_from_slice(text.as_bytes()),
            Value::Number(n) => write_decimal(out, n),
        }
    }
    out.push(b'\n');
}

/// `{"timestamp":"…","level":"INFO","request_id":"…",…,"path":"…","target":"access"}`, strings
/// escaped as JSON requires (as `serde_json` does).
fn write_json(out: &mut Vec<u8>, unix_micros: u64, f: &AccessFields) {
    out.extend_from_slice(b"{\"timestamp\":\"");
    write_timestamp(out, unix_micros);
    out.extend_from_slice(b"\",\"level\":\"INFO\"");
    for (name, value) in named(f) {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        match value {
            Value::Text(text) => write_json_string(out, text),
            Value::Number(n) => write_decimal(out, n),
        }
    }
    out.extend_from_slice(b",\"target\":\"access\"}\n");
}

/// RFC 3339 in UTC with microseconds: `2026-12-01T05:59:05.192896Z`. For the years 1970 to
/// 9999 (what `unix_now_us` reads on a sane clock; one set before 1970 reads 0, the epoch),
/// as the logger's own timer writes them.
pub fn write_timestamp(out: &mut Vec<u8>, unix_micros: u64) {
    let seconds = unix_micros / 1_000_000;
    let micros = unix_micros % 1_000_000;
    let (year, month, day) = civil_from_days(seconds / 86_400);
    let of_day = seconds % 86_400;
    write_padded(out, year, 4);
    out.push(b'-');
    write_padded(out, month, 2);
    out.push(b'-');
    write_padded(out, day, 2);
    out.push(b'T');
    write_padded(out, of_day / 3600, 2);
    out.push(b':');
    write_padded(out, of_day / 60 % 60, 2);
    out.push(b':');
    write_padded(out, of_day % 60, 2);
    out.push(b'.');
    write_padded(out, micros, 6);
    out.push(b'Z');
}

/// (year, month, day) of a count of days since 1970-01-01 (proleptic Gregorian; Howard
/// Hinnant's `civil_from_days`, for days ≥ 0).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// `n` in decimal, at least `width` digits (zero-padded).
fn write_padded(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        if let Some(slot) = digits.get_mut(at) {
            *slot = b'0' + (rest % 10) as u8;
        }
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let start = at.min(digits.len().saturating_sub(width));
    out.extend_from_slice(digits.get(start..).unwrap_or_default());
}

fn write_decimal(out: &mut Vec<u8>, n: u64) {
    write_padded(out, n, 1);
}

/// A JSON string literal of `text`: `"` and `\` escaped, control characters as `\n`-style
/// escapes or `\u00XX` (lowercase hex), everything else (UTF-8 included) as is — `serde_json`'s
/// choices, so the line is the one the JSON logger wrote.
fn write_json_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut plain_from = 0;
    for (at, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(bytes.get(plain_from..at).unwrap_or_default());
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(hex_digit(byte >> 4));
            out.push(hex_digit(byte & 0xf));
        } else {
            out.extend_from_slice(escape);
        }
        plain_from = at + 1;
    }
    out.extend_from_slice(bytes.get(plain_from..).unwrap_or_default());
    out.push(b'"');
}

/// The lowercase hex digit of `n` (< 16).
fn hex_digit(n: u8) -> u8 {
    if n < 10 {
        b'0' + n
    } else {
        b'a' + n - 10
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::format::Writer;
    use tracing_subscriber::fmt::time::FormatTime;
    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::layer::SubscriberExt;

    /// The logger's timer, fixed at one instant, written by `write_timestamp`: these tests
    /// compare everything after the timestamp with the logger's formatter; the timestamp
    /// itself is compared with chrono's RFC 3339 (`timestamps_agree_with_chrono`).
    struct At(u64);

    impl FormatTime for At {
        fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
            let mut text = Vec::new();
            write_timestamp(&mut text, self.0);
            w.write_str(std::str::from_utf8(&text).map_err(|_| std::fmt::Error)?)
        }
    }

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    /// The line the process logger (configured as `logs::init` does) writes for `fields`.
    fn through_tracing(format: LogFormat, unix_micros: u64, f: &AccessFields) -> String {
        let captured = Captured::default();
        let emit = || {
            tracing::info!(
                target: "access",
                request_id = %f.request_id,
                room = %f.room,
                outcome = %f.outcome,
                status = f.status,
                latency_us = f.latency_us,
                method = %f.method,
                path = %f.path,
            );
        };
        match format {
            LogFormat::Text => {
                let layer = tracing_subscriber::fmt::layer()
                    .with_writer(captured.clone())
                    .with_ansi(false)
                    .with_timer(At(unix_micros));
                tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), emit);
            }
            LogFormat::Json => {
                let layer = tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_writer(captured.clone())
                    .with_timer(At(unix_micros));
                tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), emit);
            }
        }
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    fn by_hand(format: LogFormat, unix_micros: u64, f: &AccessFields) -> String {
        let mut out = Vec::new();
        write(&mut out, format, unix_micros, f);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_line_is_the_one_the_logger_writes() {
        let fields = AccessFields {
            request_id: "2ab7975d8f3a01c2e4b5a6d7",
            room: "tour",
            outcome: "proxied",
            status: 200,
            latency_us: 4525,
            method: "GET",
            path: "/tour/tickets",
        };
        let at = 1_796_138_441_287_095;
        assert_eq!(
            by_hand(LogFormat::Text, at, &fields),
            "2026-12-01T15:20:41.287095Z  INFO access: request_id=2ab7975d8f3a01c2e4b5a6d7 \
             room=tour outcome=proxied status=200 latency_us=4525 method=GET path=/tour/tickets\n"
        );
        for format in [LogFormat::Text, LogFormat::Json] {
            assert_eq!(
                by_hand(format, at, &fields),
                through_tracing(format, at, &fields),
                "{format:?}"
            );
        }
    }

    #[test]
    fn timestamps_are_rfc_3339_utc_with_microseconds() {
        let text = |micros| {
            let mut out = Vec::new();
            write_timestamp(&mut out, micros);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(text(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(text(951_782_400_000_001), "2000-02-29T00:00:00.000001Z");
        assert_eq!(text(1_764_547_199_999_999), "2025-11-30T23:59:59.999999Z");
        assert_eq!(text(4_107_542_400_000_000), "2100-03-01T00:00:00.000000Z");
    }

    fn field() -> impl Strategy<Value = String> {
        // Any text: quotes, backslashes, control characters and non-ASCII included.
        prop::collection::vec(any::<char>(), 0..24).prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #[test]
        fn timestamps_agree_with_chrono(micros in 0u64..253_402_300_800_000_000) {
            let mut out = Vec::new();
            write_timestamp(&mut out, micros);
            let seconds = i64::try_from(micros / 1_000_000).unwrap();
            let nanos = u32::try_from(micros % 1_000_000 * 1000).unwrap();
            let expected = chrono::DateTime::from_timestamp(seconds, nanos)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            prop_assert_eq!(String::from_utf8(out).unwrap(), expected);
        }

        #[test]
        fn any_fields_make_the_loggers_line(
            request_id in field(), room in field(), outcome in field(), method in field(),
            path in field(), status in any::<u16>(), latency_us in any::<u64>(),
            micros in 0u64..253_402_300_800_000_000,
        ) {
            let fields = AccessFields {
                request_id: &request_id, room: &room, outcome: &outcome, status,
                latency_us, method: &method, path: &path,
            };
            // JSON always (every string escaped); text for what the gateway logs (the
            // logger writes `%` values as they are, and so do we).
            prop_assert_eq!(
                by_hand(LogFormat::Json, micros, &fields),
                through_tracing(LogFormat::Json, micros, &fields)
            );
            prop_assert_eq!(
                by_hand(LogFormat::Text, micros, &fields),
                through_tracing(LogFormat::Text, micros, &fields)
            );
        }
    }
}
