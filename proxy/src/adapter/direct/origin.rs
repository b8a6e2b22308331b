//! Connections to origins for the direct path: taken from a shared idle pool for each request
//! and put back when its response ended cleanly, at most 128 kept per origin (as Pingora's
//! pool): an idle client connection holds no origin connection, so ten thousand fans between
//! page loads cost the origin nothing and the gateway no second descriptor each.

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
