//! `[bot_guard]` (defaults for every room) and `[[room]] bot_guard = { ... }` (a room's
//! overrides, same keys): the rules of the bot guard that come from the file.

use crate::location::Source;
use crate::reader::{Located, Section};
use crate::schema::check;
use crate::{validate, Cidr};

/// Highest difficulty level of a proof-of-work challenge (each level doubles the work; the
/// bot guard's `difficulty` module maps levels to sub-puzzles and bits).
pub const MAX_GUARD_DIFFICULTY: u8 = 12;
/// Most entries of one CIDR or user-agent list.
pub const MAX_GUARD_LIST: usize = 1024;
/// Longest user-agent pattern, in bytes.
pub const MAX_UA_PATTERN_LEN: usize = 128;

pub(crate) const BOT_GUARD_KEYS: &[&str] = &[
    "enabled",
    "max_places_per_ip",
    "max_places_per_fingerprint",
    "allow_cidrs",
    "block_cidrs",
    "block_user_agents",
    "challenge",
    "difficulty_floor",
    "difficulty_cap",
    "velocity_per_ip",
    "velocity_per_subnet",
    "velocity_per_fingerprint",
    "velocity_per_visitor",
];
/// More places per IP than this is a typo.
const MAX_PLACES: i64 = 1_000_000;
/// More requests per velocity window than this is a typo.
pub const MAX_VELOCITY: u32 = 1_000_000;
/// The window every velocity limit counts over.
pub const VELOCITY_WINDOW_SECONDS: u64 = 10;

/// When the guard asks for a proof of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum ChallengeMode {
    /// Never: what would be a challenge is let through (and counted with its reason).
    Off,
    /// When the signals are suspicious, the velocity is over a limit, or demand is high.
    #[default]
    Adaptive,
    /// Every visitor solves one before joining.
    Always,
}

impl ChallengeMode {
    pub const ALLOWED: &'static str = "off, adaptive, always";

    pub fn parse(text: &str) -> Option<ChallengeMode> {
        match text {
            "off" => Some(ChallengeMode::Off),
            "adaptive" => Some(ChallengeMode::Adaptive),
            "always" => Some(ChallengeMode::Always),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeMode::Off => "off",
            ChallengeMode::Adaptive => "adaptive",
            ChallengeMode::Always => "always",
        }
    }
}

/// The guard's rules for one room (`[bot_guard]`, with the room's overrides applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotGuardConfig {
    /// default true
    pub enabled: bool,
    /// Distinct visitors holding places from one IP in one room; default 4.
    pub max_places_per_ip: u32,
    /// Distinct visitors holding places under one header fingerprint (within one subnet) in
    /// one room; default 4.
    pub max_places_per_fingerprint: u32,
    /// Peers never challenged, shadowed or blocked.
    pub allow_cidrs: Vec<Cidr>,
    /// Peers always blocked (checked before `allow_cidrs`).
    pub block_cidrs: Vec<Cidr>,
    /// Case-insensitive substrings of a User-Agent that is blocked; stored lowercased.
    pub block_user_agents: Vec<String>,
    /// default adaptive
    pub challenge: ChallengeMode,
    /// 0..=12, <= difficulty_cap; default 1
    pub difficulty_floor: u8,
    /// 0..=12; default 8
    pub difficulty_cap: u8,
    /// Requests per `VELOCITY_WINDOW_SECONDS` from one IP (an IPv6 client's /64); default 20.
    pub velocity_per_ip: u32,
    /// ... from one subnet (/24, /56); default 200.
    pub velocity_per_subnet: u32,
    /// ... with one header fingerprint within one subnet; default 100.
    pub velocity_per_fingerprint: u32,
    /// ... by one visitor id; default 10.
    pub velocity_per_visitor: u32,
}

impl Default for BotGuardConfig {
    fn default() -> Self {
        BotGuardConfig {
            enabled: true,
            max_places_per_ip: 4,
            max_places_per_fingerprint: 4,
            allow_cidrs: Vec::new(),
            block_cidrs: Vec::new(),
            block_user_agents: Vec::new(),
            challenge: ChallengeMode::Adaptive,
            difficulty_floor: 1,
            difficulty_cap: 8,
            velocity_per_ip: 20,
            velocity_per_subnet: 200,
            velocity_per_fingerprint: 100,
            velocity_per_visitor: 10,
        }
    }
}

