//! The request heads the direct path takes, parsed once (httparse) and read by the same
//! `facts` as Pingora's: only an HTTP/1.1 `GET` or `HEAD` in origin form, with no body, no
//! `Upgrade` and no `Expect`. Everything else is left to Pingora untouched.

use http::HeaderName;

use crate::adapter::facts::HeadSource;
use crate::gateway::{PASS_COOKIE, PASS_HEADER};

/// Most header lines a direct request may carry; more go to Pingora (which allows more).
pub const MAX_HEADERS: usize = 64;

/// A request head the direct path serves.
#[derive(Debug)]
pub struct DirectHead<'h> {
    pub method: &'h str,
    pub target: &'h [u8],
    pub headers: &'h [httparse::Header<'h>],
    /// The client asked to close the connection after this request.
    pub close: bool,
}

impl DirectHead<'_> {
    pub fn is_head(&self) -> bool {
        self.method == "HEAD"
    }

    /// The target's path (before `?`), for the access log.
    pub fn path(&self) -> &str {
        let path = self
            .target
            .split(|&byte| byte == b'?')
            .next()
            .unwrap_or_default();
        std::str::from_utf8(path).unwrap_or("-")
    }
}

/// Whether a raw head may carry a pass: an `anteroom_pass` cookie somewhere, or a line that
/// starts with the pass header's name (any case). A few hundred instructions, before any
/// parse: a request without a pass (a join, a poll) goes to Pingora having cost the direct
/// path nothing more.
pub fn may_carry_pass(head: &[u8]) -> bool {
    if memchr::memmem::find(head, PASS_COOKIE.as_bytes()).is_some() {
        return true;
    }
    memchr::memchr_iter(b'\n', head).any(|newline| {
        head.get(newline + 1..newline + 1 + PASS_HEADER.len())
            .is_some_and(|name| name.eq_ignore_ascii_case(PASS_HEADER.as_bytes()))
    })
}

/// Parse `bytes` (one whole head) into a head the direct path serves, or None: another
/// method, version or target form, a body, an upgrade, an expectation, or anything httparse
/// refuses — Pingora then reads the same bytes and answers as it always did.
pub fn parse<'h>(
    bytes: &'h [u8],
    storage: &'h mut [httparse::Header<'h>; MAX_HEADERS],
) -> Option<DirectHead<'h>> {
    let mut request = httparse::Request::new(storage);
    match request.parse(bytes) {
        Ok(httparse::Status::Complete(len)) if len == bytes.len() => {}
        _ => return None,
    }
    let method = request.method?;
    let target = request.path?.as_bytes();
    if request.version != Some(1) || !matches!(method, "GET" | "HEAD") {
        return None;
    }
    if !target.starts_with(b"/") {
        return None;
    }
    let headers: &'h [httparse::Header<'h>] = request.headers;
    let mut close = false;
    for header in headers {
        let name = header.name;
        if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("upgrade")
            || name.eq_ignore_ascii_case("expect")
        {
            return None;
        }
        if name.eq_ignore_ascii_case("connection") {
            for option in header.value.split(|&byte| byte == b',') {
                let option = option.trim_ascii();
                if option.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if option.eq_ignore_ascii_case(b"upgrade") {
                    return None;
                }
            }
        }
    }
    Some(DirectHead {
        method,
        target,
        headers,
        close,
    })
}

