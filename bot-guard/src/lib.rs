//! The bot guard: signals about a request in, a verdict out — `allow`, `challenge` (a
//! proof-of-work priced by demand and suspicion), `shadow` (a waiting room that never admits,
//! with a way back) or `block` — each with a reason from a bounded set. The verdict engine,
//! fingerprints and the challenge codec are pure and need no server; the shared counters
//! (velocity, places per fingerprint and per IP, one-time redemption, shadows) sit behind one
//! trait, `GuardStore`, with a Redis and a memory implementation and one conformance suite.
//! The gateway and the booking service both consult it.

pub mod challenge;
pub mod clearance;
pub mod client_fp;
pub mod client_ip;
pub mod decide;
pub mod difficulty;
pub mod fingerprint;
pub mod rules;
pub mod signals;
pub mod store;
pub mod verdict;

pub use store::{
    CheckedJoin, GuardCheck, GuardCounts, GuardStore, GuardStoreError, PlaceCheck, PlaceSubject,
    VelocityCheck, VelocityResult,
};

pub use anteroom_config::{BotGuardConfig, BotGuardOverride, ChallengeMode, Cidr};
pub use challenge::{
    issue, parse_nonces, solve, verify, ChallengeError, ChallengeKey, ChallengeSpec, Verified,
    CHALLENGE_PREFIX, MAX_CHALLENGE_LEN, MAX_SUB_PUZZLES,
};
pub use clearance::{ClearanceKey, MAX_CLEARANCE_LEN};
pub use client_fp::{ClientFingerprint, ClientFpError, MAX_CLIENT_FP_BYTES};
pub use client_ip::{client_ip, is_trusted};
pub use decide::{decide, decide_if_clean, suspicion, Counts};
pub use difficulty::{price, shadow_lift, Demand, Work, NORMAL_DIFFICULTY, SUB_PUZZLES};
pub use fingerprint::{header_fingerprint, header_hints, ua_family, HeaderHints, UaFamily};
pub use rules::{Rules, VelocityLimit, VelocityLimits};
pub use signals::{ip_subject, HeaderFingerprint, Signals, Subnet, IP_PREFIX_V6};
pub use store::{check_and_join_lua, MemoryGuardStore, RedisGuardStore, CHECK_LUA, MAX_WINDOW_MS};
pub use verdict::{Reason, Verdict, VerdictKind};
