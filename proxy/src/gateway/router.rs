//! Which room a request belongs to: by host (empty list = any host) and path prefix, on the
//! normal form of both (see `request_form`). Prefixes match on segment boundaries, like cookie
//! paths do, so `/tour` covers `/tour` and `/tour/x` but not `/tournament` — the pass cookie
//! scoped to `Path=/tour` reaches exactly the requests the room protects. A `;` also ends a
//! segment here, because Java origins read `/tour;x` as `/tour`.
//!
//! A request without a host, or whose host is an IP literal, cannot be told apart from a
//! request to any room's host (an origin's default server answers it), so it is matched
//! against every room's paths whatever hosts the room names.

// Prefix matching lives with the config, which checks `waitlist_url` links with it.
use anteroom_config::{prefix_matches, RoomConfig};

use super::request_form::without_parameters;

#[derive(Debug, Clone)]
struct Route {
    host: Option<String>,
    prefix: String,
    /// Compare ASCII letters without case (`paths_case_insensitive`).
    any_case: bool,
    room: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Router {
    /// Longest prefix first, host-specific before any-host at equal length.
    routes: Vec<Route>,
}

/// The host a request named, as the router sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteHost<'a> {
    /// A host name (normal form: lowercase, no port, no trailing dot).
    Name(&'a str),
    /// No host at all (HTTP/1.0), or an IP literal: could be any room's host.
    Unnamed,
}

impl Router {
    pub fn new(rooms: &[RoomConfig]) -> Router {
        let mut routes = Vec::new();
        for (index, room) in rooms.iter().enumerate() {
            for prefix in &room.paths {
                let route = |host: Option<String>| Route {
                    host,
                    prefix: prefix.clone(),
                    any_case: room.paths_case_insensitive,
                    room: index,
                };
                if room.hosts.is_empty() {
                    routes.push(route(None));
                }
                for host in &room.hosts {
                    routes.push(route(Some(host.to_ascii_lowercase())));
                }
            }
        }
        routes.sort_by(|a, b| {
            b.prefix
                .len()
                .cmp(&a.prefix.len())
                .then(b.host.is_some().cmp(&a.host.is_some()))
        });
        Router { routes }
    }

    /// The index of the room protecting this request, if any. `path` is in normal form.
    pub fn route(&self, host: RouteHost<'_>, path: &str) -> Option<usize> {
        let path = without_parameters(path);
        let path = path.as_ref();
        self.routes
            .iter()
            .find(|route| {
                let host_ok = match (&route.host, host) {
                    (None, _) | (Some(_), RouteHost::Unnamed) => true,
                    (Some(expected), RouteHost::Name(name)) => expected == name,
                };
                host_ok && prefix_matches(&route.prefix, path, route.any_case)
            })
            .map(|route| route.room)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anteroom_config::RoomMode;

    fn room(id: &str, hosts: &[&str], paths: &[&str]) -> RoomConfig {
        RoomConfig {
            id: id.into(),
            origin: "127.0.0.1:1".into(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
            mode: RoomMode::QueueAll,
            admit_per_second: 1.0,
            max_active: 1,
            session_seconds: 60,
            abandon_after_seconds: 60,
            paths_case_insensitive: false,
            page_template: None,
            waitlist_url: None,
            bot_guard: Default::default(),
        }
    }

    #[test]
    fn longest_prefix_and_host_specific_rooms_win() {
        let router = Router::new(&[
            room("all", &[], &["/"]),
            room("tour", &[], &["/tour"]),
            room("tour-shop", &["shop.example"], &["/tour"]),
        ]);
        let name = RouteHost::Name;
        assert_eq!(router.route(name("x.example"), "/tour/1"), Some(1));
        assert_eq!(router.route(name("shop.example"), "/tour/1"), Some(2));
        assert_eq!(router.route(name("x.example"), "/tour%3Ba/1"), Some(1));
        assert_eq!(router.route(name("x.example"), "/;/tour;a=1/x"), Some(1));
        assert_eq!(router.route(RouteHost::Unnamed, "/other"), Some(0));
        assert_eq!(router.route(RouteHost::Unnamed, "/tournament"), Some(0));
    }

    #[test]
    fn no_room_outside_prefixes() {
        let router = Router::new(&[room("tour", &["a.example"], &["/tour"])]);
        assert_eq!(router.route(RouteHost::Name("b.example"), "/tour"), None);
        assert_eq!(router.route(RouteHost::Name("a.example"), "/"), None);
    }

    #[test]
    fn hostless_and_ip_requests_are_matched_against_host_scoped_rooms() {
        let router = Router::new(&[room("vip", &["vip.example"], &["/"])]);
        assert_eq!(router.route(RouteHost::Unnamed, "/x"), Some(0));
        assert_eq!(router.route(RouteHost::Name("other.example"), "/x"), None);
    }

    #[test]
    fn case_insensitive_rooms_match_any_case() {
        let mut tour = room("tour", &[], &["/tour-2027"]);
        tour.paths_case_insensitive = true;
        let router = Router::new(&[tour, room("shop", &[], &["/shop"])]);
        assert_eq!(router.route(RouteHost::Unnamed, "/TOUR-2027/x"), Some(0));
        assert_eq!(router.route(RouteHost::Unnamed, "/SHOP"), None);
    }
}
