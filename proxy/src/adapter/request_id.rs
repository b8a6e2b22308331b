//! The request id: taken from a trusted proxy's `X-Request-Id`, or made here; forwarded to
//! the origin, returned to the client and written in the access log. Kept inline (no heap):
//! the admitted path makes one per request.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use anteroom_config::Cidr;
use http::HeaderName;

use super::facts::HeadSource;

pub static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static(REQUEST_ID);
/// The name as Pingora inserts it cheapest: a `&'static str` becomes its case-preserved name
/// without a copy (a `HeaderName` of a non-standard header is copied on every insert).
pub const REQUEST_ID: &str = "x-request-id";

/// Longest id honoured from a proxy; a longer one is replaced by ours.
const MAX_LEN: usize = 64;

#[derive(Clone, Copy)]
pub struct RequestId {
    bytes: [u8; MAX_LEN],
    len: u8,
}

impl Default for RequestId {
    fn default() -> Self {
        RequestId {
            bytes: [0; MAX_LEN],
            len: 0,
        }
    }
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RequestId {
    /// The proxy's id when the peer is a trusted proxy and the id is short printable text,
    /// else a new one.
    pub fn for_request(header: &impl HeadSource, peer: Option<IpAddr>, trusted: &[Cidr]) -> Self {
        let from_trusted = peer.is_some_and(|ip| anteroom_bot_guard::is_trusted(ip, trusted));
        if from_trusted {
            if let Some(id) = header.first(&REQUEST_ID_HEADER).and_then(RequestId::parse) {
                return id;
            }
        }
        RequestId::generate()
    }

    /// 1 to 64 bytes of `[A-Za-z0-9._:-]`: nothing that could forge a log line or a header.
    pub fn parse(text: &[u8]) -> Option<RequestId> {
        let allowed = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-');
        if text.is_empty() || text.len() > MAX_LEN || !text.iter().all(allowed) {
            return None;
        }
        let mut id = RequestId::default();
        id.bytes.get_mut(..text.len())?.copy_from_slice(text);
        id.len = u8::try_from(text.len()).ok()?;
        Some(id)
    }

    /// 24 hex digits: a random per-process prefix (instances differ) and a counter (requests
    /// differ). Unique, not secret: it names a request, it does not protect one.
    pub fn generate() -> RequestId {
        // std's per-process random hash keys: randomness without a dependency. The counter
        // starts at a random point too, so ids of restarted processes do not repeat early.
        static START: OnceLock<u128> = OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let start = *START.get_or_init(|| {
            use std::hash::{BuildHasher, Hasher};
            let random = std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish();
            (u128::from(random as u32) << 64) | u128::from(random >> 32)
        });
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let digits =
            (start & !u128::from(u64::MAX)) | u128::from((start as u64).wrapping_add(count));
        let mut id = RequestId {
            len: 24,
            ..RequestId::default()
        };
        for (slot, shift) in id.bytes.iter_mut().take(24).zip((0..24).rev()) {
            let nibble = ((digits >> (shift * 4)) & 0xf) as usize;
            *slot = b"0123456789abcdef".get(nibble).copied().unwrap_or(b'0');
        }
        id
    }

    pub fn as_str(&self) -> &str {
        let bytes = self.bytes.get(..usize::from(self.len)).unwrap_or_default();
        // Only ASCII is ever stored.
        std::str::from_utf8(bytes).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::http::RequestHeader;

    fn header(id: Option<&str>) -> RequestHeader {
        let mut header = RequestHeader::build("GET", b"/", None).unwrap();
        if let Some(id) = id {
            header.insert_header("x-request-id", id).unwrap();
        }
        header
    }

    #[test]
    fn generated_ids_differ_and_are_hex() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_ne!(a.as_str(), b.as_str());
        assert_eq!(a.as_str().len(), 24);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn an_incoming_id_is_honoured_only_from_a_trusted_proxy() {
        let trusted = [Cidr::parse("10.0.0.0/8").unwrap()];
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        let sent = header(Some("lb-abc.123"));
        assert_eq!(
            RequestId::for_request(&sent, Some(proxy), &trusted).as_str(),
            "lb-abc.123"
        );
        assert_ne!(
            RequestId::for_request(&sent, Some(stranger), &trusted).as_str(),
            "lb-abc.123"
        );
        assert_ne!(
            RequestId::for_request(&sent, None, &trusted).as_str(),
            "lb-abc.123"
        );
        // A trusted proxy still cannot inject text into a log line or a header.
        for bad in ["a b", "x\"}", &"a".repeat(65)] {
            let id = RequestId::for_request(&header(Some(bad)), Some(proxy), &trusted);
            assert_eq!(id.as_str().len(), 24, "{bad:?} kept");
        }
        let id = RequestId::for_request(&header(None), Some(proxy), &trusted);
        assert_eq!(id.as_str().len(), 24);
    }
}
