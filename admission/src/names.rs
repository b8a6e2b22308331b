//! The names visitors, apps and origins use to carry passes and visitor ids: one home for
//! them, so the gateway, the booking service and any origin written in Rust agree.

/// Cookie carrying the pass (set HttpOnly, SameSite=Lax, Secure under TLS).
pub const PASS_COOKIE: &str = "anteroom_pass";
/// Cookie carrying the signed visitor id.
pub const VISITOR_COOKIE: &str = "anteroom_vid";
/// Header carrying the pass (apps; and gateway → origin), as documented.
pub const PASS_HEADER: &str = "X-Anteroom-Pass";
/// Header carrying the signed visitor id (apps), as documented.
pub const VISITOR_HEADER: &str = "X-Anteroom-Visitor";
/// [`PASS_HEADER`] in lower case: the spelling header maps (http, Pingora) store and the
/// one HTTP/2 requires on the wire.
pub const PASS_HEADER_LOWER: &str = "x-anteroom-pass";
/// [`VISITOR_HEADER`] in lower case.
pub const VISITOR_HEADER_LOWER: &str = "x-anteroom-visitor";
/// Header carrying a waitlist token to the booking service's waitlist endpoints (lower
/// case, as header maps store it).
pub const WAITLIST_HEADER_LOWER: &str = "x-anteroom-waitlist";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_case_spellings_match() {
        assert_eq!(PASS_HEADER.to_ascii_lowercase(), PASS_HEADER_LOWER);
        assert_eq!(VISITOR_HEADER.to_ascii_lowercase(), VISITOR_HEADER_LOWER);
    }
}
