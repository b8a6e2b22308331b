//! Connections to origins for the direct path: a client connection keeps the origin
//! connection it used for its next request (no pool round trip per request); when it closes,
//! or its next request goes to another origin, the origin connection goes back to a shared
//! idle pool, bounded per origin.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::net::TcpStream;

/// Idle connections kept per origin (Pingora's upstream pool keeps 128 in all).
const MAX_IDLE_PER_ORIGIN: usize = 128;
/// How long opening a connection to an origin may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct OriginPool {
    idle: Mutex<HashMap<SocketAddr, Vec<TcpStream>>>,
}

impl OriginPool {
    /// An idle connection to `origin`, if one is kept.
    pub fn take(&self, origin: SocketAddr) -> Option<TcpStream> {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        idle.get_mut(&origin)?.pop()
    }

    /// Keep a connection that finished its response cleanly.
    pub fn put(&self, origin: SocketAddr, stream: TcpStream) {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let kept = idle.entry(origin).or_default();
        if kept.len() < MAX_IDLE_PER_ORIGIN {
            kept.push(stream);
        }
    }
}

/// A new connection to `origin`.
pub async fn connect(origin: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(origin))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}
