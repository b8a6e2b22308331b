//! Anteroom's configuration: the gateway TOML schema of the public contract, its defaults,
//! and validation whose every error names the file, line, field and what is allowed. Every
//! problem of a file is reported at once (`ConfigError::Several`), not just the first.
//! Secrets are resolved here (`env:NAME` or a literal of at least 32 bytes) so the rest of
//! the system only ever sees bytes.
//!
//! Entry points: [`load_gateway_config`] (a file) and [`parse_gateway_config`] (text); the
//! booking service's [`load_booking_config`] shares the same section parsers.
//! Unknown keys are errors, never ignored. The reference is `docs/config.md`; a complete
//! example is `config/examples/gateway.toml`.

mod booking;
mod bot_guard;
mod cidr;
mod error;
mod gateway;
mod location;
mod log;
mod page_template;
mod reader;
mod room_paths;
mod schema;
mod secret;
mod syntax;
mod validate;

pub use booking::*;
pub use bot_guard::{
    BotGuardConfig, BotGuardOverride, ChallengeMode, MAX_GUARD_DIFFICULTY, MAX_GUARD_LIST,
    MAX_UA_PATTERN_LEN, MAX_VELOCITY, VELOCITY_WINDOW_SECONDS,
};
pub use cidr::{mask as cidr_mask, Cidr};
pub use error::{ConfigError, LocatedError};
pub use gateway::*;
pub use log::{LogConfig, LogFormat, LogLevel};
pub use page_template::{template_slots, PageTemplate, MAX_TEMPLATE_BYTES, PAGE_PLACEHOLDERS};
pub use room_paths::prefix_matches;
pub use secret::EnvLookup;
pub use validate::{MAX_WAITLIST_URL_LEN, PATH_PUNCTUATION, REDIS_SCHEMES};

#[cfg(test)]
mod tests;
