//! An origin's response as the direct path relays it: where its body ends (RFC 9112 §6.3),
//! whether the origin connection may carry another request, and the head the client gets —
//! the origin's headers without its hop-by-hop ones, plus what the gateway adds.

use thiserror::Error;

use crate::adapter::raw_reply::{header_line, with_http_date, write_status_line};
use crate::adapter::request_id::REQUEST_ID;
use crate::adapter::response_filter::Addition;

/// Most header lines an origin's response may carry here.
pub const MAX_HEADERS: usize = 128;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ResponseError {
    #[error("the origin's response head is malformed")]
    Malformed,
    #[error("the origin sent conflicting or invalid Content-Length values")]
    BadLength,
    #[error("the origin switched protocols on a request that asked for no upgrade")]
    UnaskedUpgrade,
    #[error("the origin's chunked body is malformed")]
    BadChunk,
}

/// Where the body of a response ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body: a `HEAD` request, `1xx`, `204` or `304`.
    Empty,
    Length(u64),
    Chunked,
    /// Until the origin closes (the client's connection closes with it).
    UntilClose,
}

/// What the head of an origin's response decided.
#[derive(Debug)]
pub struct ResponseHead {
    pub status: u16,
    pub framing: Framing,
    /// The origin keeps its connection open for another request.
    pub origin_keeps_alive: bool,
    /// Bytes of the head (the body starts after them).
    pub len: usize,
}

/// An interim `1xx` response (other than `101`): relayed as it came, then the real one follows.
pub fn is_interim(status: u16) -> bool {
    (100..200).contains(&status) && status != 101
}

/// Parse the head of an origin's response in `bytes`; `Ok(None)` while it is incomplete.
/// When complete, the client's head is written to `out`: `HTTP/1.1`, the status, the
/// origin's headers less the hop-by-hop ones and those the gateway replaces, then
/// `X-Request-Id`, the `additions`, and `connection: close` when `close_client`.
pub fn read_head(
    bytes: &[u8],
    head_request: bool,
    request_id: &str,
    additions: &[Addition],
    close_client: bool,
    out: &mut Vec<u8>,
) -> Result<Option<ResponseHead>, ResponseError> {
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut storage);
    let len = match response.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(ResponseError::Malformed),
    };
    let status = response.code.ok_or(ResponseError::Malformed)?;
    if status == 101 {
        return Err(ResponseError::UnaskedUpgrade);
    }
    let mut chunked = None;
    let mut length: Option<u64> = None;
    let mut origin_keeps_alive = response.version == Some(1);
    let mut dated = false;
    for header in response.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("date") {
            dated = true;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // The final coding decides: chunked ends itself, anything else runs to the close.
            let last = header
                .value
                .rsplit(|&byte| byte == b',')
                .next()
                .unwrap_or_default();
            chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case("content-length") {
            for value in header.value.split(|&byte| byte == b',') {
                let value = parse_length(value.trim_ascii()).ok_or(ResponseError::BadLength)?;
                if length.is_some_and(|seen| seen != value) {
                    return Err(ResponseError::BadLength);
                }
                length = Some(value);
            }
        } else if name.eq_ignore_ascii_case("connection") {
            let close = header
                .value
                .split(|&byte| byte == b',')
                .any(|option| option.trim_ascii().eq_ignore_ascii_case(b"close"));
            if close {
                origin_keeps_alive = false;
            }
        }
    }
    let framing = if head_request || is_interim(status) || status == 204 || status == 304 {
        Framing::Empty
    } else {
        match (chunked, length) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) => Framing::UntilClose,
            (None, Some(length)) => Framing::Length(length),
            (None, None) => Framing::UntilClose,
        }
    };
    if framing == Framing::UntilClose {
        origin_keeps_alive = false;
    }

    if is_interim(status) {
        out.extend_from_slice(bytes.get(..len).unwrap_or_default());
    } else {
        write_status_line(out, status);
        let replaced = |name: &str| {
            additions.iter().any(|addition| match addition {
                Addition::Replace(replaced, _) => name.eq_ignore_ascii_case(replaced),
                Addition::Cookie(_) => false,
            })
        };
        for header in response.headers.iter() {
            let name = header.name;
            let hop_by_hop = ["connection", "keep-alive", "proxy-connection", REQUEST_ID]
                .iter()
                .any(|hop| name.eq_ignore_ascii_case(hop));
            // With Transfer-Encoding, a Content-Length means nothing and must not travel on.
            let stale_length = chunked.is_some() && name.eq_ignore_ascii_case("content-length");
            if hop_by_hop || stale_length || replaced(name) {
                continue;
            }
            header_line(out, name.as_bytes(), header.value);
        }
        header_line(out, REQUEST_ID.as_bytes(), request_id.as_bytes());
        // A proxy forwarding a response without a date adds one (RFC 9110 §6.6.1).
        if !dated {
            with_http_date(|date| header_line(out, b"date", date));
        }
        for addition in additions {
            match addition {
                Addition::Cookie(cookie) => header_line(out, b"set-cookie", cookie.as_bytes()),
                Addition::Replace(name, value) => {
                    header_line(out, name.as_bytes(), value.as_bytes())
                }
            }
        }
        if close_client || framing == Framing::UntilClose {
            header_line(out, b"connection", b"close");
        }
        out.extend_from_slice(b"\r\n");
    }
    Ok(Some(ResponseHead {
        status,
        framing,
        origin_keeps_alive,
        len,
    }))
}

