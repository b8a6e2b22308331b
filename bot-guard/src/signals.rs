//! What the gateway knows of one request, as the verdict engine reads it: the client IP and
//! its subnet, the header fingerprint and what the headers hint at, the client fingerprint
//! the waiting page posted (if any), the visitor, and a proof of work it solved.

use std::fmt;
use std::net::IpAddr;

use anteroom_admission::VisitorId;
use anteroom_config::cidr_mask;

use crate::client_fp::ClientFingerprint;
use crate::fingerprint::{header_fingerprint, header_hints, ua_family, HeaderHints, UaFamily};

/// IPv4 clients are grouped by /24: one home, office or small provider block.
pub const SUBNET_PREFIX_V4: u8 = 24;
/// IPv6 clients by /56: what a provider typically delegates to one customer, who may rotate
/// through 2^72 addresses inside it.
pub const SUBNET_PREFIX_V6: u8 = 56;
/// One IPv6 "address", as the per-IP limits count it, is a /64: every host on a network picks
/// its own addresses in its /64 (SLAAC, privacy addresses), and any host can bind as many of
/// them as it likes, so a bot counted per /128 would meet no per-IP limit at all.
pub const IP_PREFIX_V6: u8 = 64;
/// The longest User-Agent kept for pattern matching; a longer one is cut (and is odd).
pub const MAX_USER_AGENT_LEN: usize = 512;

/// The network a client IP belongs to, for counting many addresses of one owner as one.
/// Text form: `203.0.113.0/24`, `2001:db8:0:100::/56` (stable: used in store keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subnet {
    network: IpAddr,
    prefix: u8,
}

impl Subnet {
    /// The /24 (IPv4) or /56 (IPv6) of `ip`; an IPv4-mapped IPv6 address is read as IPv4.
    pub fn of(ip: IpAddr) -> Subnet {
        let ip = ip.to_canonical();
        let prefix = if ip.is_ipv4() {
            SUBNET_PREFIX_V4
        } else {
            SUBNET_PREFIX_V6
        };
        Subnet {
            network: cidr_mask(ip, prefix),
            prefix,
        }
    }

    pub fn network(&self) -> IpAddr {
        self.network
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Subnet {
    /// Append the text form (as `Display`) without the formatting machinery: subjects are
    /// made for every new visitor.
    fn push_text(&self, out: &mut String) {
        push_ip(out, self.network);
        out.push('/');
        push_decimal(out, self.prefix);
    }
}

/// Our header fingerprint: 8 bytes of a SipHash-1-3 (see `fingerprint`), 16 hex digits as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HeaderFingerprint(pub [u8; 8]);

impl fmt::Display for HeaderFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&anteroom_admission::hex_lower(&self.0))
    }
}

/// Everything the verdict engine is told about one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Signals {
    /// The client as the gateway resolved it (trusted proxies applied), canonical form.
    pub ip: IpAddr,
    pub subnet: Subnet,
    pub header_fingerprint: HeaderFingerprint,
    pub ua_family: UaFamily,
    /// The User-Agent, lowercased and cut to `MAX_USER_AGENT_LEN`, for `block_user_agents`.
    pub user_agent: String,
    pub hints: HeaderHints,
    /// What the waiting page's script reported, when this request carries it.
    pub client: Option<ClientFingerprint>,
    pub visitor: VisitorId,
    /// The difficulty of a proof of work this request carries, verified and redeemed by the
    /// gateway (`challenge::verify` then `GuardStore::redeem`); None without one.
    pub proof: Option<u8>,
}

/// `bytes` as text, lowercased. Nearly every User-Agent is ASCII: that one copy, lowercased
/// in place, instead of a lossy decode and a character-by-character lowercasing (the same
/// text either way).
fn lowercase(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if text.is_ascii() => text.to_ascii_lowercase(),
        _ => String::from_utf8_lossy(bytes).to_lowercase(),
    }
}

