//! The verdict engine: signals, counts and rules in, a verdict out. Pure and cheap (under a
//! microsecond; see `benches/verdict.rs`). The policy, in order — the first that applies:
//!
//! 1. the guard is off for the room → allow (`guard_off`);
//! 2. the IP is block-listed → block (`block_listed`); the User-Agent matches a blocked
//!    pattern → block (`blocked_user_agent`);
//! 3. the IP is allow-listed → allow (`allow_listed`);
//! 4. no place left under the IP or the fingerprint → shadow (`places_ip`,
//!    `places_fingerprint`);
//! 5. shadowed earlier → allow (`challenge_solved`) with a proof at the shadow-lift level
//!    (the gateway then lifts the shadow), else shadow (`shadowed`);
//! 6. heavy velocity (≥ `heavy_factor` × the limit) of the visitor or the IP → shadow
//!    (`velocity_visitor`, `velocity_ip`);
//! 7. a reason to challenge — a velocity limit passed (`velocity_visitor`, `velocity_ip`,
//!    `velocity_fingerprint`, `velocity_subnet`), a suspicion score ≥ `challenge_score`
//!    (`headless`, `suspicious_client`, `suspicious_headers`), `challenge = always`
//!    (`challenge_always`), or in `adaptive` an expected wait ≥ `demand_wait_seconds`
//!    (`demand`) — → allow (`challenge_solved`) with a proof at the priced level, else
//!    challenge at that level; with `challenge = off`, allow with the reason (counted, so an
//!    operator sees what a challenge would have caught);
//! 8. otherwise allow (`clean`).

use anteroom_config::ChallengeMode;

use crate::difficulty::{price, shadow_lift, Demand};
use crate::rules::{Rules, VelocityLimit};
use crate::signals::Signals;
use crate::store::GuardCounts;
use crate::verdict::{Reason, Verdict};

/// The store's answer for this request, as the policy reads it (`GuardStore::check_and_join`,
/// or `check` and `is_shadowed`, with `Rules::guard_check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Requests in the current window, this one included, per subject kind.
    pub ip: u32,
    pub subnet: u32,
    pub fingerprint: u32,
    pub visitor: u32,
    /// Distinct visitors holding places under the IP / the fingerprint in the subnet.
    pub holders_ip: u32,
    pub holders_fingerprint: u32,
    /// The visitor holds (or just took) a place under every subject.
    pub place_allowed: bool,
    pub shadowed: bool,
}

impl Default for Counts {
    /// Nothing counted: what a request the store could not count looks like.
    fn default() -> Self {
        Counts {
            ip: 0,
            subnet: 0,
            fingerprint: 0,
            visitor: 0,
            holders_ip: 0,
            holders_fingerprint: 0,
            place_allowed: true,
            shadowed: false,
        }
    }
}

impl Counts {
    /// From the store's counts of a `Rules::guard_check` (velocity: ip, subnet,
    /// fingerprint, visitor; places: ip, fingerprint-in-subnet); missing entries read as 0.
    pub fn from_store(counts: &GuardCounts, shadowed: bool) -> Counts {
        let velocity = |i: usize| counts.velocity.get(i).map_or(0, |v| v.count);
        let holders = |i: usize| {
            counts
                .holders
                .as_ref()
                .and_then(|h| h.get(i).copied())
                .unwrap_or(0)
        };
        Counts {
            ip: velocity(0),
            subnet: velocity(1),
            fingerprint: velocity(2),
            visitor: velocity(3),
            holders_ip: holders(0),
            holders_fingerprint: holders(1),
            place_allowed: counts.place_allowed || counts.holders.is_none(),
            shadowed,
        }
    }
}

/// The suspicion score of a request, 0..=100: its headers' hints plus its client report's.
pub fn suspicion(signals: &Signals) -> u8 {
    let client = signals
        .client
        .as_ref()
        .map_or(0, |c| c.suspicion(signals.ua_family));
    signals.hints.suspicion().saturating_add(client).min(100)
}

