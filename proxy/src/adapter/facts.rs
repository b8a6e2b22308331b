//! Reading `RequestFacts` off a request head: a Pingora request header, or a head the direct
//! path parsed itself (`HeadSource` lets both be read by the same code, so the gateway decides
//! on the same facts whichever path a request takes).

use std::net::IpAddr;

use anteroom_config::Cidr;
use http::header::{HeaderName, ACCEPT, COOKIE, HOST};
use pingora::http::RequestHeader;

use crate::gateway::guard::{GuardFacts, CLEARANCE_COOKIE, CLEARANCE_HEADER};
use crate::gateway::request_form::{self, FormError, RawTarget};
use crate::gateway::{
    parse_cookies, RequestFacts, ENDPOINT_PREFIX, PASS_COOKIE, PASS_HEADER, VISITOR_COOKIE,
    VISITOR_HEADER,
};
use anteroom_admission::CookieJar;

/// At most this many pass candidates are verified per request (a header and a few
/// path-scoped cookies); more is not a legitimate client.
const MAX_PASS_CANDIDATES: usize = 4;

/// Header names parsed once: looking a header up by `&str` parses the name on every call.
pub(super) static PASS_HEADER_NAME: HeaderName = HeaderName::from_static(PASS_HEADER);
static VISITOR_HEADER_NAME: HeaderName = HeaderName::from_static(VISITOR_HEADER);
static CLEARANCE_HEADER_NAME: HeaderName = HeaderName::from_static(CLEARANCE_HEADER);
static FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// A request head as the facts are read from it. Header names are matched without regard to
/// case; values are text only when they are visible ASCII (as `http::HeaderValue::to_str`).
pub trait HeadSource {
    fn method(&self) -> &str;
    /// The request-target as received.
    fn raw_target(&self) -> &[u8];
    fn is_http_11(&self) -> bool;
    /// HTTP/2's `:authority` (HTTP/1 heads have none).
    fn authority(&self) -> Option<&[u8]>;
    /// Every value of one header, in arrival order.
    fn values<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a [u8]> + 'a;
    /// Every header as (lowercase name, value), names in the order they first arrived and
    /// the values of a repeated name together (the fingerprint's input).
    fn header_list(&self) -> Vec<(String, Vec<u8>)>;

    fn first<'a>(&'a self, name: &'a HeaderName) -> Option<&'a [u8]> {
        self.values(name).next()
    }
}

impl HeadSource for RequestHeader {
    fn method(&self) -> &str {
        self.method.as_str()
    }

    fn raw_target(&self) -> &[u8] {
        self.raw_path()
    }

    fn is_http_11(&self) -> bool {
        self.version == http::Version::HTTP_11
    }

    fn authority(&self) -> Option<&[u8]> {
        self.uri
            .authority()
            .map(|authority| authority.as_str().as_bytes())
    }

    fn values<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .get_all(name)
            .iter()
            .map(|value| value.as_bytes())
    }

    fn header_list(&self) -> Vec<(String, Vec<u8>)> {
        // The header map keeps the order names first arrived in (repeats grouped).
        self.headers
            .iter()
            .map(|(name, value)| (name.as_str().to_string(), value.as_bytes().to_vec()))
            .collect()
    }
}

/// A header value as text, when it is visible ASCII (tabs allowed), as `HeaderValue::to_str`.
pub fn visible_text(value: &[u8]) -> Option<&str> {
    let visible = value
        .iter()
        .all(|&byte| byte == b'\t' || (0x20..0x7f).contains(&byte));
    if visible {
        std::str::from_utf8(value).ok()
    } else {
        None
    }
}

/// Where a request came from: the connection's peer and the proxies trusted to say otherwise.
#[derive(Debug, Clone, Copy, Default)]
pub struct Peer<'a> {
    pub ip: Option<IpAddr>,
    pub trusted_proxies: &'a [Cidr],
}

