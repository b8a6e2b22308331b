//! The gateway's domain: rooms, passes, the queue and the answers they lead to.
//! No Pingora types here — the adapter translates HTTP to `RequestFacts` and an
//! `Outcome` back to HTTP.

pub mod access;
mod challenge;
mod cookies;
mod current;
pub(crate) mod endpoints;
pub mod engine;
pub mod guard;
pub mod guard_rules;
mod live;
pub mod metrics;
pub mod pages;
mod protected;
mod reply;
pub mod request_form;
mod router;
mod status;
pub mod streams;
mod successor;
mod waitlist_token;

pub use access::AccessOutcome;
pub use anteroom_admission::{parse_cookies, CookieJar};
pub use current::CurrentGateway;
pub use engine::{Gateway, StoreSlot};
pub use live::LiveRoom;
pub use reply::{Outcome, ProxyPlan, Reply};
pub use request_form::{FormError, ForwardTarget};
pub use router::{RouteHost, Router};
pub use status::{StatusObject, VisitorState};
pub use successor::RoomChanges;

/// What the gateway needs to know about a request, read off it by the adapter.
#[derive(Debug, Clone, Default)]
pub struct RequestFacts {
    pub method: String,
    /// Host in normal form (lowercase, no port, no trailing dot), if the request named one.
    pub host: Option<String>,
    /// The host is an IP literal: it names no room's host, so it may be any of them.
    pub host_is_ip: bool,
    /// The path in normal form (`request_form`): what rooms and endpoints are matched on.
    pub path: String,
    pub query: Option<String>,
    /// `X-Anteroom-Pass` header first, then every `anteroom_pass` cookie.
    pub pass_tokens: Vec<String>,
    /// `X-Anteroom-Visitor` header, else the `anteroom_vid` cookie.
    pub visitor_token: Option<String>,
    /// The client asked for JSON (`Accept: application/json`): apps get 429 + status object.
    pub wants_json: bool,
    /// Served over TLS: cookies get `Secure`.
    pub tls: bool,
    /// The target and Host the origin must get instead of the client's, when the client sent
    /// another form than the normal one matched here.
    pub forward: Option<ForwardTarget>,
    /// What the bot guard reads (the client address always; headers only when the request
    /// may meet the guard).
    pub guard: guard::GuardFacts,
    /// The body of a `POST /_anteroom/challenge` (the only body the gateway reads itself).
    pub body: Option<bytes::Bytes>,
}

impl RequestFacts {
    /// The host as the router sees it.
    pub fn route_host(&self) -> RouteHost<'_> {
        match &self.host {
            Some(host) if !self.host_is_ip => RouteHost::Name(host),
            _ => RouteHost::Unnamed,
        }
    }
}

/// Paths under this prefix are the gateway's own endpoints.
pub const ENDPOINT_PREFIX: &str = "/_anteroom/";
/// The bot guard's proof-of-work endpoint (its POST body is read by the adapter).
pub const CHALLENGE_PATH: &str = "/_anteroom/challenge";
pub use challenge::MAX_BODY as CHALLENGE_MAX_BODY;
// The names live with the pass format; the gateway spells headers in lower case.
pub use anteroom_admission::{
    PASS_COOKIE, PASS_HEADER_LOWER as PASS_HEADER, VISITOR_COOKIE,
    VISITOR_HEADER_LOWER as VISITOR_HEADER,
};