/// Which kind of suspicion dominates, for the reason label.
fn suspicion_reason(signals: &Signals) -> Reason {
    let client = signals
        .client
        .as_ref()
        .map_or(0, |c| c.suspicion(signals.ua_family));
    let driven = signals
        .client
        .as_ref()
        .is_some_and(|c| c.webdriver == Some(true));
    if signals.hints.headless || driven {
        Reason::Headless
    } else if client > signals.hints.suspicion() {
        Reason::SuspiciousClient
    } else {
        Reason::SuspiciousHeaders
    }
}

fn over(count: u32, limit: VelocityLimit) -> bool {
    count > limit.limit
}

fn heavy(count: u32, limit: VelocityLimit, factor: u32) -> bool {
    u64::from(count) >= u64::from(limit.limit) * u64::from(factor.max(1)) && over(count, limit)
}

/// The verdict for a request whose counts are clean — every velocity counter within its
/// limit, a place allowed, not shadowed (`GuardCounts::is_clean`): no count is read then, so
/// it is known before the store is asked. When it is `allow`, the gateway asks the store to
/// join in the same round trip as the check (`GuardStore::check_and_join`): the store joins
/// only when the counts come back clean, so the verdict is this one.
pub fn decide_if_clean(signals: &Signals, rules: &Rules, demand: &Demand) -> Verdict {
    decide(signals, &Counts::default(), rules, demand)
}

