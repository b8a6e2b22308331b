//! A bound on the time a client may take to send a request head (slowloris).
//!
//! Pingora's only limit while it reads a head is a per-read timeout (the 60 s keep-alive
//! timeout): a client that sends one byte every 59 s holds a connection, and up to 1 MiB of
//! header buffer, for days. Pingora has no knob for the whole head, so the public listener's
//! streams are wrapped here (by `public_app`): from the first byte of a request (or the accept) to the blank line
//! that ends its head, at most `limit` may pass, or the read fails and Pingora drops the
//! connection. Bodies, responses, idle keep-alive waits and upgraded tunnels are not bounded
//! here (Pingora's own timeouts apply to them).
//!
//! Peeks are answered here, not by the inner stream (which cannot peek under TLS: the bytes
//! are still encrypted in the socket): the bytes are read ahead, through the same bound, and
//! handed out again by the next reads. The direct path (`direct`) reads whole heads ahead the
//! same way: what it takes it consumes, what it leaves Pingora reads as if nothing happened.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream,
    TimingDigest, UniqueID, UniqueIDType, ALPN,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// How long a client may take to send a request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the connection is in its current request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading a head; `after_newline` is set when the last byte that was not `\r` was `\n`.
    Head { after_newline: bool },
    /// The head is complete: body bytes, not bounded.
    Body,
    /// A final response was written: the next byte read starts a new head.
    Responded,
    /// `101 Switching Protocols`: the connection is a tunnel now.
    Tunnel,
}

/// Where a head stands after some more of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeadScan {
    /// The blank line that ends the head was among the bytes.
    Complete,
    /// Still open; `after_newline` as in [`Phase::Head`].
    Open { after_newline: bool },
}

/// Look for the blank line (`\n`, any `\r`s, `\n`) that ends a head, continuing from
/// `after_newline`. Jumps from newline to newline (`memchr`) instead of walking every byte:
/// this runs on every read of the public listener.
fn head_end(after_newline: bool, bytes: &[u8]) -> HeadScan {
    let only_returns = |line: &[u8]| line.iter().all(|&byte| byte == b'\r');
    let mut after_newline = after_newline;
    let mut line_start = 0;
    for newline in memchr::memchr_iter(b'\n', bytes) {
        if after_newline && only_returns(bytes.get(line_start..newline).unwrap_or_default()) {
            return HeadScan::Complete;
        }
        after_newline = true;
        line_start = newline + 1;
    }
    HeadScan::Open {
        after_newline: after_newline && only_returns(bytes.get(line_start..).unwrap_or_default()),
    }
}

/// The length of the head that `bytes` begin with, its blank line included; None while the
/// blank line has not arrived.
pub fn head_len(bytes: &[u8]) -> Option<usize> {
    let only_returns = |line: &[u8]| line.iter().all(|&byte| byte == b'\r');
    let mut after_newline = false;
    let mut line_start = 0;
    for newline in memchr::memchr_iter(b'\n', bytes) {
        if after_newline && only_returns(bytes.get(line_start..newline).unwrap_or_default()) {
            return Some(newline + 1);
        }
        after_newline = true;
        line_start = newline + 1;
    }
    None
}

/// Most bytes `try_peek` reads ahead (the public app peeks 16).
const PEEK_MAX: usize = 32;
/// How much one read ahead takes at most (a whole common head), when the buffer has no room
/// left already.
const AHEAD_CAPACITY: usize = 4096;

pub struct BoundedHead {
    inner: Stream,
    limit: Duration,
    phase: Phase,
    deadline: Pin<Box<Sleep>>,
    /// Bytes read ahead of the next reader (by `try_peek` or `read_head`), handed out first:
    /// `ahead[taken..]`. Kept here rather than in the L4 stream's rewind buffer (a `Vec` per
    /// peek, and a read that returns only the peeked bytes, so Pingora parses every head
    /// twice). One buffer for the connection's life.
    ahead: Vec<u8>,
    taken: usize,
}

/// What `read_head` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadRead {
    /// A whole head of this many bytes (blank line included) starts the bytes held.
    Complete(usize),
    /// `max` bytes held and still no end of head: left for Pingora, which has its own limits.
    TooLong,
}

impl BoundedHead {
    pub fn new(inner: Stream, limit: Duration) -> BoundedHead {
        BoundedHead {
            inner,
            limit,
            phase: Phase::Head {
                after_newline: false,
            },
            deadline: Box::pin(tokio::time::sleep(limit)),
            ahead: Vec::new(),
            taken: 0,
        }
    }

    /// The client's address (the PROXY header's, when one named it).
    pub fn peer_ip(&self) -> Option<std::net::IpAddr> {
        let digest = self.inner.get_socket_digest()?;
        digest.peer_addr()?.as_inet().map(|address| address.ip())
    }

    /// The connection is TLS.
    pub fn is_tls(&self) -> bool {
        self.inner.get_ssl_digest().is_some()
    }

    /// The bytes read ahead and not yet consumed.
    pub fn held(&self) -> &[u8] {
        self.ahead.get(self.taken..).unwrap_or_default()
    }

