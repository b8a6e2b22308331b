//! The one form of a request-target and Host that rooms are matched on, and the forms that are
//! refused because origins disagree about what they mean.
//!
//! Origins (nginx, most frameworks) decode, merge and resolve a path before they serve it, so a
//! gateway that matched rooms on the raw bytes could be walked around with `/%74our`, `//tour`
//! or `/x/../tour`. Here a path is decoded where decoding keeps its meaning (unreserved
//! characters, RFC 3986 §2.3, and the sub-delimiters, `:` and `@` a path segment may hold
//! literally — every character a room prefix may contain), slashes are merged and dot-segments
//! removed (§5.2.4); what the origin would
//! read differently from one origin to the next (an encoded `/`, a `\`, an encoded dot-segment,
//! `..` above the root, control bytes) is refused. The gateway then forwards exactly the form
//! it matched. See docs/adr/0003-request-normalisation.md.
//!
//! An already-normal path — the common case — is returned borrowed, without allocating.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Why a request's target or Host was refused (answered with 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("the path has an encoded '/' or '\\' (%2F, %5C), which origins split differently")]
    EncodedSeparator,
    #[error("the path has a '\\', which some origins read as '/'")]
    Backslash,
    #[error("a '..' segment climbs above the root")]
    EscapesRoot,
    #[error("a '.' or '..' segment is percent-encoded or carries ';' parameters")]
    AmbiguousDotSegment,
    #[error("the request-target has a control, space or non-ASCII byte")]
    ControlByte,
    #[error("a '%' is not followed by two hex digits")]
    BadPercent,
    #[error("the request-target is neither a path nor an absolute http(s) URL")]
    UnsupportedTarget,
    #[error("the host in the request-target differs from the Host header")]
    HostMismatch,
    #[error("the request has more than one Host header")]
    DuplicateHost,
    #[error("an HTTP/1.1 request needs a Host header")]
    MissingHost,
    #[error("the host is not a host name or IP address with an optional port")]
    MalformedHost,
}

impl FormError {
    /// The `error` code of the 400 JSON answer.
    pub fn code(self) -> &'static str {
        match self {
            FormError::EncodedSeparator => "encoded_separator",
            FormError::Backslash => "backslash_in_path",
            FormError::EscapesRoot => "path_escapes_root",
            FormError::AmbiguousDotSegment => "ambiguous_dot_segment",
            FormError::ControlByte => "bad_byte_in_target",
            FormError::BadPercent => "bad_percent_encoding",
            FormError::UnsupportedTarget => "unsupported_target",
            FormError::HostMismatch => "host_mismatch",
            FormError::DuplicateHost => "duplicate_host",
            FormError::MissingHost => "missing_host",
            FormError::MalformedHost => "bad_host",
        }
    }
}

/// What the adapter read off the request line and headers, as plain bytes.
#[derive(Debug, Clone, Copy)]
pub struct RawTarget<'a> {
    /// The request-target as received (origin-form, absolute-form or `*`).
    pub target: &'a [u8],
    /// The first Host header, and whether there was a second.
    pub host_header: Option<&'a [u8]>,
    pub duplicate_host: bool,
    /// HTTP/1.0 may omit Host; HTTP/1.1 may not (RFC 9112 §3.2).
    pub host_required: bool,
}

/// A request-target in the form rooms are matched on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalTarget<'a> {
    /// Lowercase host name (or bracketed IPv6), without port or trailing dot.
    pub host: Option<String>,
    /// The host is an IP literal (no room names it by name).
    pub host_is_ip: bool,
    /// The normal path, borrowed when the request already sent it that way.
    pub path: Cow<'a, str>,
    pub query: Option<&'a str>,
    /// Set when the origin must be sent another form than the one received, so that it
    /// serves exactly what was matched.
    pub forward: Option<ForwardTarget>,
}

/// The request-target and Host the origin gets instead of the client's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardTarget {
    /// Origin-form path and query.
    pub path_and_query: String,
    /// A Host header to send; `None` keeps the client's.
    pub host: Option<String>,
}