/// A Content-Length value: digits only, no sign, no overflow.
fn parse_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Where a chunked body ends, followed over the bytes as they pass (they are relayed as they
/// came; only the framing is read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkScan {
    /// In a chunk-size line: its value so far, whether a digit was seen, whether the digits
    /// ended (an extension or whitespace follows).
    Size {
        value: u64,
        digits: bool,
        ended: bool,
    },
    Data {
        left: u64,
    },
    /// After a chunk's data: its line end (`\r` seen or not).
    DataEnd {
        cr: bool,
    },
    /// In the trailer section; `line_start` when the next byte begins a line.
    Trailer {
        line_start: bool,
    },
    Done,
}

impl Default for ChunkScan {
    fn default() -> Self {
        ChunkScan::Size {
            value: 0,
            digits: false,
            ended: false,
        }
    }
}

impl ChunkScan {
    /// Follow `bytes`; the offset just past the body's end when it is among them.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Option<usize>, ResponseError> {
        let mut at = 0;
        while at < bytes.len() {
            if let ChunkScan::Data { left } = *self {
                let take = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len() - at);
                at += take;
                let left = left - take as u64;
                *self = if left == 0 {
                    ChunkScan::DataEnd { cr: false }
                } else {
                    ChunkScan::Data { left }
                };
                continue;
            }
            let byte = bytes.get(at).copied().unwrap_or_default();
            at += 1;
            *self = match (*self, byte) {
                (ChunkScan::Size { digits: false, .. }, b'\n') => {
                    return Err(ResponseError::BadChunk)
                }
                (ChunkScan::Size { value: 0, .. }, b'\n') => {
                    ChunkScan::Trailer { line_start: true }
                }
                (ChunkScan::Size { value, .. }, b'\n') => ChunkScan::Data { left: value },
                (
                    ChunkScan::Size {
                        value,
                        ended: false,
                        ..
                    },
                    byte,
                ) if byte.is_ascii_hexdigit() => {
                    if value >> 56 != 0 {
                        return Err(ResponseError::BadChunk);
                    }
                    let digit = char::from(byte).to_digit(16).unwrap_or_default();
                    ChunkScan::Size {
                        value: value << 4 | u64::from(digit),
                        digits: true,
                        ended: false,
                    }
                }
                (ChunkScan::Size { digits: true, .. }, b'\r' | b' ' | b'\t' | b';')
                | (ChunkScan::Size { ended: true, .. }, _) => match *self {
                    ChunkScan::Size { value, digits, .. } => ChunkScan::Size {
                        value,
                        digits,
                        ended: true,
                    },
                    other => other,
                },
                (ChunkScan::Size { .. }, _) => return Err(ResponseError::BadChunk),
                (ChunkScan::DataEnd { cr: false }, b'\r') => ChunkScan::DataEnd { cr: true },
                (ChunkScan::DataEnd { .. }, b'\n') => ChunkScan::default(),
                (ChunkScan::DataEnd { .. }, _) => return Err(ResponseError::BadChunk),
                (ChunkScan::Trailer { line_start: true }, b'\n') => {
                    *self = ChunkScan::Done;
                    return Ok(Some(at));
                }
                (ChunkScan::Trailer { line_start }, b'\r') => ChunkScan::Trailer { line_start },
                (ChunkScan::Trailer { .. }, b'\n') => ChunkScan::Trailer { line_start: true },
                (ChunkScan::Trailer { .. }, _) => ChunkScan::Trailer { line_start: false },
                (ChunkScan::Done, _) => return Ok(Some(at - 1)),
                (ChunkScan::Data { .. }, _) => *self,
            };
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(
        bytes: &[u8],
        head_request: bool,
    ) -> Result<Option<(ResponseHead, String)>, ResponseError> {
        let mut out = Vec::new();
        let additions = [
            Addition::Cookie("anteroom_pass=p; Path=/".into()),
            Addition::Replace("x-anteroom-pass", "p".into()),
        ];
        read_head(bytes, head_request, "rid", &additions, false, &mut out)
            .map(|head| head.map(|head| (head, String::from_utf8(out).unwrap())))
    }

