//! Admission: who may enter a room, and how fast.
//! - the v1 pass (`v1.<kid>.<payload>.<mac>`, HMAC-SHA256) and its keyring, which signs with one
//!   key and verifies with every listed key so keys rotate without logging anyone out;
//! - signed visitor ids, so no one can forge an id to take someone else's place;
//! - the admission controller: a pure token bucket bounded by the active-session cap;
//! - ETA estimates. All pure: no I/O, clocks are passed in.
//!
//! The byte-level formats (pass, signed visitor id) are specified in `docs/pass.md`, with test
//! vectors in `admission/testdata/pass-vectors.json`.

mod bucket;
mod error;
mod eta;
mod keyring;
mod pass;
mod visitor;

pub use bucket::{bucket_capacity, Bucket, RateLimits};
pub use error::{AdmissionError, PassRejection};
pub use eta::{estimate_wait, Eta};
pub use keyring::{generate_secret, Keyring, MAX_KID_LEN, MIN_SECRET_LEN};
pub use pass::{PassClaims, MAX_PASS_LEN, PASS_COOKIE, PASS_HEADER};
pub use visitor::{VisitorId, MAX_SIGNED_VISITOR_LEN, VISITOR_COOKIE, VISITOR_HEADER};
