//! A tiny, fast HTTP/1.1 origin for benchmarks: every request gets the same ~100-byte `200`.
//!
//! Plain tokio: read a request head, skip a `Content-Length` body if any, answer, and keep
//! the connection open unless the client asked to close it (or spoke HTTP/1.0 without
//! `keep-alive`). Pipelined requests are answered in order. It is correct enough for `wrk`,
//! `curl` and Pingora's upstream connection pool, and nothing more: no chunked request
//! bodies (answered `411` and closed), heads over 16 KiB are refused with `431`.
//!
//! ```text
//! cargo run --release -p anteroom --example bench_origin -- --listen 127.0.0.1:3000
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The body every request gets: 100 bytes, recognisable in benchmark checks.
const BODY: &[u8; 100] =
    b"anteroom-bench-origin: hello from the origin. This body is exactly one hundred bytes long. ok .....\n";

const MAX_HEAD: usize = 16 * 1024;

#[derive(Parser)]
#[command(about = "A tiny keep-alive HTTP/1.1 origin that answers every request with 200")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Tokio worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(serve(args.listen))
}

async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    eprintln!(
        "bench_origin listening on http://{}",
        listener.local_addr()?
    );
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: back off briefly, keep serving.
                eprintln!("accept: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = connection(stream).await;
        });
    }
}

/// What the head of one request tells us.
struct Head {
    /// Bytes of the head including the blank line.
    len: usize,
    content_length: usize,
    chunked: bool,
    keep_alive: bool,
}

async fn connection(mut stream: TcpStream) -> std::io::Result<()> {
    let response = response(200, "OK", BODY);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    loop {
        // Answer every complete request already buffered (pipelining), then flush once.
        let mut close = false;
        loop {
            let head = match parse_head(&buf) {
                Ok(Some(head)) => head,
                Ok(None) => break,
                Err(()) => {
                    out.extend_from_slice(&self::response(400, "Bad Request", b""));
                    close = true;
                    break;
                }
            };
            if head.chunked {
                out.extend_from_slice(&self::response(411, "Length Required", b""));
                close = true;
                break;
            }
            let total = head.len + head.content_length;
            if buf.len() < total {
                break; // the body is still arriving
            }
            buf.drain(..total);
            out.extend_from_slice(&response);
            if !head.keep_alive {
                close = true;
                break;
            }
        }
        if !close && buf.len() > MAX_HEAD && matches!(parse_head(&buf), Ok(None)) {
            out.extend_from_slice(&self::response(431, "Request Header Fields Too Large", b""));
            close = true;
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
        if close {
            return stream.shutdown().await;
        }
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(4096);
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
    }
}

fn response(code: u16, reason: &str, body: &[u8]) -> Vec<u8> {
    let mut response = format!(
        "HTTP/1.1 {code} {reason}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n{}\r\n",
        body.len(),
        if code == 200 {
            ""
        } else {
            "connection: close\r\n"
        }
    )
    .into_bytes();
    response.extend_from_slice(body);
    response
}

/// `Ok(None)`: the head is not complete yet. `Err`: not HTTP/1.x.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, ()> {
    let Some(end) = buf.windows(4).position(|window| window == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| ())?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().ok_or(())?;
    let version = request_line.rsplit(' ').next().ok_or(())?;
    let mut keep_alive = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(()),
    };
    let mut content_length = 0;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(());
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse().map_err(|_| ())?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            let value = value.to_ascii_lowercase();
            if value.contains("close") {
                keep_alive = false;
            } else if value.contains("keep-alive") {
                keep_alive = true;
            }
        }
    }
    Ok(Some(Head {
        len: end + 4,
        content_length,
        chunked,
        keep_alive,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads() {
        assert!(parse_head(b"GET / HTTP/1.1\r\nHost: a").unwrap().is_none());
        let head = parse_head(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET")
            .unwrap()
            .unwrap();
        assert_eq!(head.len, 27);
        assert!(head.keep_alive);
        let head = parse_head(b"POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc")
            .unwrap()
            .unwrap();
        assert_eq!(head.content_length, 3);
        assert!(!head.keep_alive);
        assert!(parse_head(b"junk\r\n\r\n").is_err());
    }
}