/// Read and normalise a request's target and Host, or refuse an ambiguous form.
pub fn normalise(raw: RawTarget<'_>) -> Result<NormalTarget<'_>, FormError> {
    if raw.duplicate_host {
        return Err(FormError::DuplicateHost);
    }
    let header_host = match raw.host_header {
        Some(value) => Some(parse_host(value)?),
        None => None,
    };
    let target = std::str::from_utf8(raw.target).map_err(|_| FormError::ControlByte)?;
    let (authority, path_and_query) = split_absolute(target)?;
    let target_host = match authority {
        Some(authority) => Some(parse_host(authority.as_bytes())?),
        None => None,
    };
    let (raw_path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    check_bytes(raw_path)?;
    if let Some(query) = query {
        check_bytes(query)?;
    }

    let (host, host_rewrite) = match (header_host, target_host) {
        (Some(header), Some(target)) if header.name != target.name => {
            return Err(FormError::HostMismatch)
        }
        (Some(header), _) => {
            let rewrite = header.renamed.then(|| header.with_port());
            (Some(header), rewrite)
        }
        // An absolute-form target without Host (HTTP/1.0): the host in the request line is the
        // one that counts, and the origin is told so.
        (None, Some(target)) if !raw.host_required => {
            let rewrite = Some(target.with_port());
            (Some(target), rewrite)
        }
        (None, _) if raw.host_required => return Err(FormError::MissingHost),
        (None, _) => (None, None),
    };

    let path = if raw_path == "*" && authority.is_none() {
        Cow::Borrowed(raw_path)
    } else if raw_path.is_empty() && authority.is_some() {
        Cow::Borrowed("/")
    } else {
        normal_path(raw_path)?
    };
    let path_rewritten = authority.is_some() || matches!(path, Cow::Owned(_));
    let forward = (path_rewritten || host_rewrite.is_some()).then(|| ForwardTarget {
        path_and_query: match query {
            Some(query) => format!("{path}?{query}"),
            None => path.to_string(),
        },
        host: host_rewrite,
    });
    let (host, host_is_ip) = match host {
        Some(host) => (Some(host.name), host.is_ip),
        None => (None, false),
    };
    Ok(NormalTarget {
        host,
        host_is_ip,
        path,
        query,
        forward,
    })
}

/// Split an absolute-form target (`http://host/path`) into its authority and the rest; an
/// origin-form or `*` target has no authority.
fn split_absolute(target: &str) -> Result<(Option<&str>, &str), FormError> {
    if target.starts_with('/') || target == "*" {
        return Ok((None, target));
    }
    let rest = strip_prefix_ignore_case(target, "http://")
        .or_else(|| strip_prefix_ignore_case(target, "https://"))
        .ok_or(FormError::UnsupportedTarget)?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(end);
    if authority.is_empty() {
        return Err(FormError::MalformedHost);
    }
    Ok((Some(authority), path_and_query))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| text.get(prefix.len()..))
        .flatten()
}

/// Control bytes, spaces and raw non-ASCII have no single meaning in a target.
fn check_bytes(text: &str) -> Result<(), FormError> {
    if text.bytes().any(|b| b <= b' ' || b >= 0x7f) {
        return Err(FormError::ControlByte);
    }
    Ok(())
}

/// A parsed Host value.
struct Host<'a> {
    name: String,
    port: Option<&'a str>,
    is_ip: bool,
    /// The name was sent in another form than `name` (a trailing dot).
    renamed: bool,
}

impl Host<'_> {
    fn with_port(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.name),
            None => self.name.clone(),
        }
    }
}