impl Signals {
    /// The signals of a request from its client IP and headers (name, value) in arrival
    /// order; `client` and `proof` start empty.
    pub fn from_request(ip: IpAddr, headers: &[(&str, &[u8])], visitor: VisitorId) -> Signals {
        let ip = ip.to_canonical();
        let raw_ua = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("user-agent"))
            .map_or(&b""[..], |(_, value)| *value);
        let cut = raw_ua.get(..MAX_USER_AGENT_LEN).unwrap_or(raw_ua);
        let user_agent = lowercase(cut);
        let family = ua_family(&user_agent);
        Signals {
            ip,
            subnet: Subnet::of(ip),
            header_fingerprint: header_fingerprint(headers, family),
            ua_family: family,
            hints: header_hints(headers, family),
            user_agent,
            client: None,
            visitor,
            proof: None,
        }
    }

    /// Velocity subjects and place subjects in their stable text forms (store keys).
    pub fn ip_subject(&self) -> String {
        ip_subject(self.ip)
    }

    pub fn subnet_subject(&self) -> String {
        let mut subject = String::with_capacity(48);
        subject.push_str("net:");
        self.subnet.push_text(&mut subject);
        subject
    }

    pub fn fingerprint_subject(&self) -> String {
        let mut subject = String::with_capacity(19);
        subject.push_str("fp:");
        anteroom_admission::push_hex(&mut subject, &self.header_fingerprint.0);
        subject
    }

    /// One fingerprint within one subnet: what `max_places_per_fingerprint` counts, so
    /// thousands of fans on the same popular browser build, spread over the internet, do not
    /// share one budget of places, while one farm behind one network does.
    pub fn fingerprint_in_subnet_subject(&self) -> String {
        let mut subject = String::with_capacity(70);
        subject.push_str("fpnet:");
        anteroom_admission::push_hex(&mut subject, &self.header_fingerprint.0);
        subject.push('@');
        self.subnet.push_text(&mut subject);
        subject
    }

    pub fn visitor_subject(&self) -> String {
        let mut subject = String::with_capacity(36);
        subject.push_str("vid:");
        anteroom_admission::push_hex(&mut subject, &self.visitor.0);
        subject
    }
}

/// What the per-IP limits count a client address as, in its stable text form (a store key):
/// `ip:203.0.113.9` for IPv4 (an IPv4-mapped IPv6 address read as IPv4), `ip:2001:db8::/64`
/// for IPv6 — the /64 the address is in ([`IP_PREFIX_V6`]). The gateway and the booking
/// service both count by it.
pub fn ip_subject(ip: IpAddr) -> String {
    let ip = ip.to_canonical();
    let mut subject = String::with_capacity(44);
    subject.push_str("ip:");
    match ip {
        IpAddr::V4(_) => push_ip(&mut subject, ip),
        IpAddr::V6(_) => {
            push_ip(&mut subject, cidr_mask(ip, IP_PREFIX_V6));
            subject.push('/');
            push_decimal(&mut subject, IP_PREFIX_V6);
        }
    }
    subject
}

