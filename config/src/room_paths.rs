//! How a room's path prefixes cover a path (the gateway's router matches requests with it),
//! and where a `[[room]] waitlist_url` leads — a link that a room's own prefixes cover would
//! answer a sold-out visitor with the same sold-out page, so the config refuses it.

/// Cookie-path matching (RFC 6265 §5.1.4), with `;` (raw or `%3B`) also ending a segment.
pub fn prefix_matches(prefix: &str, path: &str, any_case: bool) -> bool {
    let Some(head) = path.get(..prefix.len()) else {
        return false;
    };
    let same = if any_case {
        head.eq_ignore_ascii_case(prefix)
    } else {
        head == prefix
    };
    if !same || prefix.ends_with('/') {
        return same;
    }
    let rest = path.get(prefix.len()..).unwrap_or_default();
    rest.is_empty()
        || rest.starts_with('/')
        || rest.starts_with(';')
        || rest
            .get(..3)
            .is_some_and(|escape| escape.eq_ignore_ascii_case("%3B"))
}

/// `rest` up to its query or fragment, `/` when that leaves nothing.
fn path_of(rest: &str) -> &str {
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    rest.get(..end).filter(|p| !p.is_empty()).unwrap_or("/")
}

/// Where a link leads: `host` (lowercase, without port) for an absolute `http(s)://` URL,
/// None for a path on the same site; `path` without query or fragment (`/` when empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTarget<'a> {
    pub host: Option<String>,
    pub path: &'a str,
}

/// The target of `url`: a path starting with one `/` (`//` would name another host), or an
/// absolute `http://` / `https://` URL with a host and no user info. None for anything else.
/// Hosts are checked by the caller (`validate::waitlist_url`).
pub fn link_target(url: &str) -> Option<LinkTarget<'_>> {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return (url.starts_with('/') && !url.starts_with("//")).then(|| LinkTarget {
            host: None,
            path: path_of(url),
        });
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let host = match authority.rsplit_once(':') {
        // A bracketed IPv6 address without a port ends with `]`.
        Some((host, port)) if !authority.ends_with(']') => {
            port.parse::<u16>().ok().filter(|p| *p > 0)?;
            host
        }
        _ => authority,
    };
    Some(LinkTarget {
        host: Some(host.to_ascii_lowercase()),
        path: if tail.starts_with('/') {
            path_of(tail)
        } else {
            "/"
        },
    })
}

/// The prefix of a room (its `hosts`, lowercase; `paths`; `any_case`) that covers
/// `target`, if any: a path on the same site is served by the room's hosts, an absolute URL
/// only when it names one of them.
pub fn covering_prefix<'p>(
    target: &LinkTarget<'_>,
    hosts: &[String],
    paths: &'p [String],
    any_case: bool,
) -> Option<&'p str> {
    if let Some(host) = &target.host {
        if !hosts.contains(host) {
            return None;
        }
    }
    paths
        .iter()
        .find(|prefix| prefix_matches(prefix, target.path, any_case))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_boundaries() {
        assert!(prefix_matches("/tour", "/tour", false));
        assert!(prefix_matches("/tour", "/tour/seats", false));
        assert!(!prefix_matches("/tour", "/tournament", false));
        assert!(prefix_matches("/", "/anything", false));
        assert!(prefix_matches("/api/", "/api/x", false));
        assert!(prefix_matches("/tour", "/tour;jsessionid=1", false));
        assert!(prefix_matches("/tour", "/tour%3bx", false));
        assert!(!prefix_matches("/tour", "/TOUR/x", false));
        assert!(prefix_matches("/tour", "/TOUR/x", true));
        assert!(!prefix_matches("/tour", "/to", true));
    }

    fn target(host: Option<&str>, path: &'static str) -> Option<LinkTarget<'static>> {
        Some(LinkTarget {
            host: host.map(str::to_string),
            path,
        })
    }

    #[test]
    fn links_are_read_as_host_and_path() {
        assert_eq!(
            link_target("/events/E1/waitlist?x=1"),
            target(None, "/events/E1/waitlist")
        );
        assert_eq!(link_target("/#top"), target(None, "/"));
        assert_eq!(
            link_target("https://Shop.Example:8443/w/E1#join"),
            target(Some("shop.example"), "/w/E1")
        );
        assert_eq!(
            link_target("http://shop.example"),
            target(Some("shop.example"), "/")
        );
        assert_eq!(
            link_target("http://shop.example?e=1"),
            target(Some("shop.example"), "/")
        );
        assert_eq!(link_target("http://[::1]/w"), target(Some("[::1]"), "/w"));
        assert_eq!(
            link_target("http://[::1]:80/w"),
            target(Some("[::1]"), "/w")
        );
        for bad in [
            "",
            "events/E1",
            "//evil.example/w",
            "ftp://shop.example/w",
            "https://",
            "https:///w",
            "https://user@shop.example/w",
            "https://shop.example:0/w",
            "https://shop.example:http/w",
            "javascript:alert(1)",
        ] {
            assert_eq!(link_target(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_link_into_the_rooms_own_prefixes_is_covered() {
        let hosts = vec!["tickets.example".to_string()];
        let paths = vec!["/tour".to_string(), "/api".to_string()];
        let covered = |url: &str, any_case: bool| {
            covering_prefix(&link_target(url).unwrap(), &hosts, &paths, any_case)
        };
        assert_eq!(covered("/tour/waitlist", false), Some("/tour"));
        assert_eq!(covered("/TOUR/waitlist", false), None);
        assert_eq!(covered("/TOUR/waitlist", true), Some("/tour"));
        assert_eq!(covered("/tournament/waitlist", false), None);
        assert_eq!(covered("/waitlist/tour", false), None);
        assert_eq!(
            covered("https://tickets.example/api/w", false),
            Some("/api")
        );
        assert_eq!(
            covered("https://shop.example/api/w", false),
            None,
            "another host"
        );
        // A room for any host: only a path on the same site is surely its own.
        assert_eq!(
            covering_prefix(
                &link_target("https://x.example/tour").unwrap(),
                &[],
                &paths,
                false
            ),
            None
        );
        assert_eq!(
            covering_prefix(&link_target("/tour").unwrap(), &[], &paths, false),
            Some("/tour")
        );
    }
}
