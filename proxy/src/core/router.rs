//! Which room a request belongs to: by host (empty list = any host) and path prefix.
//! Prefixes match on segment boundaries, like cookie paths do, so `/tour` covers `/tour` and
//! `/tour/x` but not `/tournament` — the pass cookie scoped to `Path=/tour` reaches exactly the
//! requests the room protects.

use anteroom_config::RoomConfig;

#[derive(Debug, Clone)]
struct Route {
    host: Option<String>,
    prefix: String,
    room: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Router {
    /// Longest prefix first, host-specific before any-host at equal length.
    routes: Vec<Route>,
}

impl Router {
    pub fn new(rooms: &[RoomConfig]) -> Router {
        let mut routes = Vec::new();
        for (index, room) in rooms.iter().enumerate() {
            for prefix in &room.paths {
                if room.hosts.is_empty() {
                    routes.push(Route {
                        host: None,
                        prefix: prefix.clone(),
                        room: index,
                    });
                }
                for host in &room.hosts {
                    routes.push(Route {
                        host: Some(host.to_ascii_lowercase()),
                        prefix: prefix.clone(),
                        room: index,
                    });
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

    /// The index of the room protecting this request, if any.
    pub fn route(&self, host: Option<&str>, path: &str) -> Option<usize> {
        self.routes
            .iter()
            .find(|route| {
                let host_ok = match &route.host {
                    None => true,
                    Some(expected) => host == Some(expected.as_str()),
                };
                host_ok && prefix_matches(&route.prefix, path)
            })
            .map(|route| route.room)
    }
}

/// Cookie-path matching (RFC 6265 §5.1.4).
pub fn prefix_matches(prefix: &str, path: &str) -> bool {
    if !path.starts_with(prefix) {
        return false;
    }
    prefix.ends_with('/') || path.len() == prefix.len() || path.as_bytes()[prefix.len()] == b'/'
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
        }
    }

    #[test]
    fn segment_boundaries() {
        assert!(prefix_matches("/tour", "/tour"));
        assert!(prefix_matches("/tour", "/tour/seats"));
        assert!(!prefix_matches("/tour", "/tournament"));
        assert!(prefix_matches("/", "/anything"));
        assert!(prefix_matches("/api/", "/api/x"));
    }

    #[test]
    fn longest_prefix_and_host_specific_rooms_win() {
        let router = Router::new(&[
            room("all", &[], &["/"]),
            room("tour", &[], &["/tour"]),
            room("tour-shop", &["shop.example"], &["/tour"]),
        ]);
        assert_eq!(router.route(Some("x.example"), "/tour/1"), Some(1));
        assert_eq!(router.route(Some("shop.example"), "/tour/1"), Some(2));
        assert_eq!(router.route(None, "/other"), Some(0));
        assert_eq!(router.route(None, "/tournament"), Some(0));
    }

    #[test]
    fn no_room_outside_prefixes() {
        let router = Router::new(&[room("tour", &["a.example"], &["/tour"])]);
        assert_eq!(router.route(Some("b.example"), "/tour"), None);
        assert_eq!(router.route(Some("a.example"), "/"), None);
    }
}