/// Append an address's text (as `Display`): IPv4 by hand (the common case, made for every new
/// visitor), IPv6 through `Display`.
fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_decimal(out, octet);
            }
        }
        IpAddr::V6(v6) => {
            use fmt::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

/// Append a byte's decimal digits.
fn push_decimal(out: &mut String, n: u8) {
    if n >= 100 {
        out.push(char::from(b'0' + n / 100));
    }
    if n >= 10 {
        out.push(char::from(b'0' + n / 10 % 10));
    }
    out.push(char::from(b'0' + n % 10));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_write_addresses_as_display_does() {
        for text in [
            "0.0.0.0",
            "9.8.7.6",
            "10.0.100.255",
            "203.0.113.9",
            "255.255.255.255",
            "2001:db8::1",
            "::ffff:1.2.3.4",
        ] {
            let ip: IpAddr = text.parse().unwrap();
            let mut out = String::new();
            push_ip(&mut out, ip);
            assert_eq!(out, ip.to_string());
            let subnet = Subnet::of(ip);
            let mut out = String::new();
            subnet.push_text(&mut out);
            assert_eq!(out, subnet.to_string());
        }
        for n in 0..=255u8 {
            let mut out = String::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn subnets_are_slash_24_and_slash_56_with_a_stable_text() {
        assert_eq!(Subnet::of(ip("203.0.113.77")).to_string(), "203.0.113.0/24");
        assert_eq!(
            Subnet::of(ip("203.0.113.77")),
            Subnet::of(ip("203.0.113.1"))
        );
        assert_ne!(
            Subnet::of(ip("203.0.113.77")),
            Subnet::of(ip("203.0.114.77"))
        );
        assert_eq!(
            Subnet::of(ip("2001:db8:0:1ab:1:2:3:4")).to_string(),
            "2001:db8:0:100::/56"
        );
        assert_eq!(
            Subnet::of(ip("2001:db8:0:1ff::9")),
            Subnet::of(ip("2001:db8:0:100::1"))
        );
        assert_ne!(
            Subnet::of(ip("2001:db8:0:200::1")),
            Subnet::of(ip("2001:db8:0:100::1"))
        );
        assert_eq!(Subnet::of(ip("::ffff:10.1.2.3")).to_string(), "10.1.2.0/24");
    }

    #[test]
    fn from_request_reads_the_user_agent_and_names_subjects() {
        let headers: &[(&str, &[u8])] = &[
            ("Host", b"x"),
            (
                "User-Agent",
                b"Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0 Safari/537.36",
            ),
        ];
        let v = VisitorId([7; 16]);
        let s = Signals::from_request(ip("::ffff:198.51.100.4"), headers, v);
        assert_eq!(s.ip, ip("198.51.100.4"));
        assert_eq!(s.ua_family, UaFamily::Headless);
        assert!(s.user_agent.contains("headlesschrome/120"));
        assert!(s.hints.headless);
        assert_eq!(s.ip_subject(), "ip:198.51.100.4");
        assert_eq!(s.subnet_subject(), "net:198.51.100.0/24");
        assert_eq!(s.fingerprint_subject().len(), 3 + 16);
        assert!(s
            .fingerprint_in_subnet_subject()
            .ends_with("@198.51.100.0/24"));
        assert_eq!(s.visitor_subject(), format!("vid:{}", "07".repeat(16)));
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_slash_64() {
        // Every address a host can pick in its /64 is one subject: rotating them buys nothing.
        assert_eq!(
            ip_subject(ip("2001:db8:0:1ab:1:2:3:4")),
            "ip:2001:db8:0:1ab::/64"
        );
        assert_eq!(
            ip_subject(ip("2001:db8:0:1ab:ffff:ffff:ffff:ffff")),
            ip_subject(ip("2001:db8:0:1ab::1"))
        );
        // The next /64 of the same /56 is someone else (and shares only the subnet).
        assert_ne!(
            ip_subject(ip("2001:db8:0:1ac::1")),
            ip_subject(ip("2001:db8:0:1ab::1"))
        );
        assert_eq!(
            Subnet::of(ip("2001:db8:0:1ac::1")),
            Subnet::of(ip("2001:db8:0:1ab::1"))
        );
        // IPv4 stays one address; a mapped one reads as IPv4.
        assert_eq!(ip_subject(ip("203.0.113.9")), "ip:203.0.113.9");
        assert_eq!(ip_subject(ip("::ffff:203.0.113.9")), "ip:203.0.113.9");
        assert_ne!(
            ip_subject(ip("203.0.113.9")),
            ip_subject(ip("203.0.113.10"))
        );
        let headers: &[(&str, &[u8])] = &[("user-agent", b"x")];
        let s = Signals::from_request(ip("2001:db8::7"), headers, VisitorId([0; 16]));
        assert_eq!(s.ip_subject(), "ip:2001:db8::/64");
    }

    #[test]
    fn a_huge_user_agent_is_cut() {
        let long = vec![b'a'; 10_000];
        let headers: &[(&str, &[u8])] = &[("user-agent", &long)];
        let s = Signals::from_request(ip("10.0.0.1"), headers, VisitorId([0; 16]));
        assert_eq!(s.user_agent.len(), MAX_USER_AGENT_LEN);
    }

    #[test]
    fn fingerprint_text_is_16_hex_digits() {
        assert_eq!(
            HeaderFingerprint([0, 1, 0xab, 0xff, 2, 3, 4, 5]).to_string(),
            "0001abff02030405"
        );
    }

    #[test]
    fn user_agents_are_lowercased_alike_ascii_or_not() {
        for ua in [
            &b"Mozilla/5.0 (X11) Chrome/131.0"[..],
            "Mozilla/5.0 ÄÖ Firefox/133".as_bytes(),
            b"bad \xff bytes CURL/8",
        ] {
            assert_eq!(lowercase(ua), String::from_utf8_lossy(ua).to_lowercase());
        }
    }
}
