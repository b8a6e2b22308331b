//! The PROXY protocol header (v1 text, v2 binary) a trusted load balancer puts in front of a
//! connection to say whose it is. Read only on connections from `[listen] trusted_proxies`;
//! from anyone else those bytes are not a valid request and are refused as such.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use pingora::protocols::Stream;
use tokio::io::AsyncReadExt;

const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 line, CRLF included (the spec's bound).
const V1_MAX: usize = 107;

/// What a PROXY header said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proxied {
    /// The connection's client.
    Client(SocketAddr),
    /// A health check or an unknown family: use the connection's own peer.
    Local,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyHeaderError {
    #[error("malformed PROXY header: {0}")]
    Malformed(&'static str),
    #[error("the connection closed inside the PROXY header")]
    Closed,
}

/// Parse a v1 line (without reading past it).
pub fn parse_v1(line: &[u8]) -> Result<Proxied, ProxyHeaderError> {
    let malformed = ProxyHeaderError::Malformed;
    let text = std::str::from_utf8(line).map_err(|_| malformed("not text"))?;
    let text = text.strip_suffix("\r\n").ok_or(malformed("no CRLF"))?;
    let mut fields = text.split(' ');
    if fields.next() != Some("PROXY") {
        return Err(malformed("no PROXY"));
    }
    match fields.next() {
        Some("UNKNOWN") => Ok(Proxied::Local),
        Some(family @ ("TCP4" | "TCP6")) => {
            let source: IpAddr = fields
                .next()
                .and_then(|field| field.parse().ok())
                .ok_or(malformed("source address"))?;
            let _destination: IpAddr = fields
                .next()
                .and_then(|field| field.parse().ok())
                .ok_or(malformed("destination address"))?;
            let port: u16 = fields
                .next()
                .and_then(|field| field.parse().ok())
                .ok_or(malformed("source port"))?;
            let _: u16 = fields
                .next()
                .and_then(|field| field.parse().ok())
                .ok_or(malformed("destination port"))?;
            if fields.next().is_some() || (family == "TCP4") != source.is_ipv4() {
                return Err(malformed("fields"));
            }
            Ok(Proxied::Client(SocketAddr::new(source, port)))
        }
        _ => Err(malformed("family")),
    }
}

/// Parse a v2 header: the 16 fixed bytes and the `len` address bytes after them.
pub fn parse_v2(fixed: &[u8; 16], addresses: &[u8]) -> Result<Proxied, ProxyHeaderError> {
    let malformed = ProxyHeaderError::Malformed;
    if fixed.get(..12) != Some(&V2_SIGNATURE[..]) {
        return Err(malformed("signature"));
    }
    let version_command = fixed.get(12).copied().unwrap_or(0);
    if version_command >> 4 != 2 {
        return Err(malformed("version"));
    }
    match version_command & 0x0f {
        0 => return Ok(Proxied::Local),
        1 => {}
        _ => return Err(malformed("command")),
    }
    let family = fixed.get(13).copied().unwrap_or(0);
    let octets = |range: std::ops::Range<usize>| addresses.get(range).ok_or(malformed("short"));
    match family >> 4 {
        1 => {
            let source: [u8; 4] = octets(0..4)?.try_into().map_err(|_| malformed("short"))?;
            let port = octets(8..10)?;
            let port = u16::from_be_bytes([
                port.first().copied().unwrap_or(0),
                port.get(1).copied().unwrap_or(0),
            ]);
            Ok(Proxied::Client(SocketAddr::new(
                Ipv4Addr::from(source).into(),
                port,
            )))
        }
        2 => {
            let source: [u8; 16] = octets(0..16)?.try_into().map_err(|_| malformed("short"))?;
            let port = octets(32..34)?;
            let port = u16::from_be_bytes([
                port.first().copied().unwrap_or(0),
                port.get(1).copied().unwrap_or(0),
            ]);
            Ok(Proxied::Client(SocketAddr::new(
                Ipv6Addr::from(source).into(),
                port,
            )))
        }
        _ => Ok(Proxied::Local),
    }
}

/// Read a PROXY header off the connection if it starts with one, consuming exactly its bytes.
/// `None`: the connection starts with something else (left unread).
pub async fn read(stream: &mut Stream) -> Result<Option<Proxied>, ProxyHeaderError> {
    let mut start = [0u8; 16];
    match stream.try_peek(&mut start).await {
        Ok(true) => {}
        Ok(false) => return Ok(None),
        Err(_) => return Err(ProxyHeaderError::Closed),
    }
    if start.starts_with(b"PROXY ") {
        let mut line = Vec::with_capacity(V1_MAX);
        while !line.ends_with(b"\r\n") {
            if line.len() >= V1_MAX {
                return Err(ProxyHeaderError::Malformed("v1 line too long"));
            }
            let byte = stream
                .read_u8()
                .await
                .map_err(|_| ProxyHeaderError::Closed)?;
            line.push(byte);
        }
        return parse_v1(&line).map(Some);
    }
    if start.starts_with(V2_SIGNATURE) {
        stream
            .read_exact(&mut start)
            .await
            .map_err(|_| ProxyHeaderError::Closed)?;
        let length = usize::from(u16::from_be_bytes([start[14], start[15]]));
        let mut addresses = vec![0u8; length];
        stream
            .read_exact(&mut addresses)
            .await
            .map_err(|_| ProxyHeaderError::Closed)?;
        return parse_v2(&start, &addresses).map(Some);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_lines_name_the_client() {
        assert_eq!(
            parse_v1(b"PROXY TCP4 203.0.113.9 198.51.100.1 56324 443\r\n"),
            Ok(Proxied::Client("203.0.113.9:56324".parse().unwrap()))
        );
        assert_eq!(
            parse_v1(b"PROXY TCP6 2001:db8::9 2001:db8::1 4000 443\r\n"),
            Ok(Proxied::Client("[2001:db8::9]:4000".parse().unwrap()))
        );
        assert_eq!(parse_v1(b"PROXY UNKNOWN\r\n"), Ok(Proxied::Local));
        for bad in [
            &b"PROXY TCP4 203.0.113.9 198.51.100.1 56324\r\n"[..],
            b"PROXY TCP4 2001:db8::9 198.51.100.1 1 2\r\n",
            b"PROXY TCP4 203.0.113.9 198.51.100.1 56324 443",
            b"PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n",
        ] {
            assert!(parse_v1(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn v2_headers_name_the_client() {
        let mut fixed = [0u8; 16];
        fixed[..12].copy_from_slice(V2_SIGNATURE);
        fixed[12] = 0x21;
        fixed[13] = 0x11;
        fixed[15] = 12;
        let addresses = [203, 0, 113, 9, 198, 51, 100, 1, 0x1f, 0x90, 1, 187];
        assert_eq!(
            parse_v2(&fixed, &addresses),
            Ok(Proxied::Client("203.0.113.9:8080".parse().unwrap()))
        );
        fixed[12] = 0x20;
        assert_eq!(parse_v2(&fixed, &[]), Ok(Proxied::Local));
        fixed[12] = 0x11;
        assert!(parse_v2(&fixed, &addresses).is_err());
        fixed[12] = 0x21;
        assert!(parse_v2(&fixed, &addresses[..6]).is_err());
    }

    #[tokio::test]
    async fn a_header_is_consumed_exactly_and_a_request_is_left_alone() {
        use tokio::io::AsyncWriteExt;
        let (ours, mut peer) = tokio::net::UnixStream::pair().unwrap();
        peer.write_all(b"PROXY TCP4 203.0.113.9 198.51.100.1 5 443\r\nGET / HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        let l4: pingora::protocols::l4::stream::Stream = ours.into();
        let mut stream: Stream = Box::new(l4);
        assert_eq!(
            read(&mut stream).await,
            Ok(Some(Proxied::Client("203.0.113.9:5".parse().unwrap())))
        );
        assert_eq!(read(&mut stream).await, Ok(None));
        let mut rest = [0u8; 18];
        stream.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"GET / HTTP/1.1\r\n\r\n");
    }
}