/// The verdict for one request.
pub fn decide(signals: &Signals, counts: &Counts, rules: &Rules, demand: &Demand) -> Verdict {
    if !rules.config.enabled {
        return Verdict::allow(Reason::GuardOff);
    }
    if rules.block_listed(signals.ip) {
        return Verdict::block(Reason::BlockListed);
    }
    if rules.user_agent_blocked(&signals.user_agent) {
        return Verdict::block(Reason::BlockedUserAgent);
    }
    if rules.allow_listed(signals.ip) {
        return Verdict::allow(Reason::AllowListed);
    }
    if !counts.place_allowed {
        return Verdict::shadow(if counts.holders_ip >= rules.config.max_places_per_ip {
            Reason::PlacesIp
        } else {
            Reason::PlacesFingerprint
        });
    }
    let score = suspicion(signals);
    let (floor, cap) = rules.difficulty_bounds();
    let level = price(demand, score, floor, cap);
    let proof = signals.proof.unwrap_or(0);
    if counts.shadowed {
        return if signals.proof.is_some() && proof >= shadow_lift(level, cap) {
            Verdict::allow(Reason::ChallengeSolved)
        } else {
            Verdict::shadow(Reason::Shadowed)
        };
    }
    let v = &rules.velocity;
    if heavy(counts.visitor, v.visitor, rules.heavy_factor) {
        return Verdict::shadow(Reason::VelocityVisitor);
    }
    if heavy(counts.ip, v.ip, rules.heavy_factor) {
        return Verdict::shadow(Reason::VelocityIp);
    }
    let challenge_reason = if over(counts.visitor, v.visitor) {
        Some(Reason::VelocityVisitor)
    } else if over(counts.ip, v.ip) {
        Some(Reason::VelocityIp)
    } else if over(counts.fingerprint, v.fingerprint) {
        Some(Reason::VelocityFingerprint)
    } else if over(counts.subnet, v.subnet) {
        Some(Reason::VelocitySubnet)
    } else if score >= rules.challenge_score {
        Some(suspicion_reason(signals))
    } else if rules.config.challenge == ChallengeMode::Always {
        Some(Reason::ChallengeAlways)
    } else if rules.config.challenge == ChallengeMode::Adaptive
        && demand.expected_wait_seconds() >= rules.demand_wait_seconds
    {
        Some(Reason::Demand)
    } else {
        None
    };
    match challenge_reason {
        None => Verdict::allow(Reason::Clean),
        Some(reason) if rules.config.challenge == ChallengeMode::Off => Verdict::allow(reason),
        Some(_) if signals.proof.is_some() && proof >= level => {
            Verdict::allow(Reason::ChallengeSolved)
        }
        Some(reason) => Verdict::challenge(level, reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_fp::ClientFingerprint;
    use crate::rules::DEFAULT_CHALLENGE_SCORE;
    use crate::store::{GuardCounts, VelocityResult};
    use crate::verdict::VerdictKind;
    use anteroom_admission::VisitorId;
    use anteroom_config::{BotGuardConfig, Cidr};

    const CHROME: &[(&str, &[u8])] = &[
        ("host", b"tickets.example.com"),
        ("sec-ch-ua", b"\"Chromium\";v=\"131\""),
        (
            "user-agent",
            b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0.0.0 Safari/537.36",
        ),
        ("accept", b"text/html"),
        ("sec-fetch-mode", b"navigate"),
        ("accept-encoding", b"gzip, br"),
        ("accept-language", b"en-US,en;q=0.9"),
    ];
    const CURL: &[(&str, &[u8])] = &[
        ("host", b"x"),
        ("user-agent", b"curl/8.5.0"),
        ("accept", b"*/*"),
    ];

    fn signals(headers: &[(&str, &[u8])]) -> Signals {
        Signals::from_request("198.51.100.7".parse().unwrap(), headers, VisitorId([9; 16]))
    }

    fn rules() -> Rules {
        Rules::from_config(BotGuardConfig::default())
    }

    fn calm() -> Demand {
        Demand {
            queue_length: 10,
            admit_per_second: 50.0,
        }
    }

    fn verdict(s: &Signals, c: &Counts, r: &Rules) -> Verdict {
        decide(s, c, r, &calm())
    }

    #[test]
    fn a_real_browser_at_a_normal_pace_is_allowed_clean() {
        let counts = Counts {
            ip: 1,
            subnet: 3,
            fingerprint: 2,
            visitor: 1,
            holders_ip: 1,
            holders_fingerprint: 1,
            ..Counts::default()
        };
        assert_eq!(
            verdict(&signals(CHROME), &counts, &rules()),
            Verdict::allow(Reason::Clean)
        );
    }

    #[test]
    fn lists_come_first_block_before_allow() {
        let mut r = rules();
        r.config.allow_cidrs = vec![Cidr::parse("198.51.100.0/24").unwrap()];
        let flooding = Counts {
            ip: 10_000,
            place_allowed: false,
            ..Counts::default()
        };
        assert_eq!(
            verdict(&signals(CURL), &flooding, &r),
            Verdict::allow(Reason::AllowListed)
        );
        r.config.block_cidrs = vec![Cidr::parse("198.51.100.7").unwrap()];
        assert_eq!(
            verdict(&signals(CHROME), &Counts::default(), &r),
            Verdict::block(Reason::BlockListed)
        );
        let mut r = rules();
        r.config.block_user_agents = vec!["curl/".into()];
        assert_eq!(
            verdict(&signals(CURL), &Counts::default(), &r),
            Verdict::block(Reason::BlockedUserAgent)
        );
        r.config.enabled = false;
        assert_eq!(
            verdict(&signals(CURL), &Counts::default(), &r),
            Verdict::allow(Reason::GuardOff)
        );
    }

    #[test]
    fn no_place_left_shadows_naming_the_full_subject() {
        let by_ip = Counts {
            holders_ip: 4,
            holders_fingerprint: 2,
            place_allowed: false,
            ..Counts::default()
        };
        assert_eq!(
            verdict(&signals(CHROME), &by_ip, &rules()),
            Verdict::shadow(Reason::PlacesIp)
        );
        let by_fp = Counts {
            holders_ip: 1,
            holders_fingerprint: 4,
            place_allowed: false,
            ..Counts::default()
        };
        assert_eq!(
            verdict(&signals(CHROME), &by_fp, &rules()),
            Verdict::shadow(Reason::PlacesFingerprint)
        );
        let mut solved = signals(CHROME);
        solved.proof = Some(12);
        assert_eq!(
            verdict(&solved, &by_ip, &rules()).kind,
            VerdictKind::Shadow,
            "a proof buys no extra place"
        );
    }

    #[test]
    fn velocity_moderate_challenges_heavy_shadows_shared_subjects_only_challenge() {
        let r = rules();
        let s = signals(CHROME);
        let at = |c: Counts| verdict(&s, &c, &r);
        assert_eq!(
            at(Counts {
                ip: 20,
                ..Counts::default()
            }),
            Verdict::allow(Reason::Clean)
        );
        assert_eq!(
            at(Counts {
                ip: 21,
                ..Counts::default()
            })
            .reason,
            Reason::VelocityIp
        );
        assert!(matches!(
            at(Counts {
                ip: 21,
                ..Counts::default()
            })
            .kind,
            VerdictKind::Challenge { .. }
        ));
        assert_eq!(
            at(Counts {
                ip: 60,
                ..Counts::default()
            }),
            Verdict::shadow(Reason::VelocityIp)
        );
        assert_eq!(
            at(Counts {
                visitor: 11,
                ..Counts::default()
            })
            .reason,
            Reason::VelocityVisitor
        );
        assert_eq!(
            at(Counts {
                visitor: 30,
                ..Counts::default()
            }),
            Verdict::shadow(Reason::VelocityVisitor)
        );
        let subnet = at(Counts {
            subnet: 100_000,
            ..Counts::default()
        });
        assert_eq!(subnet.reason, Reason::VelocitySubnet);
        assert!(
            matches!(subnet.kind, VerdictKind::Challenge { .. }),
            "never shadowed for its network"
        );
        let fp = at(Counts {
            fingerprint: 100_000,
            ..Counts::default()
        });
        assert_eq!(fp.reason, Reason::VelocityFingerprint);
        assert!(matches!(fp.kind, VerdictKind::Challenge { .. }));
    }

    #[test]
    fn suspicion_challenges_and_prices_harder() {
        let r = rules();
        let curl = verdict(&signals(CURL), &Counts::default(), &r);
        assert_eq!(curl.reason, Reason::SuspiciousHeaders);
        let mut headless = signals(CHROME);
        headless.client = Some(ClientFingerprint {
            webdriver: Some(true),
            ..ClientFingerprint::default()
        });
        let v = verdict(&headless, &Counts::default(), &r);
        assert_eq!(v.reason, Reason::Headless);
        let clean_level = match verdict(
            &signals(CHROME),
            &Counts {
                ip: 21,
                ..Counts::default()
            },
            &r,
        )
        .kind
        {
            VerdictKind::Challenge { difficulty } => difficulty,
            other => panic!("{other:?}"),
        };
        match v.kind {
            VerdictKind::Challenge { difficulty } => assert!(difficulty > clean_level),
            other => panic!("{other:?}"),
        }
        let mut odd_client = signals(CHROME);
        odd_client.client = Some(ClientFingerprint::default());
        assert_eq!(
            verdict(&odd_client, &Counts::default(), &r).reason,
            Reason::SuspiciousClient
        );
    }

    #[test]
    fn a_proof_at_the_price_passes_a_lower_one_does_not() {
        let r = rules();
        let mut s = signals(CURL);
        let level = match verdict(&s, &Counts::default(), &r).kind {
            VerdictKind::Challenge { difficulty } => difficulty,
            other => panic!("{other:?}"),
        };
        s.proof = Some(level - 1);
        assert!(matches!(
            verdict(&s, &Counts::default(), &r).kind,
            VerdictKind::Challenge { .. }
        ));
        s.proof = Some(level);
        assert_eq!(
            verdict(&s, &Counts::default(), &r),
            Verdict::allow(Reason::ChallengeSolved)
        );
    }

    #[test]
    fn shadowed_stays_shadowed_until_a_harder_proof() {
        let r = rules();
        let shadowed = Counts {
            shadowed: true,
            ..Counts::default()
        };
        let mut s = signals(CHROME);
        assert_eq!(
            verdict(&s, &shadowed, &r),
            Verdict::shadow(Reason::Shadowed)
        );
        let price = crate::difficulty::price(
            &calm(),
            0,
            r.config.difficulty_floor,
            r.config.difficulty_cap,
        );
        s.proof = Some(price);
        assert_eq!(
            verdict(&s, &shadowed, &r),
            Verdict::shadow(Reason::Shadowed),
            "the normal price is not enough"
        );
        s.proof = Some(shadow_lift(price, r.config.difficulty_cap));
        assert_eq!(
            verdict(&s, &shadowed, &r),
            Verdict::allow(Reason::ChallengeSolved)
        );
    }

    #[test]
    fn challenge_modes() {
        let mut r = rules();
        r.config.challenge = ChallengeMode::Always;
        let v = verdict(&signals(CHROME), &Counts::default(), &r);
        assert_eq!(
            v,
            Verdict::challenge(r.config.difficulty_floor, Reason::ChallengeAlways)
        );
        r.config.challenge = ChallengeMode::Off;
        assert_eq!(
            verdict(&signals(CURL), &Counts::default(), &r),
            Verdict::allow(Reason::SuspiciousHeaders)
        );
        assert_eq!(
            verdict(
                &signals(CHROME),
                &Counts {
                    ip: 60,
                    ..Counts::default()
                },
                &r
            ),
            Verdict::shadow(Reason::VelocityIp),
            "off turns challenges off, not limits"
        );
        let long_queue = Demand {
            queue_length: 1_000_000,
            admit_per_second: 50.0,
        };
        assert_eq!(
            decide(&signals(CHROME), &Counts::default(), &r, &long_queue),
            Verdict::allow(Reason::Clean)
        );
        r.config.challenge = ChallengeMode::Adaptive;
        let v = decide(&signals(CHROME), &Counts::default(), &r, &long_queue);
        assert_eq!(v.reason, Reason::Demand);
        assert!(
            matches!(v.kind, VerdictKind::Challenge { difficulty } if difficulty > r.config.difficulty_floor)
        );
    }

    #[test]
    fn counts_from_the_store_follow_the_guard_check_order() {
        let result = |count| VelocityResult {
            count,
            retry_after_ms: None,
        };
        let store = GuardCounts {
            velocity: vec![result(1), result(2), result(3), result(4)],
            holders: Some(vec![5, 6]),
            place_allowed: false,
        };
        let c = Counts::from_store(&store, true);
        assert_eq!((c.ip, c.subnet, c.fingerprint, c.visitor), (1, 2, 3, 4));
        assert_eq!((c.holders_ip, c.holders_fingerprint), (5, 6));
        assert!(!c.place_allowed && c.shadowed);
        let none = Counts::from_store(&GuardCounts::default(), false);
        assert_eq!(none, Counts::default(), "no place check: nothing to refuse");
    }

    /// Real browsers' navigation headers, over TLS and (without `sec-*`) over plain HTTP.
    fn browsers() -> Vec<Vec<(&'static str, &'static [u8])>> {
        let firefox: Vec<(&str, &[u8])> = vec![
            ("host", b"x"),
            (
                "user-agent",
                b"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
            ),
            ("accept", b"text/html,application/xhtml+xml"),
            ("accept-language", b"de-DE,de;q=0.8"),
            ("accept-encoding", b"gzip, deflate, br, zstd"),
            ("sec-fetch-dest", b"document"),
            ("sec-fetch-mode", b"navigate"),
        ];
        let safari: Vec<(&str, &[u8])> = vec![
            ("host", b"x"),
            ("accept", b"text/html"),
            ("sec-fetch-site", b"none"),
            ("accept-language", b"en-GB,en;q=0.9"),
            ("user-agent", b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"),
            ("accept-encoding", b"gzip, deflate, br"),
        ];
        let plain_http_chrome: Vec<(&str, &[u8])> = CHROME
            .iter()
            .filter(|(n, _)| !n.starts_with("sec-"))
            .copied()
            .collect();
        let plain_http_firefox: Vec<(&str, &[u8])> = firefox
            .iter()
            .filter(|(n, _)| !n.starts_with("sec-"))
            .copied()
            .collect();
        vec![
            CHROME.to_vec(),
            firefox,
            safari,
            plain_http_chrome,
            plain_http_firefox,
        ]
    }

    #[test]
    fn real_browsers_are_clean_over_tls_and_plain_http() {
        let phone = ClientFingerprint::parse(br#"{"webdriver":false,"timezone":"Europe/Berlin","languages":["de-DE"],"screenWidth":390,"screenHeight":844,"hardwareConcurrency":6,"touchPoints":5,"platform":"iPhone","plugins":0}"#).unwrap();
        for headers in browsers() {
            let mut s = signals(&headers);
            assert!(suspicion(&s) < DEFAULT_CHALLENGE_SCORE, "{headers:?}");
            assert_eq!(
                verdict(&s, &Counts::default(), &rules()),
                Verdict::allow(Reason::Clean)
            );
            s.client = Some(phone.clone());
            assert_eq!(
                verdict(&s, &Counts::default(), &rules()),
                Verdict::allow(Reason::Clean)
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn verdicts_keep_their_invariants(
            ip in proptest::prelude::any::<u32>(),
            (a, b, c, d) in proptest::prelude::any::<(u32, u32, u32, u32)>(),
            (hi, hf) in proptest::prelude::any::<(u32, u32)>(),
            place_allowed in proptest::prelude::any::<bool>(),
            shadowed in proptest::prelude::any::<bool>(),
            queue in proptest::prelude::any::<u64>(),
            rate in proptest::prelude::any::<f64>(),
            proof in proptest::prelude::any::<Option<u8>>(),
            curl in proptest::prelude::any::<bool>(),
            mode in 0u8..3,
        ) {
            let mut s = signals(if curl { CURL } else { CHROME });
            s.ip = std::net::IpAddr::V4(ip.into());
            s.proof = proof;
            let counts = Counts { ip: a, subnet: b, fingerprint: c, visitor: d, holders_ip: hi, holders_fingerprint: hf, place_allowed, shadowed };
            let demand = Demand { queue_length: queue, admit_per_second: rate };
            let mut r = rules();
            r.config.challenge = [ChallengeMode::Off, ChallengeMode::Adaptive, ChallengeMode::Always][usize::from(mode)];
            let v = decide(&s, &counts, &r, &demand);
            if let VerdictKind::Challenge { difficulty } = v.kind {
                proptest::prop_assert!((r.config.difficulty_floor..=r.config.difficulty_cap).contains(&difficulty));
                proptest::prop_assert!(r.config.challenge != ChallengeMode::Off);
            }
            if !place_allowed {
                proptest::prop_assert_eq!(v.kind, VerdictKind::Shadow);
            }
            r.config.allow_cidrs = vec![Cidr::parse("0.0.0.0/0").unwrap()];
            proptest::prop_assert_eq!(decide(&s, &counts, &r, &demand), Verdict::allow(Reason::AllowListed));
            r.config.block_cidrs = vec![Cidr::parse("0.0.0.0/0").unwrap()];
            proptest::prop_assert_eq!(decide(&s, &counts, &r, &demand), Verdict::block(Reason::BlockListed));
        }
    }

    proptest::proptest! {
        /// What lets the gateway join before the verdict: with clean counts (every counter
        /// within its limit, a place, no shadow) the verdict reads no count, so it is
        /// `decide_if_clean`'s, whatever the counts, holders, proof, demand and mode.
        #[test]
        fn with_clean_counts_the_verdict_is_decide_if_clean(
            ip in proptest::prelude::any::<u32>(),
            (a, b, c, d) in (0u32..=20, 0u32..=200, 0u32..=100, 0u32..=10),
            (hi, hf) in proptest::prelude::any::<(u32, u32)>(),
            queue in proptest::prelude::any::<u64>(),
            rate in proptest::prelude::any::<f64>(),
            proof in proptest::prelude::any::<Option<u8>>(),
            curl in proptest::prelude::any::<bool>(),
            mode in 0u8..3,
            listed in 0u8..3,
        ) {
            let mut s = signals(if curl { CURL } else { CHROME });
            s.ip = std::net::IpAddr::V4(ip.into());
            s.proof = proof;
            let counts = Counts { ip: a, subnet: b, fingerprint: c, visitor: d, holders_ip: hi, holders_fingerprint: hf, place_allowed: true, shadowed: false };
            let demand = Demand { queue_length: queue, admit_per_second: rate };
            let mut r = rules();
            r.config.challenge = [ChallengeMode::Off, ChallengeMode::Adaptive, ChallengeMode::Always][usize::from(mode)];
            let everyone = vec![Cidr::parse("0.0.0.0/0").unwrap()];
            match listed {
                1 => r.config.allow_cidrs = everyone,
                2 => r.config.block_cidrs = everyone,
                _ => {}
            }
            proptest::prop_assert_eq!(decide(&s, &counts, &r, &demand), decide_if_clean(&s, &r, &demand));
        }
    }
}
