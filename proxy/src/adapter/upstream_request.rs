//! upstream_request_filter: the origin sees only a pass the gateway verified or issued, never
//! one a client made up (nor a look-alike header an origin might read as one), and exactly the
//! target and Host the gateway matched; `X-Forwarded-For` ends with the client the gateway
//! resolved, so an origin that trusts the gateway (the booking service's `trusted_proxies`)
//! learns who the client is; `X-Forwarded-Proto` says whether the client's connection was
//! HTTPS, as the gateway decided it (never as an untrusted client claimed).

use std::net::IpAddr;

use http::header::HOST;
use http::HeaderValue;
use pingora::http::RequestHeader;
use pingora::prelude::*;

use super::facts::PASS_HEADER_NAME;
use super::request_id::REQUEST_ID;
use super::RequestCtx;
use crate::gateway::{ForwardTarget, PASS_HEADER};

/// Headers a client may not hand the origin: `X-Forwarded-Host` could make the origin believe
/// in another host than the one the room was matched on.
static X_FORWARDED_HOST: http::HeaderName = http::HeaderName::from_static("x-forwarded-host");
static X_FORWARDED_FOR: http::HeaderName = http::HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: http::HeaderName = http::HeaderName::from_static("x-forwarded-proto");

pub fn run(upstream_request: &mut RequestHeader, ctx: &RequestCtx) -> Result<()> {
    if let Some(forward) = &ctx.forward {
        rewrite_target(upstream_request, forward)?;
    }
    strip_look_alikes(upstream_request);
    forward_client(upstream_request, ctx.client_ip)?;
    // Whatever id the client sent was replaced unless a trusted proxy sent it.
    upstream_request.insert_header(REQUEST_ID, ctx.request_id.as_str())?;
    forward_proto(upstream_request, ctx.client_https)?;
    let forward = ctx
        .plan
        .as_ref()
        .and_then(|plan| plan.forward_pass.as_deref());
    let sent = upstream_request.headers.get_all(&PASS_HEADER_NAME);
    let mut sent_values = sent.iter();
    // An app that sent exactly the verified pass (and nothing else) needs no rewrite:
    // the common admitted request leaves the header map untouched.
    let already_right = match (forward, sent_values.next(), sent_values.next()) {
        (Some(pass), Some(value), None) => value.as_bytes() == pass.as_bytes(),
        (None, None, _) => true,
        _ => false,
    };
    if already_right {
        return Ok(());
    }
    upstream_request.remove_header(PASS_HEADER);
    if let Some(pass) = forward {
        upstream_request.insert_header(PASS_HEADER, pass)?;
    }
    Ok(())
}

fn rewrite_target(upstream_request: &mut RequestHeader, forward: &ForwardTarget) -> Result<()> {
    let uri = http::Uri::try_from(forward.path_and_query.as_str())
        .or_err(InvalidHTTPHeader, "normalised request-target")?;
    upstream_request.set_uri(uri);
    if let Some(host) = &forward.host {
        upstream_request.insert_header(HOST, host.as_str())?;
    }
    Ok(())
}

/// `X-Forwarded-Proto: https` or `http`, replacing whatever the client sent (left alone
/// when it is already exactly that).
fn forward_proto(upstream_request: &mut RequestHeader, https: bool) -> Result<()> {
    let proto = if https { "https" } else { "http" };
    let mut sent = upstream_request.headers.get_all(&X_FORWARDED_PROTO).iter();
    if let (Some(value), None) = (sent.next(), sent.next()) {
        if value.as_bytes() == proto.as_bytes() {
            return Ok(());
        }
    }
    upstream_request.insert_header(X_FORWARDED_PROTO.as_str(), HeaderValue::from_static(proto))?;
    Ok(())
}

/// Append the client to `X-Forwarded-For` (one line: some origins read only the first). The
/// entries before it are kept as they came, since an origin reads the chain from the right and
/// stops at the first hop it does not trust. Without a known client the header is dropped: an
/// origin trusting the gateway would otherwise believe what the client wrote.
fn forward_client(upstream_request: &mut RequestHeader, client: Option<IpAddr>) -> Result<()> {
    let Some(client) = client else {
        upstream_request.remove_header(&X_FORWARDED_FOR);
        return Ok(());
    };
    let mut client_text = IpText::default();
    let client = client_text.of(client);
    let mut sent = upstream_request.headers.get_all(&X_FORWARDED_FOR).iter();
    // The common request carries no chain: no list to build.
    let value = match (sent.next(), sent.next()) {
        (None, _) => client.to_string(),
        (Some(first), second) => {
            let mut chain: Vec<&str> = std::iter::once(first)
                .chain(second)
                .chain(sent)
                .filter_map(|value| value.to_str().ok())
                .map(str::trim)
                .filter(|value| !value.is_empty())
                .collect();
            chain.push(client);
            chain.join(", ")
        }
    };
    upstream_request.insert_header(X_FORWARDED_FOR.as_str(), value)?;
    Ok(())
}

/// An IP address as text without the formatting machinery (`Display` for `IpAddr` costs more
/// than the rest of this filter): IPv4 by hand, IPv6 (rarer) through `Display`.
#[derive(Default)]
pub(super) struct IpText {
    bytes: [u8; 16],
    len: usize,
    v6: String,
}

