//! Which address a request comes from, as far as it can be trusted: the connection's peer,
//! unless that peer is one of `[listen] trusted_proxies` — then the address that proxy saw
//! (PROXY protocol, or its `X-Forwarded-For`), walking back through trusted proxies only. A
//! client can write anything into `X-Forwarded-For`; only the hops our own proxies appended
//! are believed.

use std::net::IpAddr;

/// The client address of a request from `peer` carrying these `X-Forwarded-For` values (in
/// header order). Entries are read right to left: each trusted hop vouches for the one
/// before it; the first untrusted (or unparsable) entry is the client.
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    is_trusted: impl Fn(IpAddr) -> bool,
) -> IpAddr {
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for
        .into_iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|hop| !hop.is_empty())
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(address) = parse_hop(hop) else {
            // Garbage a client wrote: the last address a trusted hop vouched for stands.
            return client;
        };
        client = address;
        if !is_trusted(address) {
            return address;
        }
    }
    client
}

/// `203.0.113.9`, `203.0.113.9:5000`, `2001:db8::1`, `[2001:db8::1]:5000`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(address) = hop.parse::<IpAddr>() {
        return Some(address);
    }
    if let Ok(socket) = hop.parse::<std::net::SocketAddr>() {
        return Some(socket.ip());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn trusted(address: IpAddr) -> bool {
        match address {
            IpAddr::V4(v4) => v4.octets()[0] == 10,
            IpAddr::V6(_) => false,
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(
            client_ip(ip("198.51.100.7"), ["1.2.3.4"], trusted),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn trusted_hops_are_walked_back_to_the_first_untrusted_one() {
        // The client forged 1.1.1.1; our balancer (10.0.0.2) appended what it saw.
        let forwarded = ["1.1.1.1, 203.0.113.9", "10.0.0.2"];
        assert_eq!(
            client_ip(ip("10.0.0.1"), forwarded, trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), ["[2001:db8::5]:443"], trusted),
            ip("2001:db8::5")
        );
    }

    #[test]
    fn garbage_and_absent_headers_leave_the_last_vouched_address() {
        assert_eq!(client_ip(ip("10.0.0.1"), [], trusted), ip("10.0.0.1"));
        assert_eq!(
            client_ip(ip("10.0.0.1"), ["203.0.113.9, not-an-ip"], trusted),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), ["not-an-ip, 10.0.0.3"], trusted),
            ip("10.0.0.3")
        );
    }
}
