//! Clients of the live status streams: SSE read off a raw connection (chunked framing and
//! event parsing checked byte by byte, as a strict client would) and WebSocket through
//! tokio-tungstenite.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// What a stream said next.
#[derive(Debug)]
pub enum Said {
    Status(serde_json::Value),
    /// The server ended the stream cleanly (SSE: the last chunk; WS: a close frame, with code).
    Ended(Option<u16>),
    /// The connection dropped without a clean end.
    Dropped,
}

/// A connection a client speaks HTTP/1.1 on: TCP, or TLS over it.
pub trait Connection: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Connection for T {}

pub struct SseClient {
    socket: Box<dyn Connection>,
    buffer: Vec<u8>,
    /// Decoded body bytes not yet split into events.
    body: String,
    pub status: u16,
    pub head: String,
    pub ids: Vec<String>,
}

impl SseClient {
    /// Open `/_anteroom/events?room=ROOM` with these cookies; returns after the response head.
    pub async fn open(public: SocketAddr, room: &str, cookie: Option<&str>) -> SseClient {
        let socket = TcpStream::connect(public).await.expect("connect gateway");
        SseClient::open_on(Box::new(socket), room, cookie).await
    }

    /// The same on a connection already open (TLS).
    pub async fn open_on(
        mut socket: Box<dyn Connection>,
        room: &str,
        cookie: Option<&str>,
    ) -> SseClient {
        let cookie = cookie
            .map(|cookie| format!("Cookie: {cookie}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "GET /_anteroom/events?room={room} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n{cookie}\r\n"
        );
        socket.write_all(request.as_bytes()).await.expect("send");
        let mut client = SseClient {
            socket,
            buffer: Vec::new(),
            body: String::new(),
            status: 0,
            head: String::new(),
            ids: Vec::new(),
        };
        client.read_head().await;
        client
    }

    async fn read_more(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        match self.socket.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    async fn read_head(&mut self) {
        loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                self.head = String::from_utf8_lossy(&self.buffer[..end]).to_string();
                self.buffer.drain(..end + 4);
                self.status = self.head[9..12].parse().expect("status code");
                return;
            }
            assert!(
                tokio::time::timeout(Duration::from_secs(10), self.read_more())
                    .await
                    .expect("response head in time"),
                "connection closed before the response head"
            );
        }
    }

    /// The response body of a refused stream (a JSON error with Content-Length).
    pub async fn error_body(&mut self) -> serde_json::Value {
        while tokio::time::timeout(Duration::from_secs(5), self.read_more())
            .await
            .unwrap_or(false)
        {}
        serde_json::from_slice(&self.buffer).expect("JSON error body")
    }

    /// The next status event, a clean end, or a drop; None when nothing came within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Said> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Decode whole chunks.
            while let Some(line_end) = find(&self.buffer, b"\r\n") {
                let size = usize::from_str_radix(
                    std::str::from_utf8(&self.buffer[..line_end]).expect("chunk size"),
                    16,
                )
                .expect("hex chunk size");
                if size == 0 {
                    return Some(Said::Ended(None));
                }
                if self.buffer.len() < line_end + 2 + size + 2 {
                    break;
                }
                let data = &self.buffer[line_end + 2..line_end + 2 + size];
                self.body
                    .push_str(std::str::from_utf8(data).expect("utf-8 event"));
                assert_eq!(
                    &self.buffer[line_end + 2 + size..line_end + 4 + size],
                    b"\r\n"
                );
                self.buffer.drain(..line_end + 4 + size);
            }
            if let Some(end) = self.body.find("\n\n") {
                let event: String = self.body.drain(..end + 2).collect();
                let mut data = None;
                let mut name = None;
                for line in event.lines() {
                    if let Some(value) = line.strip_prefix("data: ") {
                        data = Some(value.to_string());
                    } else if let Some(value) = line.strip_prefix("event: ") {
                        name = Some(value.to_string());
                    } else if let Some(value) = line.strip_prefix("id: ") {
                        self.ids.push(value.to_string());
                    }
                }
                assert_eq!(name.as_deref(), Some("status"), "event: {event}");
                let data = data.expect("data line");
                return Some(Said::Status(
                    serde_json::from_str(&data).expect("JSON data"),
                ));
            }
            match tokio::time::timeout_at(deadline, self.read_more()).await {
                Err(_) => return None,
                Ok(false) => return Some(Said::Dropped),
                Ok(true) => {}
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

pub struct WsClient {
    socket: tokio_tungstenite::WebSocketStream<Box<dyn Connection>>,
}

impl WsClient {
    /// Open `/_anteroom/ws?room=ROOM`; Err carries the HTTP status of a refusal.
    pub async fn open(
        public: SocketAddr,
        room: &str,
        cookie: Option<&str>,
    ) -> Result<WsClient, u16> {
        let mut request = format!("ws://{public}/_anteroom/ws?room={room}")
            .into_client_request()
            .expect("ws request");
        if let Some(cookie) = cookie {
            request
                .headers_mut()
                .insert("cookie", cookie.parse().expect("cookie header"));
        }
        let socket = TcpStream::connect(public).await.expect("connect gateway");
        WsClient::open_on(Box::new(socket), request).await
    }

    /// The same on a connection already open (TLS); `request` names the URL and headers.
    pub async fn open_on(
        socket: Box<dyn Connection>,
        request: tokio_tungstenite::tungstenite::handshake::client::Request,
    ) -> Result<WsClient, u16> {
        match tokio_tungstenite::client_async(request, socket).await {
            Ok((socket, _)) => Ok(WsClient { socket }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(error) => panic!("websocket open failed: {error}"),
        }
    }

    pub async fn next(&mut self, wait: Duration) -> Option<Said> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => return None,
                Ok(message) => message,
            };
            return Some(match message {
                Some(Ok(Message::Text(text))) => {
                    Said::Status(serde_json::from_str(&text).expect("JSON message"))
                }
                Some(Ok(Message::Close(frame))) => {
                    Said::Ended(frame.map(|frame| u16::from(frame.code)))
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => Said::Dropped,
            });
        }
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// Either kind, for tests that run over both.
pub enum AnyStream {
    Sse(SseClient),
    Ws(WsClient),
}

impl AnyStream {
    pub async fn open(
        kind: &str,
        public: SocketAddr,
        room: &str,
        cookie: Option<&str>,
    ) -> AnyStream {
        match kind {
            "sse" => {
                let client = SseClient::open(public, room, cookie).await;
                assert_eq!(client.status, 200, "SSE refused: {}", client.head);
                AnyStream::Sse(client)
            }
            _ => AnyStream::Ws(
                WsClient::open(public, room, cookie)
                    .await
                    .unwrap_or_else(|status| panic!("WS refused with {status}")),
            ),
        }
    }

    pub async fn next(&mut self, wait: Duration) -> Option<Said> {
        match self {
            AnyStream::Sse(client) => client.next(wait).await,
            AnyStream::Ws(client) => client.next(wait).await,
        }
    }

    /// The next status, failing the test on anything else.
    pub async fn status(&mut self, wait: Duration) -> serde_json::Value {
        match self.next(wait).await {
            Some(Said::Status(status)) => status,
            other => panic!("expected a status, got {other:?}"),
        }
    }
}
