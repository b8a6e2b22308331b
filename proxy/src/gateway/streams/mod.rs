//! Live status streams (SSE and WebSocket), the part without a transport: who may open one,
//! how many, and what each one sends when. Each room's line is read once per tick as a
//! frontier (head ticket plus the tickets removed out of order) and every open stream
//! computes its visitor's exact position from it in memory: the store's work per tick does
//! not grow with the number of streams or the length of the line (ADR 0005).

mod feed;
mod hub;
mod open;
mod subscription;

pub use feed::{LineSnapshot, RoomFeed};
pub use hub::{Refusal, StreamHub, StreamSlot};
pub use open::{open, Opened};
pub use subscription::{Subscription, Update};

/// A status stream, as its transport calls it (the metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Sse,
    Ws,
}

impl StreamKind {
    pub fn label(self) -> &'static str {
        match self {
            StreamKind::Sse => "sse",
            StreamKind::Ws => "ws",
        }
    }

    /// The endpoint name under `/_anteroom/`.
    pub fn endpoint(self) -> &'static str {
        match self {
            StreamKind::Sse => "events",
            StreamKind::Ws => "ws",
        }
    }
}

/// A stream sends its status at least this often, changed or not.
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(15);
