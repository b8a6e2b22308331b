//! Reading the head of a stream request off the connection, into the same `RequestHeader`
//! Pingora builds, so the gateway reads it with the same `facts` (one normalisation).

use pingora::http::RequestHeader;
use pingora::protocols::Stream;
use thiserror::Error;
use tokio::io::AsyncReadExt;

/// A stream request head larger than this is refused (431): a few cookies and the usual
/// browser headers fit many times over.
const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;

/// The first bytes of every request this module serves; anything else goes to Pingora.
const SSE_START: &[u8; 16] = b"GET /_anteroom/e";
const WS_START: &[u8; 16] = b"GET /_anteroom/w";
/// As many bytes as are compared (every HTTP/1 request has at least 18: `GET / HTTP/1.1` and
/// two line ends), so peeking them never waits on a complete shorter request.
pub const PEEK_LEN: usize = 16;

/// The first bytes of a request start a stream request.
pub fn looks_like_stream_request(start: &[u8; PEEK_LEN]) -> bool {
    start == SSE_START || start == WS_START
}

#[derive(Debug, Error)]
pub enum HeadError {
    #[error("the connection closed before the request head ended")]
    Closed,
    #[error("the request head exceeds {MAX_HEAD} bytes")]
    TooLarge,
    #[error("malformed request head: {0}")]
    Malformed(String),
    #[error("a live stream request carries no body")]
    Body,
}

impl HeadError {
    pub fn status(&self) -> u16 {
        match self {
            HeadError::TooLarge => 431,
            _ => 400,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            HeadError::Closed => "closed",
            HeadError::TooLarge => "head_too_large",
            HeadError::Malformed(_) => "malformed_request",
            HeadError::Body => "unexpected_body",
        }
    }
}

/// Read one request head; returns it and the bytes read past it (a WebSocket client may send
/// its first frame right behind the head).
pub async fn read(stream: &mut Stream) -> Result<(RequestHeader, Vec<u8>), HeadError> {
    let mut buffer: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let read = stream
            .read(&mut chunk)
            .await
            .map_err(|_| HeadError::Closed)?;
        if read == 0 {
            return Err(HeadError::Closed);
        }
        buffer.extend_from_slice(chunk.get(..read).unwrap_or_default());
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buffer) {
            Ok(httparse::Status::Complete(length)) => {
                let header = to_header(&request)?;
                let leftover = buffer.get(length..).unwrap_or_default().to_vec();
                return Ok((header, leftover));
            }
            Ok(httparse::Status::Partial) if buffer.len() > MAX_HEAD => {
                return Err(HeadError::TooLarge)
            }
            Ok(httparse::Status::Partial) => {}
            Err(error) => return Err(HeadError::Malformed(error.to_string())),
        }
    }
}

fn to_header(request: &httparse::Request) -> Result<RequestHeader, HeadError> {
    let malformed = |what: &str| HeadError::Malformed(what.to_string());
    let method = request.method.ok_or_else(|| malformed("no method"))?;
    let path = request.path.ok_or_else(|| malformed("no target"))?;
    let mut header = RequestHeader::build(method, path.as_bytes(), Some(request.headers.len()))
        .map_err(|_| malformed("unusable request target"))?;
    header.set_version(match request.version {
        Some(0) => http::Version::HTTP_10,
        _ => http::Version::HTTP_11,
    });
    for field in request.headers.iter() {
        let name = field.name.to_ascii_lowercase();
        if name == "content-length" && field.value.iter().any(|&byte| byte != b'0')
            || name == "transfer-encoding"
        {
            return Err(HeadError::Body);
        }
        header
            .append_header(name, field.value)
            .map_err(|_| malformed("unusable header value"))?;
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_stream_endpoints_are_recognised() {
        let start = |text: &[u8]| {
            let mut bytes = [0u8; PEEK_LEN];
            bytes.copy_from_slice(&text[..PEEK_LEN]);
            looks_like_stream_request(&bytes)
        };
        assert!(start(b"GET /_anteroom/events?room=a HTTP/1.1"));
        assert!(start(b"GET /_anteroom/ws?room=a HTTP/1.1"));
        assert!(!start(b"GET /_anteroom/status?room=a HTTP/1.1"));
        assert!(!start(b"POST /_anteroom/events HTTP/1.1"));
        assert!(!start(b"GET /tour/_anteroom/events HTTP/1.1"));
    }

    #[tokio::test]
    async fn a_head_is_read_with_what_follows_it() {
        let (mut stream, _peer) = stream_with(
            b"GET /_anteroom/ws?room=a HTTP/1.1\r\nHost: x\r\nCookie: a=b\r\n\r\nFRAME",
        )
        .await;
        let (header, leftover) = read(&mut stream).await.unwrap();
        assert_eq!(header.uri.path(), "/_anteroom/ws");
        assert_eq!(header.headers.get("cookie").unwrap(), "a=b");
        assert_eq!(leftover, b"FRAME");
    }

    #[tokio::test]
    async fn bodies_and_garbage_are_refused() {
        for (text, code) in [
            (
                &b"GET /_anteroom/events HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"[..],
                "unexpected_body",
            ),
            (
                b"GET /_anteroom/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
                "unexpected_body",
            ),
            (
                b"GET /_anteroom/events HTTP/1.1\r\nHo st: x\r\n\r\n",
                "malformed_request",
            ),
        ] {
            let (mut stream, _peer) = stream_with(text).await;
            assert_eq!(read(&mut stream).await.unwrap_err().code(), code);
        }
    }

    /// A connection whose client already sent `bytes`.
    async fn stream_with(bytes: &[u8]) -> (Stream, tokio::net::UnixStream) {
        use tokio::io::AsyncWriteExt;
        let (ours, mut peer) = tokio::net::UnixStream::pair().unwrap();
        peer.write_all(bytes).await.unwrap();
        let stream: pingora::protocols::l4::stream::Stream = ours.into();
        (Box::new(stream), peer)
    }
}
