//! WebSocket: the handshake answered here, then the status object as text messages, pings
//! both ways, and a close frame when this process shuts down. Buffers are small
//! (FIELD-NOTES: tungstenite's default read buffer alone is 128 KiB a connection).

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use pingora::http::RequestHeader;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::super::raw_reply;
use super::{observe, Ended, WRITE_TIMEOUT};
use crate::gateway::streams::{Opened, HEARTBEAT};
use crate::gateway::{Gateway, Reply};

/// A client that answers nothing (no pong, no message) for this long is gone.
const SILENCE_LIMIT: Duration = Duration::from_secs(45);

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(16 * 1024))
}

/// Check a WebSocket opening request; the `Sec-WebSocket-Accept` value, or the answer that
/// refuses it.
pub fn handshake(header: &RequestHeader) -> Result<String, Reply> {
    let value = |name: &str| {
        header
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
    };
    let has_token = |list: &str, token: &str| {
        list.split(',')
            .any(|item| item.trim().eq_ignore_ascii_case(token))
    };
    if !has_token(value("upgrade"), "websocket") || !has_token(value("connection"), "upgrade") {
        return Err(Reply::error(
            400,
            "not_websocket",
            "this endpoint speaks WebSocket: send `Upgrade: websocket` and `Connection: Upgrade`; for Server-Sent Events use /_anteroom/events",
        ));
    }
    if value("sec-websocket-version") != "13" {
        return Err(Reply::error(
            426,
            "websocket_version",
            "WebSocket version 13 is spoken here",
        )
        .with_header("sec-websocket-version", "13"));
    }
    let key = value("sec-websocket-key");
    if key.len() != 24 {
        return Err(Reply::error(
            400,
            "websocket_key",
            "Sec-WebSocket-Key must be 16 bytes in base64",
        ));
    }
    Ok(derive_accept_key(key.as_bytes()))
}

pub async fn run(
    gateway: &Arc<Gateway>,
    mut stream: Stream,
    leftover: Vec<u8>,
    accept: &str,
    opened: Opened,
    mut shutdown: ShutdownWatch,
) -> Ended {
    let Opened {
        first,
        cookies,
        mut subscription,
    } = opened;
    let kind = subscription.kind();
    let mut head = raw_reply::status_line(101);
    head.push_str(&format!(
        "upgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept}\r\n"
    ));
    for cookie in &cookies {
        head.push_str(&format!("set-cookie: {cookie}\r\n"));
    }
    head.push_str("\r\n");
    drop(cookies);
    let switched = async {
        stream.write_all(head.as_bytes()).await?;
        stream.flush().await
    };
    let switched = tokio::time::timeout(WRITE_TIMEOUT, switched).await;
    drop(head);
    match switched {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return Ended::Client,
        Err(_) => return Ended::SlowClient,
    }
    let mut socket =
        WebSocketStream::from_partially_read(stream, leftover, Role::Server, Some(config())).await;
    if let Err(ended) = send(&mut socket, Message::text(first.json)).await {
        return ended;
    }

    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    let mut last_heard = tokio::time::Instant::now();
    loop {
        tokio::select! {
            update = subscription.next() => match update {
                Some(update) => {
                    observe(gateway, kind, &update);
                    if let Err(ended) = send(&mut socket, Message::text(update.json)).await {
                        return ended;
                    }
                }
                None => {
                    let ended = close(&mut socket).await;
                    return if subscription.renewal_due() { Ended::Renewal } else { ended };
                }
            },
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > SILENCE_LIMIT {
                    return Ended::SlowClient;
                }
                let beat = Message::text(subscription.current().json);
                if let Err(ended) = send(&mut socket, beat).await {
                    return ended;
                }
                if let Err(ended) = send(&mut socket, Message::Ping(Vec::new().into())).await {
                    return ended;
                }
            },
            incoming = socket.next() => match incoming {
                // Pings are answered by tungstenite; anything the client says shows it is there.
                Some(Ok(Message::Close(_))) | None => return Ended::Client,
                Some(Ok(_)) => last_heard = tokio::time::Instant::now(),
                Some(Err(_)) => return Ended::Error,
            },
            _ = shutdown.changed() => return close(&mut socket).await,
        }
    }
}

async fn send(socket: &mut WebSocketStream<Stream>, message: Message) -> Result<(), Ended> {
    match tokio::time::timeout(WRITE_TIMEOUT, socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Ended::Client),
        Err(_) => Err(Ended::SlowClient),
    }
}

/// "Going away": the client reconnects (to the next process after an upgrade).
async fn close(socket: &mut WebSocketStream<Stream>) -> Ended {
    let frame = CloseFrame {
        code: CloseCode::Away,
        reason: "gateway restarting; reconnect".into(),
    };
    let _ = tokio::time::timeout(WRITE_TIMEOUT, socket.close(Some(frame))).await;
    Ended::Shutdown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> RequestHeader {
        let mut header = RequestHeader::build("GET", b"/_anteroom/ws?room=a", None).unwrap();
        for (name, value) in headers {
            header.append_header(name.to_string(), *value).unwrap();
        }
        header
    }

    #[test]
    fn the_accept_key_is_the_rfc_6455_example() {
        let header = request(&[
            ("upgrade", "websocket"),
            ("connection", "keep-alive, Upgrade"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ]);
        assert_eq!(handshake(&header).unwrap(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn a_request_that_is_no_websocket_opening_is_refused() {
        assert_eq!(handshake(&request(&[])).unwrap_err().status, 400);
        let old = request(&[
            ("upgrade", "websocket"),
            ("connection", "upgrade"),
            ("sec-websocket-version", "8"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ]);
        assert_eq!(handshake(&old).unwrap_err().status, 426);
    }
}
