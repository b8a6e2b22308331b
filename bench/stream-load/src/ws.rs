//! WebSocket side: the small-buffer client config and what each message means here.

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// Small buffers (FIELD-NOTES: the default read buffer costs ~133 KB per connection), so
/// that thousands of client connections fit in one process.
pub fn small_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024))
}

#[derive(Debug, PartialEq, Eq)]
pub enum WsEvent<'a> {
    /// A text message: the status object.
    Status(&'a str),
    /// Ping/pong: the connection is alive.
    Heartbeat,
    /// The server is closing.
    Closed,
    /// Anything the contract does not send (binary).
    Unexpected,
}

pub fn classify(message: &Message) -> WsEvent<'_> {
    match message {
        Message::Text(text) => WsEvent::Status(text.as_str()),
        Message::Ping(_) | Message::Pong(_) => WsEvent::Heartbeat,
        Message::Close(_) => WsEvent::Closed,
        Message::Binary(_) | Message::Frame(_) => WsEvent::Unexpected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_classified_by_what_the_contract_sends() {
        assert_eq!(
            classify(&Message::text("{\"state\":\"waiting\"}")),
            WsEvent::Status("{\"state\":\"waiting\"}")
        );
        assert_eq!(classify(&Message::Ping(vec![1].into())), WsEvent::Heartbeat);
        assert_eq!(
            classify(&Message::Pong(Vec::new().into())),
            WsEvent::Heartbeat
        );
        assert_eq!(classify(&Message::Close(None)), WsEvent::Closed);
        assert_eq!(classify(&Message::binary(vec![0u8])), WsEvent::Unexpected);
    }

    #[test]
    fn the_config_keeps_buffers_small() {
        let config = small_config();
        assert_eq!(config.read_buffer_size, 4096);
        assert_eq!(config.write_buffer_size, 0);
    }
}
