//! Writing a gateway `Reply` straight onto a connection (a refused stream request), then
//! closing it: nothing more is read from it.

use pingora::protocols::Stream;
use tokio::io::AsyncWriteExt;

use super::streams::WRITE_TIMEOUT;
use crate::gateway::Reply;

pub async fn write(stream: &mut Stream, reply: Reply) -> std::io::Result<()> {
    let mut head = Vec::new();
    write_head(&reply, true, &mut head);
    let write = async {
        stream.write_all(&head).await?;
        stream.write_all(&reply.body).await?;
        stream.flush().await?;
        stream.shutdown().await
    };
    tokio::time::timeout(WRITE_TIMEOUT, write)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

/// `HTTP/1.1 <code> <reason>\r\n`
pub fn status_line(status: u16) -> String {
    let mut line = Vec::with_capacity(32);
    write_status_line(&mut line, status);
    String::from_utf8(line).unwrap_or_default()
}

/// `HTTP/1.1 <code> <reason>\r\n` appended to `out`, without the formatting machinery (the
/// direct path writes one per response).
pub fn write_status_line(out: &mut Vec<u8>, status: u16) {
    let code = http::StatusCode::from_u16(status).ok();
    out.extend_from_slice(b"HTTP/1.1 ");
    match &code {
        Some(code) => out.extend_from_slice(code.as_str().as_bytes()),
        None => out.extend_from_slice(status.to_string().as_bytes()),
    }
    out.push(b' ');
    let reason = code.and_then(|code| code.canonical_reason()).unwrap_or("");
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The head of `reply` (status line, its headers, `content-length`, `connection: close` when
/// `close`, the blank line), appended to `out`. A value that could end its line early is left
/// out: nothing the gateway puts in a header may split the response.
pub fn write_head(reply: &Reply, close: bool, out: &mut Vec<u8>) {
    write_status_line(out, reply.status);
    for (name, value) in &reply.headers {
        if value.bytes().any(|byte| byte == b'\r' || byte == b'\n') {
            continue;
        }
        header_line(out, name.as_bytes(), value.as_bytes());
    }
    header_line(
        out,
        b"content-length",
        reply.body.len().to_string().as_bytes(),
    );
    with_http_date(|date| header_line(out, b"date", date));
    if close {
        header_line(out, b"connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
}

/// `name: value\r\n`
pub fn header_line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Call `write` with the current time as an HTTP date (`Tue, 01 Dec 2026 12:00:00 GMT`),
/// formatted once a second per thread.
pub fn with_http_date(write: impl FnOnce(&[u8])) {
    thread_local! {
        static CACHED: std::cell::RefCell<(u64, String)> = const {
            std::cell::RefCell::new((u64::MAX, String::new()))
        };
    }
    let now = std::time::SystemTime::now();
    let second = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    CACHED.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != second {
            *cached = (second, httpdate::fmt_http_date(now));
        }
        write(cached.1.as_bytes());
    });
}
