//! A room's guard rules: the config's (`[bot_guard]` with the room's overrides, velocity
//! limits included) plus the thresholds that have defaults only, and the store check they imply.

use std::net::IpAddr;

use anteroom_config::{BotGuardConfig, BotGuardOverride, VELOCITY_WINDOW_SECONDS};

use crate::signals::Signals;
use crate::store::{GuardCheck, PlaceCheck, PlaceSubject, VelocityCheck};

/// At most `limit` requests per `window_ms` from one subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VelocityLimit {
    pub limit: u32,
    pub window_ms: u64,
}

/// Join velocity limits per subject kind. Over a limit is "moderate" (a challenge); at
/// `heavy_factor` times the limit it is "heavy" (the IP or visitor is shadowed). Subnet and
/// fingerprint are shared by many real people (a campus, one popular browser build), so
/// they only ever lead to a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VelocityLimits {
    pub ip: VelocityLimit,
    pub subnet: VelocityLimit,
    pub fingerprint: VelocityLimit,
    pub visitor: VelocityLimit,
}

impl Default for VelocityLimits {
    fn default() -> Self {
        VelocityLimits::from_config(&BotGuardConfig::default())
    }
}

impl VelocityLimits {
    /// The room's `velocity_per_*` settings, each per `VELOCITY_WINDOW_SECONDS`.
    pub fn from_config(config: &BotGuardConfig) -> VelocityLimits {
        let per_window = |limit| VelocityLimit {
            limit,
            window_ms: VELOCITY_WINDOW_SECONDS * 1000,
        };
        VelocityLimits {
            ip: per_window(config.velocity_per_ip),
            subnet: per_window(config.velocity_per_subnet),
            fingerprint: per_window(config.velocity_per_fingerprint),
            visitor: per_window(config.velocity_per_visitor),
        }
    }
}

/// A room's rules: its config (`[bot_guard]` with the room's overrides, the velocity limits
/// among them) and the thresholds that have defaults only.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub config: BotGuardConfig,
    pub velocity: VelocityLimits,
    /// Times a velocity limit that counts as heavy (default 3).
    pub heavy_factor: u32,
    /// Suspicion score from which `adaptive` challenges (default 40: a library or headless
    /// User-Agent, `webdriver`, or two lesser hints together).
    pub challenge_score: u8,
    /// Expected wait (seconds) from which `adaptive` challenges everyone (default 300).
    pub demand_wait_seconds: f64,
}

pub const DEFAULT_HEAVY_FACTOR: u32 = 3;
pub const DEFAULT_CHALLENGE_SCORE: u8 = 40;
pub const DEFAULT_DEMAND_WAIT_SECONDS: f64 = 300.0;

impl Rules {
    /// The rules of a room: `[bot_guard]` with the room's `bot_guard = { ... }` applied.
    pub fn for_room(global: &BotGuardConfig, room: &BotGuardOverride) -> Rules {
        Rules::from_config(global.with_override(room))
    }

    pub fn from_config(config: BotGuardConfig) -> Rules {
        Rules {
            velocity: VelocityLimits::from_config(&config),
            config,
            heavy_factor: DEFAULT_HEAVY_FACTOR,
            challenge_score: DEFAULT_CHALLENGE_SCORE,
            demand_wait_seconds: DEFAULT_DEMAND_WAIT_SECONDS,
        }
    }

    pub fn allow_listed(&self, ip: IpAddr) -> bool {
        self.config.allow_cidrs.iter().any(|c| c.contains(ip))
    }

    pub fn block_listed(&self, ip: IpAddr) -> bool {
        self.config.block_cidrs.iter().any(|c| c.contains(ip))
    }

    /// `user_agent_lower` contains a blocked pattern.
    pub fn user_agent_blocked(&self, user_agent_lower: &str) -> bool {
        self.config
            .block_user_agents
            .iter()
            .any(|p| user_agent_lower.contains(p.as_str()))
    }

    /// The difficulty bounds, a cap below the floor read as the floor (config refuses it).
    pub fn difficulty_bounds(&self) -> (u8, u8) {
        let floor = self.config.difficulty_floor;
        (floor, self.config.difficulty_cap.max(floor))
    }

