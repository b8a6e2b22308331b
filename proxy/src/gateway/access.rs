//! What the gateway did with a request, in the access log's words: one fixed label per
//! outcome, so a log query can count them.

/// The gateway's decision for one request (the access log's `outcome` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessOutcome {
    /// Sent to the origin on a valid pass.
    #[default]
    Proxied,
    /// Admitted on this very request (a fresh pass) and sent to the origin.
    Admitted,
    /// The room lets everyone through.
    Passthrough,
    /// No room protects the path: sent to the default origin.
    Unprotected,
    /// An app got 429 and its place in the line.
    Queued,
    /// A browser got the waiting page.
    WaitingPage,
    /// Told to solve a proof of work first (or a challenge fetched or answered).
    Challenge,
    /// Turned away by the bot guard.
    Blocked,
    SoldOut,
    Closed,
    /// The store could not be reached; the visitor was asked to retry.
    Unavailable,
    /// One of the gateway's own endpoints (`/_anteroom/status`, `leave`).
    Endpoint,
    /// No room, endpoint or origin serves the path.
    NotFound,
    /// A request refused before any decision (ambiguous form, body too large).
    Refused,
    /// The origin could not be reached or failed mid-answer.
    UpstreamError,
}

impl AccessOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessOutcome::Proxied => "proxied",
            AccessOutcome::Admitted => "admitted",
            AccessOutcome::Passthrough => "passthrough",
            AccessOutcome::Unprotected => "unprotected",
            AccessOutcome::Queued => "queued",
            AccessOutcome::WaitingPage => "waiting_page",
            AccessOutcome::Challenge => "challenge",
            AccessOutcome::Blocked => "blocked",
            AccessOutcome::SoldOut => "sold_out",
            AccessOutcome::Closed => "closed",
            AccessOutcome::Unavailable => "unavailable",
            AccessOutcome::Endpoint => "endpoint",
            AccessOutcome::NotFound => "not_found",
            AccessOutcome::Refused => "refused",
            AccessOutcome::UpstreamError => "upstream_error",
        }
    }
}