/// A room's `bot_guard = { ... }`: each key given replaces the `[bot_guard]` value (lists
/// too: a room's `allow_cidrs` is its whole allow list).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BotGuardOverride {
    pub enabled: Option<bool>,
    pub max_places_per_ip: Option<u32>,
    pub max_places_per_fingerprint: Option<u32>,
    pub allow_cidrs: Option<Vec<Cidr>>,
    pub block_cidrs: Option<Vec<Cidr>>,
    pub block_user_agents: Option<Vec<String>>,
    pub challenge: Option<ChallengeMode>,
    pub difficulty_floor: Option<u8>,
    pub difficulty_cap: Option<u8>,
    pub velocity_per_ip: Option<u32>,
    pub velocity_per_subnet: Option<u32>,
    pub velocity_per_fingerprint: Option<u32>,
    pub velocity_per_visitor: Option<u32>,
}

impl BotGuardConfig {
    /// These rules with a room's overrides applied.
    pub fn with_override(&self, room: &BotGuardOverride) -> BotGuardConfig {
        BotGuardConfig {
            enabled: room.enabled.unwrap_or(self.enabled),
            max_places_per_ip: room.max_places_per_ip.unwrap_or(self.max_places_per_ip),
            max_places_per_fingerprint: room
                .max_places_per_fingerprint
                .unwrap_or(self.max_places_per_fingerprint),
            allow_cidrs: room
                .allow_cidrs
                .clone()
                .unwrap_or_else(|| self.allow_cidrs.clone()),
            block_cidrs: room
                .block_cidrs
                .clone()
                .unwrap_or_else(|| self.block_cidrs.clone()),
            block_user_agents: room
                .block_user_agents
                .clone()
                .unwrap_or_else(|| self.block_user_agents.clone()),
            challenge: room.challenge.unwrap_or(self.challenge),
            difficulty_floor: room.difficulty_floor.unwrap_or(self.difficulty_floor),
            difficulty_cap: room.difficulty_cap.unwrap_or(self.difficulty_cap),
            velocity_per_ip: room.velocity_per_ip.unwrap_or(self.velocity_per_ip),
            velocity_per_subnet: room.velocity_per_subnet.unwrap_or(self.velocity_per_subnet),
            velocity_per_fingerprint: room
                .velocity_per_fingerprint
                .unwrap_or(self.velocity_per_fingerprint),
            velocity_per_visitor: room
                .velocity_per_visitor
                .unwrap_or(self.velocity_per_visitor),
        }
    }
}

/// `[bot_guard]`: the defaults with the section's keys applied.
pub(crate) fn global(src: &Source, section: Option<Section>) -> BotGuardConfig {
    let defaults = BotGuardConfig::default();
    let Some(s) = section else {
        return defaults;
    };
    let given = keys(src, &s);
    let merged = defaults.with_override(&given.values);
    floor_within_cap(src, &merged, &given);
    merged
}

/// A room's `bot_guard = { ... }`, checked against the global rules it overrides.
pub(crate) fn room(src: &Source, section: Section, global: &BotGuardConfig) -> BotGuardOverride {
    let given = keys(src, &section);
    floor_within_cap(src, &global.with_override(&given.values), &given);
    given.values
}

/// The keys of one table, with where the difficulty bounds were written.
struct Given {
    values: BotGuardOverride,
    floor_at: Option<Located<i64>>,
    cap_at: Option<Located<i64>>,
}