/// Whether the client's connection is HTTPS: this one is TLS, or the trusted proxy it came
/// through says so. The last `X-Forwarded-Proto` value is the one that proxy set (one that
/// appends keeps whatever a client sent in front of it); from anyone else it is ignored.
fn client_tls(header: &impl HeadSource, tls: bool, peer: Peer) -> bool {
    let trusted = peer
        .ip
        .is_some_and(|ip| anteroom_bot_guard::is_trusted(ip, peer.trusted_proxies));
    tls || trusted
        && header
            .values(&FORWARDED_PROTO)
            .last()
            .and_then(visible_text)
            .and_then(|value| value.rsplit(',').next())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// Read a request, or refuse a target or Host whose meaning origins disagree on. `tls`: the
/// connection it came on is TLS.
pub fn read(header: &impl HeadSource, tls: bool, peer: Peer) -> Result<RequestFacts, FormError> {
    let mut hosts = header.values(&HOST);
    let (host_header, second_host) = (hosts.next(), hosts.next());
    // HTTP/2 carries the host as `:authority`, which Pingora keeps on the URI.
    let target = request_form::normalise(RawTarget {
        target: header.raw_target(),
        host_header: host_header.or_else(|| header.authority()),
        duplicate_host: second_host.is_some(),
        host_required: header.is_http_11(),
    })?;
    let text = |name: &'static HeaderName| header.first(name).and_then(visible_text);
    let jar = parse_cookies(header.values(&COOKIE).filter_map(visible_text));
    let mut pass_tokens: Vec<String> = Vec::new();
    if let Some(pass) = text(&PASS_HEADER_NAME) {
        pass_tokens.push(pass.trim().to_string());
    }
    pass_tokens.extend(jar.all(PASS_COOKIE).map(str::to_string));
    pass_tokens.truncate(MAX_PASS_CANDIDATES);

    let visitor_token = text(&VISITOR_HEADER_NAME)
        .map(|value| value.trim().to_string())
        .or_else(|| jar.first(VISITOR_COOKIE).map(str::to_string));

    let path = target.path.into_owned();
    let guard = guard_facts(
        header,
        peer,
        &jar,
        pass_tokens.is_empty() || path.starts_with(ENDPOINT_PREFIX),
    );
    Ok(RequestFacts {
        method: header.method().to_string(),
        host: target.host,
        host_is_ip: target.host_is_ip,
        path,
        query: target.query.map(str::to_string),
        pass_tokens,
        visitor_token,
        wants_json: text(&ACCEPT).is_some_and(|accept| accept.contains("application/json")),
        tls: client_tls(header, tls, peer),
        forward: target.forward,
        guard,
        body: None,
    })
}

/// What the bot guard reads of a request whose pass turned out not to be valid (`read` skipped
/// it): the gateway asks for it before screening, so a pass — any string — cannot hide a
/// request's headers and clearance from the guard. The pass tokens are dropped: they were
/// all refused (and counted) already.
pub fn read_guard(header: &impl HeadSource, peer: Peer, facts: &mut RequestFacts) {
    let jar = parse_cookies(header.values(&COOKIE).filter_map(visible_text));
    facts.guard = guard_facts(header, peer, &jar, true);
    facts.pass_tokens.clear();
}

/// What the bot guard reads of a request. The header list (the fingerprint's input) is
/// copied only for requests that may meet the guard — no pass, or the gateway's own
/// endpoints — so an admitted request pays nothing for it.
fn guard_facts(
    header: &impl HeadSource,
    peer: Peer,
    jar: &CookieJar,
    may_meet_guard: bool,
) -> GuardFacts {
    let client_ip = peer.ip.map(|ip| {
        let forwarded: Vec<&[u8]> = header.values(&FORWARDED_FOR).collect();
        anteroom_bot_guard::client_ip(ip, &forwarded, peer.trusted_proxies)
    });
    if !may_meet_guard {
        return GuardFacts {
            client_ip,
            skipped: true,
            ..GuardFacts::default()
        };
    }
    let clearance = header
        .first(&CLEARANCE_HEADER_NAME)
        .and_then(visible_text)
        .map(|value| value.trim().to_string())
        .or_else(|| jar.first(CLEARANCE_COOKIE).map(str::to_string));
    GuardFacts {
        client_ip,
        headers: header.header_list(),
        clearance,
        skipped: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pass_visitor_host_and_accept() {
        let mut header = RequestHeader::build("GET", b"/tour/x?room=a", None).unwrap();
        header.insert_header("host", "Shop.Example:8080").unwrap();
        header
            .append_header("cookie", "anteroom_vid=v1; anteroom_pass=p-cookie")
            .unwrap();
        header.insert_header("x-anteroom-pass", "p-header").unwrap();
        header.insert_header("accept", "application/json").unwrap();
        let facts = read(&header, false, Peer::default()).unwrap();
        assert_eq!(facts.host.as_deref(), Some("shop.example"));
        assert_eq!(facts.path, "/tour/x");
        assert_eq!(facts.query.as_deref(), Some("room=a"));
        assert_eq!(facts.pass_tokens, vec!["p-header", "p-cookie"]);
        assert_eq!(facts.visitor_token.as_deref(), Some("v1"));
        assert!(facts.wants_json);
    }

    #[test]
    fn ports_are_stripped_from_hosts() {
        for (sent, host) in [
            ("a.example:80", "a.example"),
            ("[::1]:8080", "[::1]"),
            ("A.Example.", "a.example"),
        ] {
            let mut header = RequestHeader::build("GET", b"/", None).unwrap();
            header.insert_header("host", sent).unwrap();
            assert_eq!(
                read(&header, false, Peer::default())
                    .unwrap()
                    .host
                    .as_deref(),
                Some(host)
            );
        }
    }

    #[test]
    fn the_absolute_form_names_the_host_when_http_1_0_sends_none() {
        let mut header =
            RequestHeader::build("GET", b"http://VIP.example/x/../tour", None).unwrap();
        header.set_version(http::Version::HTTP_10);
        let facts = read(&header, false, Peer::default()).unwrap();
        assert_eq!(facts.host.as_deref(), Some("vip.example"));
        assert_eq!(facts.path, "/tour");
        let forward = facts.forward.unwrap();
        assert_eq!(forward.path_and_query, "/tour");
        assert_eq!(forward.host.as_deref(), Some("vip.example"));
    }

    #[test]
    fn https_is_a_tls_connection_or_a_trusted_proxy_saying_so() {
        let trusted = [Cidr::parse("10.0.0.0/8").unwrap()];
        let peer = |ip: &str| Peer {
            ip: Some(ip.parse().unwrap()),
            trusted_proxies: &trusted,
        };
        let request = |proto: Option<&str>| {
            let mut header = RequestHeader::build("GET", b"/", None).unwrap();
            header.insert_header("host", "a.example").unwrap();
            if let Some(proto) = proto {
                header.insert_header("x-forwarded-proto", proto).unwrap();
            }
            header
        };
        let tls = |proto, tls, from| read(&request(proto), tls, peer(from)).unwrap().tls;
        assert!(tls(None, true, "192.0.2.1"));
        assert!(!tls(None, false, "10.1.2.3"));
        assert!(tls(Some("https"), false, "10.1.2.3"));
        assert!(tls(Some("HTTPS"), false, "::ffff:10.1.2.3"));
        // Spoofed by a client the proxy appended to, or sent by an untrusted peer.
        assert!(!tls(Some("https, http"), false, "10.1.2.3"));
        assert!(!tls(Some("https"), false, "192.0.2.1"));
        assert!(!tls(Some("http"), false, "10.1.2.3"));
    }

    #[test]
    fn http_1_1_without_host_and_two_hosts_are_refused() {
        let header = RequestHeader::build("GET", b"/", None).unwrap();
        assert_eq!(
            read(&header, false, Peer::default()).unwrap_err(),
            FormError::MissingHost
        );
        let mut header = RequestHeader::build("GET", b"/", None).unwrap();
        header.append_header("host", "a.example").unwrap();
        header.append_header("host", "b.example").unwrap();
        assert_eq!(
            read(&header, false, Peer::default()).unwrap_err(),
            FormError::DuplicateHost
        );
    }
}
