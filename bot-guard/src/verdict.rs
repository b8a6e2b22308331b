//! What the guard decides about a request, and why, from bounded sets (metric labels of
//! `anteroom_bot_verdicts_total{room,verdict,reason}`).

/// What happens to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerdictKind {
    /// Joins (or goes on) as usual.
    Allow,
    /// Must solve a proof of work of this difficulty first (`challenge::issue`).
    Challenge { difficulty: u8 },
    /// Sees a waiting page whose position moves but is never admitted while shadowed.
    Shadow,
    /// Refused outright (`403`).
    Block,
}

impl VerdictKind {
    pub const LABELS: [&'static str; 4] = ["allow", "challenge", "shadow", "block"];

    pub fn as_label(self) -> &'static str {
        match self {
            VerdictKind::Allow => "allow",
            VerdictKind::Challenge { .. } => "challenge",
            VerdictKind::Shadow => "shadow",
            VerdictKind::Block => "block",
        }
    }
}

/// Why. Every verdict has exactly one: the first rule of the policy (docs/bot-guard.md)
/// that applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// `enabled = false` for the room.
    GuardOff,
    AllowListed,
    BlockListed,
    BlockedUserAgent,
    /// Nothing suspicious, nothing over a limit.
    Clean,
    /// A proof of work of the required difficulty came with the request.
    ChallengeSolved,
    /// Shadowed earlier and not yet lifted.
    Shadowed,
    VelocityIp,
    VelocitySubnet,
    VelocityFingerprint,
    VelocityVisitor,
    PlacesIp,
    PlacesFingerprint,
    Headless,
    SuspiciousHeaders,
    SuspiciousClient,
    ChallengeAlways,
    /// The queue is long: everyone pays a proof of work priced by the expected wait.
    Demand,
}

impl Reason {
    pub const ALL: [Reason; 18] = [
        Reason::GuardOff,
        Reason::AllowListed,
        Reason::BlockListed,
        Reason::BlockedUserAgent,
        Reason::Clean,
        Reason::ChallengeSolved,
        Reason::Shadowed,
        Reason::VelocityIp,
        Reason::VelocitySubnet,
        Reason::VelocityFingerprint,
        Reason::VelocityVisitor,
        Reason::PlacesIp,
        Reason::PlacesFingerprint,
        Reason::Headless,
        Reason::SuspiciousHeaders,
        Reason::SuspiciousClient,
        Reason::ChallengeAlways,
        Reason::Demand,
    ];

    pub fn as_label(self) -> &'static str {
        match self {
            Reason::GuardOff => "guard_off",
            Reason::AllowListed => "allow_listed",
            Reason::BlockListed => "block_listed",
            Reason::BlockedUserAgent => "blocked_user_agent",
            Reason::Clean => "clean",
            Reason::ChallengeSolved => "challenge_solved",
            Reason::Shadowed => "shadowed",
            Reason::VelocityIp => "velocity_ip",
            Reason::VelocitySubnet => "velocity_subnet",
            Reason::VelocityFingerprint => "velocity_fingerprint",
            Reason::VelocityVisitor => "velocity_visitor",
            Reason::PlacesIp => "places_ip",
            Reason::PlacesFingerprint => "places_fingerprint",
            Reason::Headless => "headless",
            Reason::SuspiciousHeaders => "suspicious_headers",
            Reason::SuspiciousClient => "suspicious_client",
            Reason::ChallengeAlways => "challenge_always",
            Reason::Demand => "demand",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Verdict {
    pub kind: VerdictKind,
    pub reason: Reason,
}

impl Verdict {
    pub fn allow(reason: Reason) -> Verdict {
        Verdict {
            kind: VerdictKind::Allow,
            reason,
        }
    }

    pub fn challenge(difficulty: u8, reason: Reason) -> Verdict {
        Verdict {
            kind: VerdictKind::Challenge { difficulty },
            reason,
        }
    }

    pub fn shadow(reason: Reason) -> Verdict {
        Verdict {
            kind: VerdictKind::Shadow,
            reason,
        }
    }

    pub fn block(reason: Reason) -> Verdict {
        Verdict {
            kind: VerdictKind::Block,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn labels_are_distinct_snake_case_and_cover_every_reason() {
        let labels: HashSet<&str> = Reason::ALL.iter().map(|r| r.as_label()).collect();
        assert_eq!(labels.len(), Reason::ALL.len());
        for label in &labels {
            assert!(
                label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{label}"
            );
        }
        let kinds = [
            VerdictKind::Allow,
            VerdictKind::Challenge { difficulty: 3 },
            VerdictKind::Shadow,
            VerdictKind::Block,
        ];
        let kind_labels: Vec<&str> = kinds.iter().map(|k| k.as_label()).collect();
        assert_eq!(kind_labels, VerdictKind::LABELS);
    }
}
