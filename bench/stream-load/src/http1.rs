//! Just enough HTTP/1.1 for the benchmark's two requests: a status request whose answer has
//! a framed body, and an SSE request whose body is read as it streams.

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::sse::ChunkedDecoder;

const MAX_HEAD: usize = 16 * 1024;

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub chunked: bool,
    pub content_length: Option<u64>,
    /// The server closes the connection after this response.
    pub close: bool,
    /// Bytes the head took in the buffer.
    pub len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The peer closed before a complete head (or body).
    Closed,
    Malformed(String),
    Io(String),
}

impl HttpError {
    pub fn reason(&self) -> &'static str {
        match self {
            HttpError::Closed => "closed",
            HttpError::Malformed(_) => "malformed",
            HttpError::Io(_) => "io",
        }
    }
}

/// Ok(None) while the head is incomplete.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HttpError::Malformed(e.to_string())),
    };
    let mut head = Head {
        status: response.code.unwrap_or(0),
        chunked: false,
        content_length: None,
        close: response.version == Some(0),
        len,
    };
    for header in response.headers.iter() {
        let value = String::from_utf8_lossy(header.value).to_ascii_lowercase();
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = value.contains("chunked");
        } else if header.name.eq_ignore_ascii_case("content-length") {
            head.content_length = value.trim().parse().ok();
        } else if header.name.eq_ignore_ascii_case("connection") {
            head.close = value.contains("close");
        }
    }
    Ok(Some(head))
}

/// Reads until a whole head is in `buf`; the bytes after it stay in `buf[head.len..]`.
pub async fn read_head<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
) -> Result<Head, HttpError> {
    loop {
        if let Some(head) = parse_head(buf)? {
            return Ok(head);
        }
        if buf.len() > MAX_HEAD {
            return Err(HttpError::Malformed("head too large".into()));
        }
        read_more(reader, buf).await?;
    }
}

async fn read_more<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
) -> Result<(), HttpError> {
    let mut chunk = [0u8; 4096];
    let n = reader
        .read(&mut chunk)
        .await
        .map_err(|e| HttpError::Io(e.to_string()))?;
    if n == 0 {
        return Err(HttpError::Closed);
    }
    buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    Ok(())
}

/// A whole response: head, then the body by its framing (content-length, chunked, or up to
/// the close). `buf` starts with bytes already read and ends with those after the body.
pub async fn read_response<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max_body: usize,
) -> Result<(Head, Vec<u8>), HttpError> {
    let mut head = read_head(reader, buf).await?;
    buf.drain(..head.len);
    let mut body = Vec::new();
    if head.chunked {
        let mut decoder = ChunkedDecoder::default();
        let mut input = std::mem::take(buf);
        while !decoder
            .feed(&input, &mut body)
            .map_err(|e| HttpError::Malformed(e.0))?
        {
            // Bytes past the final chunk would be a pipelined response: none here.
            input.clear();
            read_more(reader, &mut input).await?;
            if body.len() > max_body {
                return Err(HttpError::Malformed("body too large".into()));
            }
        }
    } else if let Some(length) = head.content_length {
        let length = usize::try_from(length).unwrap_or(usize::MAX);
        if length > max_body {
            return Err(HttpError::Malformed("body too large".into()));
        }
        while buf.len() < length {
            read_more(reader, buf).await?;
        }
        body = buf.drain(..length).collect();
    } else {
        body = std::mem::take(buf);
        loop {
            match read_more(reader, &mut body).await {
                Ok(()) if body.len() <= max_body => {}
                Ok(()) => return Err(HttpError::Malformed("body too large".into())),
                Err(HttpError::Closed) => break,
                Err(e) => return Err(e),
            }
        }
        head.close = true;
    }
    Ok((head, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_when_complete() {
        let text = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\nab";
        assert_eq!(parse_head(&text[..20]), Ok(None));
        let head = parse_head(text).unwrap().unwrap();
        assert_eq!(head.status, 200);
        assert!(head.chunked);
        assert!(!head.close);
        assert_eq!(head.content_length, None);
        assert_eq!(text.len() - head.len, 2);
        let close = parse_head(b"HTTP/1.1 501 X\r\nConnection: close\r\nContent-Length: 7\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            (close.status, close.close, close.content_length),
            (501, true, Some(7))
        );
        assert!(parse_head(b"NOPE\r\n\r\n").is_err());
    }

    async fn response_of(wire: &[u8]) -> Result<(Head, Vec<u8>, Vec<u8>), HttpError> {
        let mut reader = wire;
        let mut buf = Vec::new();
        let (head, body) = read_response(&mut reader, &mut buf, 1 << 20).await?;
        Ok((head, body, buf))
    }

    #[tokio::test]
    async fn bodies_are_read_by_their_framing() {
        let (head, body, rest) =
            response_of(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n{\"a\"HTTP/1.1")
                .await
                .unwrap();
        assert_eq!(
            (head.status, body.as_slice(), rest.as_slice()),
            (200, &b"{\"a\""[..], &b"HTTP/1.1"[..])
        );
        let (_, body, _) = response_of(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        )
        .await
        .unwrap();
        assert_eq!(body, b"{}");
        let (head, body, _) = response_of(b"HTTP/1.1 200 OK\r\n\r\nuntil close")
            .await
            .unwrap();
        assert!(head.close);
        assert_eq!(body, b"until close");
        assert_eq!(
            response_of(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort")
                .await
                .err(),
            Some(HttpError::Closed)
        );
    }
}
