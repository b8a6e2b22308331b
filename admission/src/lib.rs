//! Admission: who may enter a room, and how fast.
//! - the v1 pass (`v1.<kid>.<payload>.<mac>`, HMAC-SHA256) and its keyring, which signs with one
//!   key and verifies with every listed key so keys rotate without logging anyone out;
//! - the waitlist offer token (`o1.<kid>.<payload>.<mac>`), the same frame under the same keys;
//! - the waitlist token (`w1.<kid>.<payload>.<mac>`): a sold-out room's visitor may join and
//!   follow the event's waitlist with it, without a pass;
//! - signed visitor ids, so no one can forge an id to take someone else's place;
//! - the admission controller: a pure token bucket bounded by the active-session cap;
//! - ETA estimates. All pure: no I/O, clocks are passed in;
//! - the pieces every service that sees visitors shares: cookie and header names
//!   ([`PASS_COOKIE`]...), `Cookie` header parsing, [`constant_time_eq`], the clock read at the
//!   edges ([`unix_now`]) and, with feature `config`, `Keyring::from_config`.
//!
//! The byte-level formats (pass, signed visitor id) are specified in `docs/pass.md`, with test
//! vectors in `admission/testdata/pass-vectors.json`.

mod bucket;
mod clock;
mod compare;
mod cookies;
mod error;
mod eta;
mod frame;
#[cfg(feature = "config")]
mod from_config;
mod hex;
mod keyring;
mod names;
mod offer_token;
mod pass;
mod rate_meter;
mod recent_passes;
mod visitor;
mod waitlist_token;

pub use bucket::{bucket_capacity, Bucket, RateLimits};
pub use clock::{unix_now, unix_now_ms, unix_now_us};
pub use compare::constant_time_eq;
pub use cookies::{parse_cookies, CookieJar};
pub use error::{AdmissionError, PassRejection};
pub use eta::{estimate_wait, estimate_wait_measured, Eta};
pub use frame::TokenError;
pub use hex::{hex_lower, push_hex};
pub use keyring::{generate_secret, Keyring, MAX_KID_LEN, MIN_SECRET_LEN};
pub use names::{
    PASS_COOKIE, PASS_HEADER, PASS_HEADER_LOWER, VISITOR_COOKIE, VISITOR_HEADER,
    VISITOR_HEADER_LOWER, WAITLIST_HEADER_LOWER,
};
pub use offer_token::{OfferClaims, OfferTokenError, MAX_OFFER_TOKEN_LEN};
pub use pass::{PassClaims, MAX_PASS_LEN};
pub use rate_meter::RateMeter;
pub use visitor::{VisitorId, MAX_SIGNED_VISITOR_LEN};
pub use waitlist_token::{
    WaitlistClaims, WaitlistTokenError, MAX_WAITLIST_TOKEN_LEN, WAITLIST_TOKEN_SECONDS,
};