    /// Drop the first `n` bytes held (the direct path served the request they carried, or a
    /// reader took them). Once none are left the buffer goes back to the thread's spares: a
    /// connection waiting for its next request, or carrying a live stream, holds none.
    pub fn consume(&mut self, n: usize) {
        self.taken = (self.taken + n).min(self.ahead.len());
        if self.taken == self.ahead.len() {
            super::spare_buffers::give(std::mem::take(&mut self.ahead));
            self.taken = 0;
        }
    }

    /// Read until the bytes held begin with a whole request head, or `max` bytes are held
    /// without one. Reads go through the head bound like any other; an end of stream before
    /// a whole head is `UnexpectedEof`.
    pub async fn read_head(&mut self, max: usize) -> io::Result<HeadRead> {
        loop {
            let held = self.held();
            if let Some(len) = head_len(held) {
                return Ok(HeadRead::Complete(len));
            }
            if held.len() >= max {
                return Ok(HeadRead::TooLong);
            }
            self.read_ahead().await?;
        }
    }

    /// Read more bytes into the read-ahead buffer (at least one, or an error).
    async fn read_ahead(&mut self) -> io::Result<()> {
        if self.taken > 0 {
            self.ahead.drain(..self.taken);
            self.taken = 0;
        }
        let mut ahead = std::mem::take(&mut self.ahead);
        if ahead.capacity() == 0 {
            ahead = super::spare_buffers::take(AHEAD_CAPACITY);
        }
        let before = ahead.len();
        // A few KiB at a time: a peek of a few bytes takes in the whole head with them (one
        // read, one copy out of the stream's own buffer). Read into the spare capacity as it
        // is: zeroing a reused buffer first would cost more than the rest of the read.
        ahead.reserve(AHEAD_CAPACITY);
        let spare = ahead.spare_capacity_mut();
        let room = spare.len().min(AHEAD_CAPACITY);
        let mut buf = ReadBuf::uninit(spare.get_mut(..room).unwrap_or_default());
        let read = std::future::poll_fn(|cx| self.poll_read_fresh(cx, &mut buf)).await;
        let n = buf.filled().len();
        // SAFETY: `ReadBuf` counts as filled only bytes that were written (initialised), and
        // they are the first `n` of the spare capacity, right after the `before` held bytes.
        unsafe { ahead.set_len(before + n) };
        self.ahead = ahead;
        read?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    /// Hand out the bytes read ahead, then whatever more the connection has ready, in one
    /// read: the whole head reaches the parser at once.
    fn poll_read_after_ahead(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let pending = self.held();
        let n = pending.len().min(buf.remaining());
        buf.put_slice(pending.get(..n).unwrap_or_default());
        self.consume(n);
        // These bytes were seen when they were read ahead; only fresh ones are new. What was
        // read ahead is data in hand: a fresh read that failed or must wait shows itself on
        // the next call.
        if self.ahead.is_empty() && buf.remaining() > 0 {
            let _ = self.poll_read_fresh(cx, buf);
        }
        Poll::Ready(Ok(()))
    }

    /// A read from the connection itself, followed by the head bound.
    fn poll_read_fresh(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        match read {
            Poll::Ready(Ok(())) => {
                let filled = buf.filled();
                self.saw(filled.get(before..).unwrap_or_default());
            }
            // Only a read that waits in the middle of a head needs the timer: a slow client
            // waits here between its bytes, and the deadline wakes this task when it passes.
            Poll::Pending
                if matches!(self.phase, Phase::Head { .. })
                    && self.deadline.as_mut().poll(cx).is_ready() =>
            {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "request head not complete in time",
                )));
            }
            _ => {}
        }
        read
    }

    /// Follow the head's progress over newly read bytes.
    ///
    /// The common request arrives whole in one read: its head is found complete here and the
    /// timer is not touched at all. Only a head still incomplete after the read that began it
    /// re-arms the deadline (from that read on).
    fn saw(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let fresh = self.phase == Phase::Responded;
        if fresh {
            self.phase = Phase::Head {
                after_newline: false,
            };
        }
        let Phase::Head { after_newline } = self.phase else {
            return;
        };
        match head_end(after_newline, bytes) {
            HeadScan::Complete => self.phase = Phase::Body,
            HeadScan::Open { after_newline } => {
                self.phase = Phase::Head { after_newline };
                if fresh {
                    self.deadline.as_mut().reset(Instant::now() + self.limit);
                }
            }
        }
    }

    /// A response head going out ends the request (an interim `1xx` other than `101` does not).
    fn wrote(&mut self, bytes: &[u8]) {
        if matches!(self.phase, Phase::Tunnel | Phase::Responded) {
            return;
        }
        let Some(status) = bytes
            .strip_prefix(b"HTTP/1.")
            .and_then(|rest| rest.get(2..5))
        else {
            return;
        };
        self.phase = match status {
            b"101" => Phase::Tunnel,
            [b'1', _, _] => self.phase,
            _ => Phase::Responded,
        };
    }
}

impl AsyncRead for BoundedHead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.ahead.is_empty() {
            return this.poll_read_after_ahead(cx, buf);
        }
        this.poll_read_fresh(cx, buf)
    }
}

