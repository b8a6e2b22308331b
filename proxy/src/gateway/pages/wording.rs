//! What the waiting page says: each state's headline and explanation, the ETA range and the
//! counts in words. The client script gets the state texts from here (no second copy); it
//! mirrors `eta_phrase`, `ahead_phrase` and `grouped` in a few lines of JavaScript.

use anteroom_admission::Eta;
use serde::Serialize;

use crate::gateway::VisitorState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StateText {
    pub headline: &'static str,
    pub detail: &'static str,
}

pub const ALL_STATES: [VisitorState; 6] = [
    VisitorState::Waiting,
    VisitorState::Admitted,
    VisitorState::Prequeue,
    VisitorState::Paused,
    VisitorState::Closed,
    VisitorState::SoldOut,
];

pub fn state_text(state: VisitorState) -> StateText {
    let (headline, detail) = match state {
        VisitorState::Waiting => (
            "You're in line",
            "Keep this page open: you'll go in automatically when it's your turn.",
        ),
        VisitorState::Admitted => ("It's your turn", "Taking you in…"),
        VisitorState::Prequeue => (
            "You're early",
            "The sale hasn't started yet. Keep this page open: you'll get your place in line when it starts.",
        ),
        VisitorState::Paused => (
            "The line is paused",
            "Your place is kept. The line will move again shortly; keep this page open.",
        ),
        VisitorState::Closed => (
            "Closed",
            "This sale is not open right now. This page checks again by itself.",
        ),
        VisitorState::SoldOut => (
            "Sold out",
            "Everything has been sold. Thank you for waiting.",
        ),
    };
    StateText { headline, detail }
}

/// While the bot guard's proof of work runs (a waiting status with a `challenge`): the page
/// solves it with JavaScript, which is why the sentence says so.
pub const CHECKING: StateText = StateText {
    headline: "Checking your browser",
    detail: "This takes a few seconds with JavaScript on, then you get your place in line. Keep this page open.",
};

/// `1234567` → `1,234,567`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// How many are ahead of the visitor at `position` (1 = next), in words.
pub fn ahead_phrase(position: Option<u64>) -> String {
    match position {
        None => String::new(),
        Some(0 | 1) => "Nobody is ahead of you: you're next.".to_string(),
        Some(2) => "1 person is ahead of you.".to_string(),
        Some(p) => format!("{} people are ahead of you.", grouped(p - 1)),
    }
}

/// An honest range in round units: "less than a minute", "about 2–4 minutes",
/// "about 3 hours". Empty when there is no estimate.
pub fn eta_phrase(eta: Option<Eta>) -> String {
    let Some(eta) = eta else {
        return String::new();
    };
    if eta.high < 60 {
        return "less than a minute".to_string();
    }
    let (unit, seconds) = if eta.high >= 2 * 3600 {
        ("hour", 3600)
    } else {
        ("minute", 60)
    };
    let low = rounded(eta.low, seconds).max(1);
    let high = rounded(eta.high, seconds).max(low);
    let plural = if high == 1 { "" } else { "s" };
    if low == high {
        format!("about {low} {unit}{plural}")
    } else {
        format!("about {low}–{high} {unit}{plural}")
    }
}

fn rounded(value: u64, unit: u64) -> u64 {
    (value + unit / 2) / unit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eta(low: u64, high: u64) -> Option<Eta> {
        Some(Eta { low, high })
    }

    #[test]
    fn eta_is_a_range_in_round_units() {
        assert_eq!(eta_phrase(None), "");
        assert_eq!(eta_phrase(eta(0, 2)), "less than a minute");
        assert_eq!(eta_phrase(eta(20, 59)), "less than a minute");
        assert_eq!(eta_phrase(eta(30, 60)), "about 1 minute");
        assert_eq!(eta_phrase(eta(100, 250)), "about 2–4 minutes");
        assert_eq!(eta_phrase(eta(7000, 7200)), "about 2 hours");
        assert_eq!(eta_phrase(eta(99_999, 125_001)), "about 28–35 hours");
    }

    #[test]
    fn counts_read_as_words() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(ahead_phrase(None), "");
        assert_eq!(
            ahead_phrase(Some(1)),
            "Nobody is ahead of you: you're next."
        );
        assert_eq!(ahead_phrase(Some(2)), "1 person is ahead of you.");
        assert_eq!(ahead_phrase(Some(1235)), "1,234 people are ahead of you.");
    }

    #[test]
    fn every_state_has_its_own_words() {
        let mut headlines: Vec<&str> = ALL_STATES.iter().map(|s| state_text(*s).headline).collect();
        headlines.sort_unstable();
        headlines.dedup();
        assert_eq!(headlines.len(), ALL_STATES.len());
        assert!(ALL_STATES.iter().all(|s| !state_text(*s).detail.is_empty()));
    }
}