fn keys(src: &Source, s: &Section) -> Given {
    s.deny_unknown(src, BOT_GUARD_KEYS);
    // A count from 1 to `max` (both bounds fit a u32).
    let count = |key: &str, max: i64, what: &str| {
        bounded(src, s, key, 1, max, what).map(|at| at.value as u32)
    };
    let places = |key: &str| count(key, MAX_PLACES, "distinct visitors holding places");
    let velocity = |key: &str| count(key, i64::from(MAX_VELOCITY), "requests per 10 seconds");
    let difficulty = |key: &str| {
        bounded(
            src,
            s,
            key,
            0,
            i64::from(MAX_GUARD_DIFFICULTY),
            "difficulty level; each level doubles the work",
        )
    };
    let floor_at = difficulty("difficulty_floor");
    let cap_at = difficulty("difficulty_cap");
    let challenge = src
        .keep(s.string(src, "challenge"))
        .flatten()
        .and_then(|at| {
            let mode = ChallengeMode::parse(&at.value);
            if mode.is_none() {
                src.report(src.error(
                    &at.span,
                    at.path.clone(),
                    format!(
                        "expected one of {}, got {:?}",
                        ChallengeMode::ALLOWED,
                        at.value
                    ),
                ));
            }
            mode
        });
    Given {
        values: BotGuardOverride {
            enabled: s
                .get("enabled")
                .and_then(|f| src.keep(f.boolean(src)))
                .map(|at| at.value),
            max_places_per_ip: places("max_places_per_ip"),
            max_places_per_fingerprint: places("max_places_per_fingerprint"),
            allow_cidrs: list(src, s, "allow_cidrs", Cidr::parse),
            block_cidrs: list(src, s, "block_cidrs", Cidr::parse),
            block_user_agents: list(src, s, "block_user_agents", validate::ua_pattern),
            challenge,
            difficulty_floor: floor_at.as_ref().map(|at| at.value as u8),
            difficulty_cap: cap_at.as_ref().map(|at| at.value as u8),
            velocity_per_ip: velocity("velocity_per_ip"),
            velocity_per_subnet: velocity("velocity_per_subnet"),
            velocity_per_fingerprint: velocity("velocity_per_fingerprint"),
            velocity_per_visitor: velocity("velocity_per_visitor"),
        },
        floor_at,
        cap_at,
    }
}

/// A floor above the cap is reported at whichever bound this table wrote (the floor first).
fn floor_within_cap(src: &Source, merged: &BotGuardConfig, given: &Given) {
    if merged.difficulty_floor <= merged.difficulty_cap {
        return;
    }
    let Some(at) = given.floor_at.as_ref().or(given.cap_at.as_ref()) else {
        return;
    };
    src.report(src.error(
        &at.span,
        at.path.clone(),
        format!(
            "difficulty_floor ({}) must not exceed difficulty_cap ({})",
            merged.difficulty_floor, merged.difficulty_cap
        ),
    ));
}

/// An integer in `min..=max` when given; None when absent or reported.
fn bounded(
    src: &Source,
    s: &Section,
    key: &str,
    min: i64,
    max: i64,
    unit: &str,
) -> Option<Located<i64>> {
    let f = s.get(key)?;
    src.keep(f.integer(src).and_then(|at| {
        validate::int_range(at.value, min, max, unit)
            .map(|_| at.clone())
            .map_err(|m| src.error(&at.span, at.path.clone(), m))
    }))
}

/// A list of strings each checked by `rule`; duplicates and overlong lists are reported.
fn list<T: PartialEq>(
    src: &Source,
    s: &Section,
    key: &str,
    rule: fn(&str) -> Result<T, String>,
) -> Option<Vec<T>> {
    let field = s.get(key)?;
    let strings = src.keep(field.strings(src))?;
    if strings.given > MAX_GUARD_LIST {
        src.report(src.error(
            &field.span,
            field.path.clone(),
            format!("at most {MAX_GUARD_LIST} entries, got {}", strings.given),
        ));
    }
    let mut out: Vec<T> = Vec::new();
    for at in strings.items {
        let Some(value) = check(src, &at, rule) else {
            continue;
        };
        if out.contains(&value) {
            src.report(src.error(
                &at.span,
                at.path.clone(),
                format!("{:?} is listed twice", at.value),
            ));
        } else {
            out.push(value);
        }
    }
    Some(out)
}

/// `[listen] trusted_proxies`.
pub(crate) fn trusted_proxies(src: &Source, s: &Section) -> Vec<Cidr> {
    list(src, s, "trusted_proxies", Cidr::parse).unwrap_or_default()
}