impl AsyncWrite for BoundedHead {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written {
            this.wrote(buf.get(..n).unwrap_or_default());
        }
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let (Poll::Ready(Ok(n)), Some(first)) = (&written, bufs.iter().find(|b| !b.is_empty())) {
            this.wrote(first.get(..(*n).min(first.len())).unwrap_or_default());
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[async_trait]
impl Shutdown for BoundedHead {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await
    }
}

impl UniqueID for BoundedHead {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for BoundedHead {
    fn get_ssl_digest(&self) -> Option<Arc<pingora::protocols::tls::SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for BoundedHead {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for BoundedHead {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest)
    }
}

impl GetSocketDigest for BoundedHead {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest)
    }
}

#[async_trait]
impl Peek for BoundedHead {
    /// Fill `buf` with the next bytes without consuming them: they are read here (through the
    /// head bound, so a client that sends a few bytes and stops is cut off in time) and handed
    /// out again by the next reads.
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        if buf.len() > PEEK_MAX {
            return Ok(false);
        }
        while self.held().len() < buf.len() {
            self.read_ahead().await?;
        }
        buf.copy_from_slice(self.held().get(..buf.len()).unwrap_or_default());
        Ok(true)
    }
}

impl fmt::Debug for BoundedHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedHead")
            .field("inner", &self.inner)
            .field("phase", &self.phase)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> BoundedHead {
        BoundedHead::new(Box::new(tokio_test_io()), Duration::from_secs(1))
    }

    /// A stream that is never read here: only the phase bookkeeping is under test.
    fn tokio_test_io() -> pingora::protocols::l4::stream::Stream {
        let (client, _server) = std::os::unix::net::UnixStream::pair().unwrap();
        client.set_nonblocking(true).unwrap();
        let client = tokio::net::UnixStream::from_std(client).unwrap();
        client.into()
    }

    /// The byte-at-a-time definition `head_end` must agree with.
    fn head_end_bytewise(mut after_newline: bool, bytes: &[u8]) -> HeadScan {
        for &byte in bytes {
            match byte {
                b'\n' if after_newline => return HeadScan::Complete,
                b'\n' => after_newline = true,
                b'\r' => {}
                _ => after_newline = false,
            }
        }
        HeadScan::Open { after_newline }
    }

    proptest::proptest! {
        #[test]
        fn head_end_agrees_with_the_bytewise_definition(
            after_newline: bool,
            bytes in proptest::collection::vec(
                proptest::sample::select(vec![b'\r', b'\n', b'a', b':', b' ']), 0..40),
        ) {
            proptest::prop_assert_eq!(
                head_end(after_newline, &bytes),
                head_end_bytewise(after_newline, &bytes)
            );
        }
    }

    #[tokio::test]
    async fn a_head_ends_at_its_blank_line_and_a_response_starts_the_next() {
        let mut bounded = stream();
        bounded.saw(b"GET / HTTP/1.1\r\nHost: a\r");
        assert!(matches!(bounded.phase, Phase::Head { .. }));
        bounded.saw(b"\n\r\nbody");
        assert_eq!(bounded.phase, Phase::Body);
        bounded.wrote(b"HTTP/1.1 100 Continue\r\n\r\n");
        assert_eq!(bounded.phase, Phase::Body);
        bounded.wrote(b"HTTP/1.1 200 OK\r\n");
        assert_eq!(bounded.phase, Phase::Responded);
        bounded.saw(b"G");
        assert!(matches!(bounded.phase, Phase::Head { .. }));
        bounded.saw(b"ET / HTTP/1.0\n\n");
        assert_eq!(bounded.phase, Phase::Body);
        bounded.wrote(b"HTTP/1.1 101 Switching Protocols\r\n");
        assert_eq!(bounded.phase, Phase::Tunnel);
        bounded.saw(b"\x81\x05hello");
        assert_eq!(bounded.phase, Phase::Tunnel);
    }

    /// A peek reads ahead (as a TLS stream must): the bytes peeked are read again, followed by
    /// what else arrived, and a head sent too slowly still fails in time.
    #[tokio::test(start_paused = true)]
    async fn bytes_read_ahead_are_peeked_read_again_and_still_bounded() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (ours, mut client) = tokio::net::UnixStream::pair().unwrap();
        let l4: pingora::protocols::l4::stream::Stream = ours.into();
        let mut bounded = BoundedHead::new(Box::new(l4), Duration::from_secs(10));
        client
            .write_all(b"GET /_anteroom/events HTTP/1.1\r\n")
            .await
            .unwrap();
        let mut start = [0u8; 16];
        assert!(bounded.try_peek(&mut start).await.unwrap());
        assert_eq!(&start, b"GET /_anteroom/e");
        let mut read = [0u8; 64];
        let n = bounded.read(&mut read).await.unwrap();
        assert_eq!(&read[..n], b"GET /_anteroom/events HTTP/1.1\r\n");

        let started = Instant::now();
        let error = bounded.read(&mut read).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() <= Duration::from_secs(10));
    }
}
