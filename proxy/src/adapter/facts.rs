//! Reading `RequestFacts` off a Pingora request header.

use http::header::{HeaderName, ACCEPT, COOKIE, HOST};
use pingora::http::RequestHeader;

use crate::core::{
    parse_cookies, RequestFacts, PASS_COOKIE, PASS_HEADER, VISITOR_COOKIE, VISITOR_HEADER,
};

/// At most this many pass candidates are verified per request (a header and a few
/// path-scoped cookies); more is not a legitimate client.
const MAX_PASS_CANDIDATES: usize = 4;

/// Header names parsed once: looking a header up by `&str` parses the name on every call.
pub(super) static PASS_HEADER_NAME: HeaderName = HeaderName::from_static(PASS_HEADER);
static VISITOR_HEADER_NAME: HeaderName = HeaderName::from_static(VISITOR_HEADER);

pub fn read(header: &RequestHeader, tls: bool) -> RequestFacts {
    let headers = &header.headers;
    let text = |name: &HeaderName| headers.get(name).and_then(|value| value.to_str().ok());
    let jar = parse_cookies(
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok()),
    );
    let mut pass_tokens: Vec<String> = Vec::new();
    if let Some(pass) = text(&PASS_HEADER_NAME) {
        pass_tokens.push(pass.trim().to_string());
    }
    pass_tokens.extend(jar.all(PASS_COOKIE).map(str::to_string));
    pass_tokens.truncate(MAX_PASS_CANDIDATES);

    let visitor_token = text(&VISITOR_HEADER_NAME)
        .map(|value| value.trim().to_string())
        .or_else(|| jar.first(VISITOR_COOKIE).map(str::to_string));

    let host = text(&HOST)
        .or_else(|| header.uri.host())
        .map(strip_port)
        .map(|host| host.to_ascii_lowercase());

    RequestFacts {
        method: header.method.as_str().to_string(),
        host,
        path: header.uri.path().to_string(),
        query: header.uri.query().map(str::to_string),
        pass_tokens,
        visitor_token,
        wants_json: text(&ACCEPT).is_some_and(|accept| accept.contains("application/json")),
        tls,
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // [v6]:port
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
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
        let facts = read(&header, false);
        assert_eq!(facts.host.as_deref(), Some("shop.example"));
        assert_eq!(facts.path, "/tour/x");
        assert_eq!(facts.query.as_deref(), Some("room=a"));
        assert_eq!(facts.pass_tokens, vec!["p-header", "p-cookie"]);
        assert_eq!(facts.visitor_token.as_deref(), Some("v1"));
        assert!(facts.wants_json);
    }

    #[test]
    fn ports_are_stripped_from_hosts() {
        assert_eq!(strip_port("a.example:80"), "a.example");
        assert_eq!(strip_port("[::1]:8080"), "[::1]");
        assert_eq!(strip_port("a.example"), "a.example");
    }
}