    #[test]
    fn a_length_response_keeps_its_headers_and_gets_the_gateways() {
        let (parsed, out) = head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Anteroom-Pass: origin\r\nConnection: keep-alive\r\nX-Request-Id: o\r\nETag: \"e\"\r\nDate: Tue, 01 Dec 2026 12:00:00 GMT\r\n\r\nhello",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(parsed.framing, Framing::Length(5));
        assert!(parsed.origin_keeps_alive);
        assert_eq!(parsed.status, 200);
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"e\"\r\nDate: Tue, 01 Dec 2026 12:00:00 GMT\r\nx-request-id: rid\r\nset-cookie: anteroom_pass=p; Path=/\r\nx-anteroom-pass: p\r\n\r\n"
        );
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let framing = |bytes: &[u8], head_request| {
            head(bytes, head_request).map(|h| h.map(|(h, _)| (h.framing, h.origin_keeps_alive)))
        };
        assert_eq!(
            framing(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n",
                false
            ),
            Ok(Some((Framing::Chunked, true)))
        );
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false),
            Ok(Some((Framing::UntilClose, false)))
        );
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\n\r\n", false),
            Ok(Some((Framing::UntilClose, false)))
        );
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true),
            Ok(Some((Framing::Empty, true)))
        );
        assert_eq!(
            framing(
                b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
                false
            ),
            Ok(Some((Framing::Empty, true)))
        );
        assert_eq!(
            framing(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false),
            Ok(Some((Framing::Length(1), false)))
        );
        assert_eq!(
            framing(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n",
                false
            ),
            Ok(Some((Framing::Length(1), false)))
        );
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\n", false),
            Ok(Some((Framing::Length(1), true)))
        );
        assert_eq!(
            framing(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                false
            ),
            Err(ResponseError::BadLength)
        );
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n", false),
            Err(ResponseError::BadLength)
        );
        assert_eq!(
            framing(b"HTTP/1.1 101 Switching Protocols\r\n\r\n", false),
            Err(ResponseError::UnaskedUpgrade)
        );
        assert_eq!(framing(b"HTTP/1.1 200 OK\r\nContent-Len", false), Ok(None));
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\n folded\r\n\r\n", false),
            Err(ResponseError::Malformed)
        );
    }

    #[test]
    fn an_interim_response_is_relayed_as_it_came() {
        let (parsed, out) = head(
            b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200",
            false,
        )
        .unwrap()
        .unwrap();
        assert!(is_interim(parsed.status));
        assert_eq!(out, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n");
    }

    #[test]
    fn a_response_without_a_date_gets_one() {
        let (_, out) = head(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false)
            .unwrap()
            .unwrap();
        let date = out
            .lines()
            .find_map(|line| line.strip_prefix("date: "))
            .expect("a date");
        assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
    }

    const CHUNKED: &[u8] = b"5;ext=1\r\nhello\r\nA \r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nNEXT";

    #[test]
    fn a_chunked_body_ends_after_its_trailers() {
        let mut scan = ChunkScan::default();
        let end = CHUNKED.len() - 4;
        assert_eq!(scan.feed(CHUNKED), Ok(Some(end)));
        let mut scan = ChunkScan::default();
        assert_eq!(scan.feed(b"0\r\n\r\n"), Ok(Some(5)));
    }

    proptest::proptest! {
        #[test]
        fn chunk_boundaries_do_not_matter(splits in proptest::collection::vec(0..CHUNKED.len(), 0..6)) {
            let mut splits = splits;
            splits.sort_unstable();
            let mut scan = ChunkScan::default();
            let mut from = 0;
            let mut found = None;
            for to in splits.into_iter().chain([CHUNKED.len()]) {
                if to < from { continue; }
                if let Some(end) = scan.feed(&CHUNKED[from..to]).unwrap() {
                    found = Some(from + end);
                    break;
                }
                from = to;
            }
            proptest::prop_assert_eq!(found, Some(CHUNKED.len() - 4));
        }
    }

    #[test]
    fn malformed_chunks_are_refused() {
        for bytes in [
            &b"\r\n"[..],
            b"x\r\n",
            b"5\r\nhelloXX",
            b"fffffffffffffffff\r\n",
        ] {
            let mut scan = ChunkScan::default();
            assert_eq!(scan.feed(bytes), Err(ResponseError::BadChunk), "{bytes:?}");
        }
    }
}