/// `name[:port]`, `IPv4[:port]` or `[IPv6][:port]`; lowercased, one trailing dot dropped.
fn parse_host(value: &[u8]) -> Result<Host<'_>, FormError> {
    let value = std::str::from_utf8(value).map_err(|_| FormError::MalformedHost)?;
    if value.is_empty() || value.len() > 261 {
        return Err(FormError::MalformedHost);
    }
    if let Some(bracketed) = value.strip_prefix('[') {
        let (inner, after) = bracketed.split_once(']').ok_or(FormError::MalformedHost)?;
        inner
            .parse::<Ipv6Addr>()
            .map_err(|_| FormError::MalformedHost)?;
        let port = match after {
            "" => None,
            _ => Some(port(
                after.strip_prefix(':').ok_or(FormError::MalformedHost)?,
            )?),
        };
        return Ok(Host {
            name: format!("[{}]", inner.to_ascii_lowercase()),
            port,
            is_ip: true,
            renamed: false,
        });
    }
    let (name, port) = match value.split_once(':') {
        Some((name, rest)) => (name, Some(port(rest)?)),
        None => (value, None),
    };
    let (name, renamed) = match name.strip_suffix('.') {
        Some(stripped) => (stripped, true),
        None => (name, false),
    };
    if !is_host_name(name.as_bytes()) {
        return Err(FormError::MalformedHost);
    }
    let dotted_digits = name.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    Ok(Host {
        name: name.to_ascii_lowercase(),
        port,
        is_ip: dotted_digits && name.parse::<Ipv4Addr>().is_ok(),
        renamed,
    })
}

/// At most 253 bytes of dot-separated labels, each 1-63 of `[A-Za-z0-9_-]` (one pass: this
/// runs on every request).
fn is_host_name(name: &[u8]) -> bool {
    if name.len() > 253 {
        return false;
    }
    let mut label = 0usize;
    for &byte in name {
        if byte == b'.' {
            if label == 0 {
                return false;
            }
            label = 0;
        } else if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            label += 1;
            if label > 63 {
                return false;
            }
        } else {
            return false;
        }
    }
    label > 0
}

fn port(text: &str) -> Result<&str, FormError> {
    if text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FormError::MalformedHost);
    }
    Ok(text)
}

/// The normal form of an origin-form path: unreserved characters, sub-delimiters (but `;` and
/// `,`), `:` and `@` decoded, other escapes in upper-case hex, no empty, `.` or `..` segments (a trailing `/` is kept).
pub fn normal_path(raw: &str) -> Result<Cow<'_, str>, FormError> {
    if is_normal(raw) {
        return Ok(Cow::Borrowed(raw));
    }
    let rest = raw.strip_prefix('/').ok_or(FormError::UnsupportedTarget)?;
    let mut segments: Vec<Cow<'_, str>> = Vec::new();
    let mut trailing_slash = false;
    for raw_segment in rest.split('/') {
        let segment = decode_segment(raw_segment)?;
        let bare = segment.get(..parameters_start(&segment)).unwrap_or("");
        let is_dot = bare == "." || bare == "..";
        if is_dot && (segment.len() != bare.len() || raw_segment.len() != segment.len()) {
            // `%2E%2E`, `.%2e`, `..;x`, `.%3Bx`: origins differ on whether these climb.
            return Err(FormError::AmbiguousDotSegment);
        }
        trailing_slash = segment.is_empty() || is_dot;
        match segment.as_ref() {
            "" | "." => {}
            ".." => {
                if segments.pop().is_none() {
                    return Err(FormError::EscapesRoot);
                }
            }
            _ => segments.push(segment),
        }
    }
    let mut path = String::with_capacity(raw.len());
    for segment in &segments {
        path.push('/');
        path.push_str(segment);
    }
    if trailing_slash || segments.is_empty() {
        path.push('/');
    }
    if path == raw {
        // Only unsure (a `;`, an escape that stays): what is normal stays borrowed.
        return Ok(Cow::Borrowed(raw));
    }
    Ok(Cow::Owned(path))
}

/// Where a segment's `;parameters` start: at `;`, raw or as `%3B` (servlet containers decode
/// it first); its length when it has none.
fn parameters_start(segment: &str) -> usize {
    segment
        .find(';')
        .into_iter()
        .chain(segment.find("%3B"))
        .min()
        .unwrap_or(segment.len())
}

