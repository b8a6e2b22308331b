//! The client address the guard may trust: the socket peer, unless the peer is one of
//! `[listen] trusted_proxies`; then `X-Forwarded-For` is walked from the right (the entry
//! the nearest proxy appended) past every trusted hop, and the first untrusted address is
//! the client. Entries left of it were written by the client itself and are never believed.

use std::net::{IpAddr, SocketAddr};

use anteroom_config::Cidr;

/// `X-Forwarded-For` entries read per request, from the right; a longer chain is cut.
pub const MAX_FORWARDED_HOPS: usize = 32;

/// The client of a request from `peer`, given its `X-Forwarded-For` header values in
/// arrival order (a proxy may send several).
pub fn client_ip(peer: IpAddr, forwarded_for: &[&[u8]], trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| is_trusted(ip, trusted);
    let mut client = peer.to_canonical();
    if !is_trusted(client) {
        return client;
    }
    let entries = forwarded_for
        .iter()
        .rev()
        .flat_map(|value| value.rsplit(|b| *b == b','))
        .take(MAX_FORWARDED_HOPS);
    for entry in entries {
        // A garbled hop ends the walk: the last trusted proxy is all that is known.
        let Some(ip) = parse_entry(entry) else {
            return client;
        };
        client = ip;
        if !is_trusted(ip) {
            return ip;
        }
    }
    client
}

/// Whether `ip` (an IPv4-mapped IPv6 address as its IPv4 one) is one of the `trusted`
/// proxies, whose word on the client (`X-Forwarded-*`, a PROXY header) is believed.
pub fn is_trusted(ip: IpAddr, trusted: &[Cidr]) -> bool {
    let ip = ip.to_canonical();
    trusted.iter().any(|cidr| cidr.contains(ip))
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:5`,
/// `[2001:db8::1]:5`).
fn parse_entry(entry: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(entry).ok()?.trim();
    text.parse::<IpAddr>()
        .or_else(|_| text.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted() -> Vec<Cidr> {
        vec![
            Cidr::parse("10.0.0.0/8").unwrap(),
            Cidr::parse("2001:db8:ffff::/48").unwrap(),
        ]
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let xff: &[&[u8]] = &[b"198.51.100.1"];
        assert_eq!(
            client_ip(ip("203.0.113.9"), xff, &trusted()),
            ip("203.0.113.9")
        );
        assert_eq!(client_ip(ip("203.0.113.9"), xff, &[]), ip("203.0.113.9"));
    }

    #[test]
    fn a_trusted_peer_forwards_the_first_untrusted_hop_from_the_right() {
        let t = trusted();
        let xff: &[&[u8]] = &[b"6.6.6.6, 198.51.100.1, 10.1.1.1"];
        assert_eq!(
            client_ip(ip("10.0.0.2"), xff, &t),
            ip("198.51.100.1"),
            "6.6.6.6 was written by the client"
        );
        let split: &[&[u8]] = &[b"6.6.6.6", b"198.51.100.1,10.1.1.1"];
        assert_eq!(
            client_ip(ip("10.0.0.2"), split, &t),
            ip("198.51.100.1"),
            "several header lines"
        );
        let ported: &[&[u8]] = &[b"[2001:db8::7]:4711"];
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.2"), ported, &t),
            ip("2001:db8::7")
        );
        let v4_port: &[&[u8]] = &[b"198.51.100.1:80"];
        assert_eq!(client_ip(ip("10.0.0.2"), v4_port, &t), ip("198.51.100.1"));
    }

    #[test]
    fn no_header_garbage_or_only_proxies() {
        let t = trusted();
        assert_eq!(client_ip(ip("10.0.0.2"), &[], &t), ip("10.0.0.2"));
        let garbage: &[&[u8]] = &[b"198.51.100.1, unknown"];
        assert_eq!(client_ip(ip("10.0.0.2"), garbage, &t), ip("10.0.0.2"));
        let inner_garbage: &[&[u8]] = &[b"nonsense, 10.1.1.1"];
        assert_eq!(client_ip(ip("10.0.0.2"), inner_garbage, &t), ip("10.1.1.1"));
        let all_trusted: &[&[u8]] = &[b"10.3.3.3, 10.1.1.1"];
        assert_eq!(client_ip(ip("10.0.0.2"), all_trusted, &t), ip("10.3.3.3"));
        let long = [b"10.9.9.9,".repeat(100), b"10.1.1.1".to_vec()].concat();
        let hops: &[&[u8]] = &[&long];
        assert_eq!(
            client_ip(ip("10.0.0.2"), hops, &t),
            ip("10.9.9.9"),
            "bounded walk"
        );
        let mapped: &[&[u8]] = &[b"::ffff:198.51.100.1"];
        assert_eq!(client_ip(ip("10.0.0.2"), mapped, &t), ip("198.51.100.1"));
    }
}