impl HeadSource for DirectHead<'_> {
    fn method(&self) -> &str {
        self.method
    }

    fn raw_target(&self) -> &[u8] {
        self.target
    }

    fn is_http_11(&self) -> bool {
        true
    }

    fn authority(&self) -> Option<&[u8]> {
        None
    }

    fn values<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |header| header.name.eq_ignore_ascii_case(name.as_str()))
            .map(|header| header.value)
    }

    fn header_list(&self) -> Vec<(String, Vec<u8>)> {
        // As Pingora's header map lists them: names in the order they first arrived, each
        // name's values together.
        let mut list: Vec<(String, Vec<u8>)> = Vec::with_capacity(self.headers.len());
        for (index, header) in self.headers.iter().enumerate() {
            let earlier = self.headers.get(..index).unwrap_or_default();
            if earlier
                .iter()
                .any(|seen| seen.name.eq_ignore_ascii_case(header.name))
            {
                continue;
            }
            let name = header.name.to_ascii_lowercase();
            for same in self.headers.get(index..).unwrap_or_default() {
                if same.name.eq_ignore_ascii_case(header.name) {
                    list.push((name.clone(), same.value.to_vec()));
                }
            }
        }
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(head: &[u8]) -> Option<(String, bool)> {
        let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
        parse(head, &mut storage).map(|head| (head.method.to_string(), head.close))
    }

    #[test]
    fn heads_without_a_pass_are_seen_without_a_parse() {
        assert!(may_carry_pass(
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Anteroom-Pass: p\r\n\r\n"
        ));
        assert!(may_carry_pass(
            b"GET / HTTP/1.1\r\nCookie: x=1; anteroom_pass=p\r\n\r\n"
        ));
        assert!(!may_carry_pass(
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Anteroom-Visitor: v\r\n\r\n"
        ));
        assert!(!may_carry_pass(
            b"GET /x-anteroom-pass HTTP/1.1\r\nHost: a\r\n\r\n"
        ));
        assert!(may_carry_pass(
            b"GET / HTTP/1.1\r\nHost: a\r\nx-anteroom-PASS: p\r\n\r\n"
        ));
        assert!(!may_carry_pass(
            b"GET / HTTP/1.1\r\nCookie: anteroom_vid=v\r\n\r\n"
        ));
    }

    #[test]
    fn plain_gets_and_heads_are_taken() {
        assert_eq!(
            parsed(b"GET /tour HTTP/1.1\r\nHost: a\r\n\r\n"),
            Some(("GET".into(), false))
        );
        assert_eq!(
            parsed(b"HEAD /tour HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n"),
            Some(("HEAD".into(), true))
        );
    }

    #[test]
    fn bodies_upgrades_other_methods_versions_and_forms_go_to_pingora() {
        for head in [
            &b"POST /tour HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n"[..],
            b"GET /tour HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
            b"GET /tour HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET /tour HTTP/1.1\r\nHost: a\r\ntransfer-encoding : chunked\r\n\r\n",
            b"GET /tour HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            b"GET /tour HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n",
            b"GET /tour HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
            b"GET /tour HTTP/1.0\r\nHost: a\r\n\r\n",
            b"GET http://a/tour HTTP/1.1\r\nHost: a\r\n\r\n",
            b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /tour HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            b"GET /tour HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n",
            b"GET /tour HTTP/1.1\r\nHost: a\r\n",
        ] {
            assert_eq!(parsed(head), None, "{}", String::from_utf8_lossy(head));
        }
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        let head = format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n");
        assert_eq!(parsed(head.as_bytes()), None);
    }

    #[test]
    fn headers_are_listed_as_pingora_lists_them() {
        let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let head = parse(
            b"GET / HTTP/1.1\r\nHost: a\r\nAccept: x\r\nhost: b\r\nCookie: c\r\n\r\n",
            &mut storage,
        )
        .unwrap();
        let names: Vec<(String, Vec<u8>)> = head.header_list();
        assert_eq!(
            names,
            vec![
                ("host".to_string(), b"a".to_vec()),
                ("host".to_string(), b"b".to_vec()),
                ("accept".to_string(), b"x".to_vec()),
                ("cookie".to_string(), b"c".to_vec()),
            ]
        );
        let hosts: Vec<&[u8]> = head.values(&http::header::HOST).collect();
        assert_eq!(hosts, vec![&b"a"[..], b"b"]);
        assert_eq!(head.path(), "/");
    }
}