/// A normal path as Java servlet containers read it: `;parameters` cut from every segment
/// (`/tour;x/a` is `/tour/a` there), whether the `;` came raw or as `%3B`, and the empty
/// segments that leaves merged. Rooms are matched on this form, so parameters cannot hide a
/// protected path; the origin still gets the normal path.
pub fn without_parameters(path: &str) -> Cow<'_, str> {
    if !path.contains(';') && !path.contains("%3B") {
        return Cow::Borrowed(path);
    }
    let segments: Vec<&str> = path
        .split('/')
        .map(|segment| segment.get(..parameters_start(segment)).unwrap_or(segment))
        .collect();
    let mut stripped = String::with_capacity(path.len());
    for segment in segments.iter().filter(|segment| !segment.is_empty()) {
        stripped.push('/');
        stripped.push_str(segment);
    }
    if stripped.is_empty() || segments.last().is_some_and(|last| last.is_empty()) {
        stripped.push('/');
    }
    Cow::Owned(stripped)
}

/// One pass over the bytes: a path that starts with `/` and has no `%`, `\`, control byte,
/// empty, `.` or `..` segment is already normal. Whatever is unsure goes the slow way.
fn is_normal(path: &str) -> bool {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return false;
    }
    let mut segment_start = 1;
    for (index, &byte) in bytes.iter().enumerate().skip(1) {
        match byte {
            b'/' => {
                if dotted_or_empty(bytes.get(segment_start..index)) {
                    return false;
                }
                segment_start = index + 1;
            }
            // `;` may start parameters that hide a dot-segment (`..;`): the slow way checks.
            b'%' | b'\\' | b';' => return false,
            byte if byte <= b' ' || byte >= 0x7f => return false,
            _ => {}
        }
    }
    // The last segment may be empty (a trailing slash), never `.` or `..`.
    let last = bytes.get(segment_start..).unwrap_or_default();
    !matches!(last, b"." | b"..")
}

fn dotted_or_empty(segment: Option<&[u8]>) -> bool {
    matches!(segment, None | Some(b"" | b"." | b".."))
}

/// Characters decoded from `%XX`: unreserved ones and those a path segment holds literally with
/// the same meaning (`;` and `,` excepted: servlet containers read `;` as parameters). Room
/// prefixes are written with these characters only (config `validate::PATH_PUNCTUATION`).
pub fn decoded_in_paths(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~!$&'()*+=:@".contains(&byte)
}

/// Decode `%XX` of the characters paths hold literally, upper-case the hex of the others;
/// refuse what has no single reading.
fn decode_segment(segment: &str) -> Result<Cow<'_, str>, FormError> {
    if segment.contains('\\') {
        return Err(FormError::Backslash);
    }
    check_bytes(segment)?;
    if !segment.contains('%') {
        return Ok(Cow::Borrowed(segment));
    }
    let bytes = segment.as_bytes();
    let mut out = String::with_capacity(segment.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte != b'%' {
            out.push(char::from(byte));
            index += 1;
            continue;
        }
        let (Some(high), Some(low)) = (
            bytes.get(index + 1).and_then(|b| hex_value(*b)),
            bytes.get(index + 2).and_then(|b| hex_value(*b)),
        ) else {
            return Err(FormError::BadPercent);
        };
        let decoded = high * 16 + low;
        match decoded {
            b'/' | b'\\' => return Err(FormError::EncodedSeparator),
            0..=0x1f | 0x7f => return Err(FormError::ControlByte),
            byte if decoded_in_paths(byte) => out.push(char::from(byte)),
            byte => {
                out.push('%');
                out.push(hex_digit(byte >> 4));
                out.push(hex_digit(byte & 0x0f));
            }
        }
        index += 3;
    }
    Ok(Cow::Owned(out))
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

fn hex_digit(nibble: u8) -> char {
    char::from(
        b"0123456789ABCDEF"
            .get(usize::from(nibble))
            .copied()
            .unwrap_or(b'0'),
    )
}

#[cfg(test)]
mod tests;