    /// What to count one join against, in one store round trip: velocity per IP, subnet,
    /// fingerprint and visitor (in that order — `Counts::from_store` reads them so), and a
    /// place under the IP and under the fingerprint-in-subnet, held `hold_ms` (the room's
    /// abandonment time) after it was last counted. A visitor id made on this request
    /// (`fresh_visitor`) has no past to count: its counter would read 1 and be kept in the
    /// store for nobody (a cookie-less farm makes a new id per request), so it is left out
    /// and reads 0; the id's own counter starts with its first request that carries it.
    pub fn guard_check(&self, signals: &Signals, hold_ms: u64, fresh_visitor: bool) -> GuardCheck {
        let velocity = |subject: String, limit: VelocityLimit| VelocityCheck {
            subject,
            limit: limit.limit,
            window_ms: limit.window_ms,
        };
        // Each subject's text is made once: this runs for every visitor who meets the guard.
        let ip = signals.ip_subject();
        let fingerprint_in_subnet = signals.fingerprint_in_subnet_subject();
        let mut counters = vec![
            velocity(ip.clone(), self.velocity.ip),
            velocity(signals.subnet_subject(), self.velocity.subnet),
            // The fingerprint within its subnet, as for places: one popular browser build is
            // shared by thousands of fans arriving in the same second at a big sale; counted
            // globally it would challenge them all.
            velocity(fingerprint_in_subnet.clone(), self.velocity.fingerprint),
        ];
        if !fresh_visitor {
            counters.push(velocity(signals.visitor_subject(), self.velocity.visitor));
        }
        GuardCheck {
            velocity: counters,
            places: Some(PlaceCheck {
                visitor: signals.visitor,
                // Each subject its own maximum: a shared network (carrier-grade NAT, a campus)
                // raises the IP's without lifting the fingerprint's.
                subjects: vec![
                    PlaceSubject::new(ip, self.config.max_places_per_ip),
                    PlaceSubject::new(
                        fingerprint_in_subnet,
                        self.config.max_places_per_fingerprint,
                    ),
                ],
                hold_ms,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anteroom_admission::VisitorId;
    use anteroom_config::{ChallengeMode, Cidr};

    fn cidr(s: &str) -> Cidr {
        Cidr::parse(s).unwrap()
    }

    #[test]
    fn for_room_applies_the_override() {
        let global = BotGuardConfig {
            block_user_agents: vec!["curl/".into()],
            ..BotGuardConfig::default()
        };
        let room = BotGuardOverride {
            challenge: Some(ChallengeMode::Always),
            difficulty_floor: Some(3),
            allow_cidrs: Some(vec![cidr("10.0.0.0/8")]),
            ..BotGuardOverride::default()
        };
        let rules = Rules::for_room(&global, &room);
        assert_eq!(rules.config.challenge, ChallengeMode::Always);
        assert_eq!(rules.difficulty_bounds(), (3, 8));
        assert!(rules.allow_listed("10.9.9.9".parse().unwrap()));
        assert!(!rules.allow_listed("11.0.0.1".parse().unwrap()));
        assert!(rules.user_agent_blocked("curl/8.5.0"));
        assert!(!rules.user_agent_blocked("mozilla/5.0"));
        assert_eq!(
            Rules::for_room(&global, &BotGuardOverride::default())
                .config
                .challenge,
            ChallengeMode::Adaptive
        );
    }

    #[test]
    fn guard_check_counts_every_subject_in_order() {
        let rules = Rules::from_config(BotGuardConfig {
            max_places_per_ip: 2,
            max_places_per_fingerprint: 5,
            ..BotGuardConfig::default()
        });
        let headers: &[(&str, &[u8])] = &[("user-agent", b"curl/8")];
        let s = Signals::from_request("203.0.113.9".parse().unwrap(), headers, VisitorId([1; 16]));
        let check = rules.guard_check(&s, 120_000, false);
        let subjects: Vec<&str> = check.velocity.iter().map(|v| v.subject.as_str()).collect();
        assert_eq!(
            subjects,
            vec![
                "ip:203.0.113.9".to_string(),
                "net:203.0.113.0/24".to_string(),
                s.fingerprint_in_subnet_subject(),
                s.visitor_subject()
            ]
        );
        assert_eq!(check.velocity[0].limit, 20);
        // The limits come from the room's config.
        let busy_nat = Rules::from_config(BotGuardConfig {
            velocity_per_ip: 400,
            velocity_per_fingerprint: 150,
            ..BotGuardConfig::default()
        })
        .guard_check(&s, 120_000, false);
        let limits: Vec<(u32, u64)> = busy_nat
            .velocity
            .iter()
            .map(|v| (v.limit, v.window_ms))
            .collect();
        assert_eq!(
            limits,
            vec![(400, 10_000), (200, 10_000), (150, 10_000), (10, 10_000)]
        );
        let places = check.places.clone().unwrap();
        assert_eq!(places.hold_ms, 120_000);
        // Each subject with its own maximum.
        assert_eq!(places.subjects[0], PlaceSubject::new("ip:203.0.113.9", 2));
        assert!(places.subjects[1].subject.starts_with("fpnet:"));
        assert_eq!(places.subjects[1].max, 5);
        // A visitor id made on this request is not counted (it has no past).
        let fresh = rules.guard_check(&s, 120_000, true);
        assert_eq!(fresh.velocity.len(), 3);
        assert_eq!(fresh.velocity[..], check.velocity[..3]);
        assert_eq!(fresh.places, check.places);
    }
}