impl IpText {
    pub(super) fn of(&mut self, ip: IpAddr) -> &str {
        match ip {
            IpAddr::V4(v4) => {
                self.len = 0;
                for (index, octet) in v4.octets().into_iter().enumerate() {
                    if index > 0 {
                        self.push(b'.');
                    }
                    if octet >= 100 {
                        self.push(b'0' + octet / 100);
                    }
                    if octet >= 10 {
                        self.push(b'0' + octet / 10 % 10);
                    }
                    self.push(b'0' + octet % 10);
                }
                std::str::from_utf8(self.bytes.get(..self.len).unwrap_or_default())
                    .unwrap_or_default()
            }
            IpAddr::V6(v6) => {
                self.v6 = v6.to_string();
                &self.v6
            }
        }
    }

    fn push(&mut self, byte: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }
}

/// Drop `X-Forwarded-Host` and every header whose name reads as `X-Anteroom-Pass` or
/// `X-Forwarded-Host` once `_` is taken for `-` (CGI-style origins, e.g. PHP and WSGI servers,
/// map both to the same variable). Header names with `_` are rare, so the common request only
/// scans the names.
fn strip_look_alikes(upstream_request: &mut RequestHeader) {
    if upstream_request.headers.contains_key(&X_FORWARDED_HOST) {
        upstream_request.remove_header(&X_FORWARDED_HOST);
    }
    let look_alikes: Vec<http::HeaderName> = upstream_request
        .headers
        .keys()
        .filter(|name| is_look_alike(name.as_str()))
        .cloned()
        .collect();
    for name in &look_alikes {
        upstream_request.remove_header(name);
    }
}

/// A name that reads as `X-Anteroom-Pass` or `X-Forwarded-Host` once `_` is taken for `-`.
pub(super) fn is_look_alike(name: &str) -> bool {
    name.contains('_') && {
        let dashed = name.replace('_', "-");
        dashed.eq_ignore_ascii_case(PASS_HEADER)
            || dashed.eq_ignore_ascii_case(X_FORWARDED_HOST.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alike_pass_and_forwarded_host_headers_are_dropped() {
        let mut request = RequestHeader::build("GET", b"/tour", None).unwrap();
        for name in [
            "X_Anteroom_Pass",
            "x-anteroom_pass",
            "X-Forwarded-Host",
            "x_forwarded_host",
        ] {
            request.append_header(name, "forged").unwrap();
        }
        request.append_header("x_other", "kept").unwrap();
        run(&mut request, &RequestCtx::default()).unwrap();
        let names: Vec<&str> = request.headers.keys().map(|n| n.as_str()).collect();
        assert_eq!(names, vec!["x_other", "x-request-id", "x-forwarded-proto"]);
    }

    #[test]
    fn x_forwarded_proto_is_the_scheme_the_gateway_decided_on() {
        for (claimed, https, expected) in [
            (Some("https"), false, "http"),
            (None, true, "https"),
            (Some("http"), true, "https"),
            (Some("https"), true, "https"),
        ] {
            let mut request = RequestHeader::build("GET", b"/tour", None).unwrap();
            if let Some(claimed) = claimed {
                request.append_header("x-forwarded-proto", claimed).unwrap();
            }
            let ctx = RequestCtx {
                client_https: https,
                ..RequestCtx::default()
            };
            run(&mut request, &ctx).unwrap();
            let sent: Vec<_> = request
                .headers
                .get_all("x-forwarded-proto")
                .iter()
                .collect();
            assert_eq!(sent, [expected], "{claimed:?} over https={https}");
        }
    }

    #[test]
    fn the_resolved_client_is_appended_to_x_forwarded_for() {
        let ctx = RequestCtx {
            client_ip: Some("198.51.100.7".parse().unwrap()),
            ..RequestCtx::default()
        };
        let mut request = RequestHeader::build("GET", b"/tour", None).unwrap();
        run(&mut request, &ctx).unwrap();
        assert_eq!(
            request.headers.get("x-forwarded-for").unwrap(),
            "198.51.100.7"
        );

        let mut request = RequestHeader::build("GET", b"/tour", None).unwrap();
        request
            .append_header("X-Forwarded-For", "203.0.113.1")
            .unwrap();
        request
            .append_header("X-Forwarded-For", "10.0.0.2")
            .unwrap();
        run(&mut request, &ctx).unwrap();
        let values: Vec<_> = request.headers.get_all("x-forwarded-for").iter().collect();
        assert_eq!(values, vec!["203.0.113.1, 10.0.0.2, 198.51.100.7"]);

        // No known client: nothing a client wrote reaches an origin that trusts the gateway.
        let mut request = RequestHeader::build("GET", b"/tour", None).unwrap();
        request
            .append_header("X-Forwarded-For", "203.0.113.1")
            .unwrap();
        run(&mut request, &RequestCtx::default()).unwrap();
        assert!(request.headers.get("x-forwarded-for").is_none());
    }

    #[test]
    fn ip_text_writes_what_display_writes() {
        let mut text = IpText::default();
        for ip in [
            "0.0.0.0",
            "9.10.99.100",
            "255.255.255.255",
            "192.0.2.7",
            "::1",
            "2001:db8::ff00:42:8329",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(text.of(ip), ip.to_string());
        }
    }

    #[test]
    fn the_normal_target_and_host_replace_the_clients() {
        let mut request =
            RequestHeader::build("GET", b"http://VIP.example./x/../tour", None).unwrap();
        let ctx = RequestCtx {
            forward: Some(ForwardTarget {
                path_and_query: "/tour?a=1".into(),
                host: Some("vip.example".into()),
            }),
            ..RequestCtx::default()
        };
        run(&mut request, &ctx).unwrap();
        assert_eq!(request.raw_path(), b"/tour?a=1");
        assert_eq!(request.headers.get("host").unwrap(), "vip.example");
    }
}
