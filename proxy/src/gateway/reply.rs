//! What the gateway decided: proxy the request, or answer it itself.

use bytes::Bytes;
use std::net::SocketAddr;

use super::access::AccessOutcome;

/// How to proxy an allowed request.
#[derive(Debug, Clone)]
pub struct ProxyPlan {
    /// The origin, resolved at start.
    pub origin: SocketAddr,
    /// Index of the matched room, if any (for per-room metrics).
    pub room: Option<usize>,
    /// The verified (or just issued) pass, sent upstream as `X-Anteroom-Pass`.
    pub forward_pass: Option<String>,
    /// `Set-Cookie` values to add to the origin's response.
    pub set_cookies: Vec<String>,
    /// A pass issued or renewed on this request, handed to the client in the response's
    /// `X-Anteroom-Pass` header too: apps don't read cookies.
    pub issued_pass: Option<String>,
    /// A signed visitor id new to the client (fresh, or re-signed because a retiring key
    /// signed the old one), for the response's `X-Anteroom-Visitor` header (apps; browsers
    /// get the cookie).
    pub new_visitor_token: Option<String>,
    /// For the access log.
    pub outcome: AccessOutcome,
}

impl ProxyPlan {
    /// Proxy to `origin` with nothing added.
    pub fn to(origin: SocketAddr, room: Option<usize>) -> ProxyPlan {
        ProxyPlan {
            origin,
            room,
            forward_pass: None,
            set_cookies: Vec::new(),
            issued_pass: None,
            new_visitor_token: None,
            outcome: AccessOutcome::Proxied,
        }
    }
}

/// A complete answer from the gateway itself.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
    /// For the access log: what the gateway decided, and in which room (an index).
    pub outcome: AccessOutcome,
    pub room: Option<usize>,
}

impl Reply {
    pub fn json(status: u16, value: &serde_json::Value) -> Reply {
        Reply::json_text(status, value.to_string())
    }

    pub fn json_text(status: u16, body: String) -> Reply {
        Reply {
            status,
            headers: vec![
                ("content-type", "application/json".to_string()),
                ("cache-control", "no-store".to_string()),
            ],
            body: Bytes::from(body),
            outcome: AccessOutcome::Endpoint,
            room: None,
        }
    }

    pub fn html(status: u16, body: String) -> Reply {
        Reply {
            status,
            headers: vec![
                ("content-type", "text/html; charset=utf-8".to_string()),
                ("cache-control", "no-store".to_string()),
            ],
            body: Bytes::from(body),
            outcome: AccessOutcome::Endpoint,
            room: None,
        }
    }

    /// The JSON error shape every Anteroom endpoint uses.
    pub fn error(status: u16, code: &str, detail: &str) -> Reply {
        Reply::json(
            status,
            &serde_json::json!({ "error": code, "detail": detail }),
        )
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    /// Tag the reply for the access log.
    pub fn served(mut self, outcome: AccessOutcome, room: Option<usize>) -> Reply {
        self.outcome = outcome;
        self.room = room;
        self
    }

    pub fn with_cookies(mut self, cookies: Vec<String>) -> Reply {
        self.headers
            .extend(cookies.into_iter().map(|cookie| ("set-cookie", cookie)));
        self
    }
}

#[derive(Debug)]
pub enum Outcome {
    Proxy(ProxyPlan),
    Reply(Reply),
}
