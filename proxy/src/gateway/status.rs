//! The status object of the public contract, shared by the JSON answers, the status endpoint
//! and (later) the live streams.

use anteroom_admission::{estimate_wait_measured, Eta};
use anteroom_queue::{Placement, RoomSettings};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitorState {
    Waiting,
    Admitted,
    Prequeue,
    Paused,
    Closed,
    SoldOut,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusObject {
    pub room: String,
    pub visitor: String,
    pub state: VisitorState,
    pub position: Option<u64>,
    pub waiting: u64,
    pub admit_per_second: f64,
    pub eta_seconds: Option<Eta>,
    pub message: Option<String>,
    pub pass: Option<String>,
    /// A proof of work to solve before the visitor takes a place (the bot guard asked).
    pub challenge: Option<ChallengeInfo>,
    /// Sold out, in a room with `waitlist_url`: where the line can join the waitlist.
    pub waitlist: Option<WaitlistInfo>,
}

/// Where a sold-out room's line joins the event's waitlist (`[[room]] waitlist_url`), and
/// the visitor's waitlist token to join with (`waitlist_token.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaitlistInfo {
    pub join: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Where a visitor gets its challenge, and how hard it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChallengeInfo {
    pub url: String,
    pub difficulty: u8,
}

impl StatusObject {
    /// Build the object for a placement. `waiting` is the store's figure when the placement
    /// carries one, else the last figure this instance saw; `measured_rate` is the room's
    /// admission rate lately (the ETA's pessimistic end follows it).
    pub fn new(
        room: &str,
        signed_visitor: String,
        placement: Placement,
        settings: &RoomSettings,
        last_known_waiting: u64,
        pass: Option<String>,
        measured_rate: Option<f64>,
    ) -> StatusObject {
        let (state, position, waiting) = match placement {
            Placement::Waiting {
                position, waiting, ..
            } if settings.paused => (VisitorState::Paused, Some(position), waiting),
            Placement::Waiting {
                position, waiting, ..
            } => (VisitorState::Waiting, Some(position), waiting),
            Placement::Admitted { .. } => (VisitorState::Admitted, None, last_known_waiting),
            Placement::Absent => (VisitorState::Waiting, None, last_known_waiting),
            Placement::Closed => (VisitorState::Closed, None, last_known_waiting),
            Placement::SoldOut => (VisitorState::SoldOut, None, last_known_waiting),
        };
        let eta_seconds = match (state, position) {
            (VisitorState::Waiting, Some(position)) => {
                estimate_wait_measured(position, settings.admit_per_second, measured_rate)
            }
            _ => None,
        };
        StatusObject {
            room: room.to_string(),
            visitor: signed_visitor,
            state,
            position,
            waiting,
            admit_per_second: settings.admit_per_second,
            eta_seconds,
            message: settings.message.clone(),
            pass,
            challenge: None,
            waitlist: None,
        }
    }

    pub fn with_challenge(mut self, challenge: Option<ChallengeInfo>) -> StatusObject {
        self.challenge = challenge;
        self
    }

    /// With the room's waitlist link (`[[room]] waitlist_url`) when sold out: only then can
    /// the line join, so no other state carries it.
    pub fn with_waitlist(self, url: Option<&str>) -> StatusObject {
        let info = url.map(|url| WaitlistInfo {
            join: url.to_string(),
            token: None,
        });
        self.with_waitlist_info(info.as_ref())
    }

    /// The same with a prepared link (and token), as a live stream keeps it.
    pub fn with_waitlist_info(mut self, info: Option<&WaitlistInfo>) -> StatusObject {
        self.waitlist = match (self.state, info) {
            (VisitorState::SoldOut, Some(info)) => Some(info.clone()),
            _ => None,
        };
        self
    }

    /// Seconds a polling client should wait before asking again.
    pub fn retry_after(&self) -> u64 {
        match (self.state, self.eta_seconds) {
            (VisitorState::Waiting, Some(eta)) => (eta.low / 2).clamp(1, 10),
            (VisitorState::SoldOut, _) | (VisitorState::Closed, _) => 30,
            _ => 5,
        }
    }

    pub fn to_json(&self) -> String {
        // Serializing plain strings and numbers cannot fail; fall back to a valid object anyway.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }
}
