//! Writing a gateway `Reply` straight onto a connection (a refused stream request), then
//! closing it: nothing more is read from it.

use pingora::protocols::Stream;
use tokio::io::AsyncWriteExt;

use super::WRITE_TIMEOUT;
use crate::gateway::Reply;

pub async fn write(stream: &mut Stream, reply: Reply) -> std::io::Result<()> {
    let mut head = status_line(reply.status);
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        reply.body.len()
    ));
    let write = async {
        stream.write_all(head.as_bytes()).await?;
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
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|code| code.canonical_reason())
        .unwrap_or("");
    format!("HTTP/1.1 {status} {reason}\r\n")
}
