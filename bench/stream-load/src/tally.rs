//! What one client process counts, as plain data: per stream (monotone positions, own
//! admission), per process (the summary written as JSON), and the receive spread of each
//! tick's update across streams (SSE `id`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The fields of a status object the benchmark checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    pub state: String,
    pub position: Option<u64>,
    pub has_pass: bool,
    pub visitor: Option<String>,
}

#[derive(Deserialize)]
struct StatusFields<'a> {
    #[serde(borrow)]
    state: std::borrow::Cow<'a, str>,
    #[serde(default)]
    position: Option<u64>,
    #[serde(default)]
    pass: Option<serde::de::IgnoredAny>,
    #[serde(default, borrow)]
    visitor: Option<std::borrow::Cow<'a, str>>,
}

/// None when the text is not a status object (no `state`).
pub fn parse_status(text: &str) -> Option<StatusUpdate> {
    let fields: StatusFields = serde_json::from_str(text).ok()?;
    // `"pass": null` deserialises as None, a string as Some.
    Some(StatusUpdate {
        state: fields.state.into_owned(),
        position: fields.position,
        has_pass: fields.pass.is_some(),
        visitor: fields.visitor.map(|v| v.into_owned()),
    })
}

/// One stream's view of its own place.
#[derive(Debug, Default, Clone)]
pub struct StreamTally {
    first_position: Option<u64>,
    last_position: Option<u64>,
    last_id: Option<String>,
    pub updates: u64,
    /// Times the position went up between two waiting updates: must stay 0.
    pub violations: u64,
    pub admitted_with_pass: bool,
}

impl StreamTally {
    /// True when `id` differs from the last update's (SSE): a new version of the line.
    pub fn new_id(&mut self, id: &str) -> bool {
        if self.last_id.as_deref() == Some(id) {
            return false;
        }
        self.last_id = Some(id.to_string());
        true
    }

    pub fn observe(&mut self, update: &StatusUpdate) {
        self.updates += 1;
        if update.state == "admitted" && update.has_pass {
            self.admitted_with_pass = true;
        }
        if update.state != "waiting" {
            return;
        }
        if let Some(position) = update.position {
            if self.last_position.is_some_and(|last| position > last) {
                self.violations += 1;
            }
            self.first_position.get_or_insert(position);
            self.last_position = Some(position);
        }
    }
}

impl StreamTally {
    /// One view of a visitor across a stream the server ended and the one reopened after it
    /// (`next`): a reopened stream showing a later place than the ended one showed last
    /// counts as a violation, like a step back within one stream.
    pub fn continued_by(mut self, next: StreamTally) -> StreamTally {
        if let (Some(last), Some(first)) = (self.last_position, next.first_position) {
            if first > last {
                self.violations += 1;
            }
        }
        self.updates += next.updates;
        self.violations += next.violations;
        self.admitted_with_pass |= next.admitted_with_pass;
        self.last_position = next.last_position.or(self.last_position);
        self.last_id = next.last_id;
        self
    }
}

/// First and last receive time (unix µs) of one update id, over every stream that got it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spread {
    pub first_us: u64,
    pub last_us: u64,
    pub streams: u64,
}

impl Spread {
    pub fn merge(&mut self, other: &Spread) {
        self.first_us = self.first_us.min(other.first_us);
        self.last_us = self.last_us.max(other.last_us);
        self.streams += other.streams;
    }

    pub fn width_ms(&self) -> f64 {
        self.last_us.saturating_sub(self.first_us) as f64 / 1000.0
    }
}

pub fn record_spread(spreads: &mut BTreeMap<String, Spread>, id: &str, at_us: u64) {
    match spreads.get_mut(id) {
        Some(spread) => spread.merge(&Spread {
            first_us: at_us,
            last_us: at_us,
            streams: 1,
        }),
        None => {
            spreads.insert(
                id.to_string(),
                Spread {
                    first_us: at_us,
                    last_us: at_us,
                    streams: 1,
                },
            );
        }
    }
}

/// One client process's result (stdout of `stream-load open`), mergeable across processes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub source: String,
    pub requested: u64,
    pub sse_requested: u64,
    pub ws_requested: u64,
    /// Got a visitor id from `/_anteroom/status`.
    pub visitors: u64,
    /// Streams that delivered their first status (SSE 200 or WS 101, then a message).
    pub connected: u64,
    pub sse_connected: u64,
    pub ws_connected: u64,
    pub ws_upgrade_attempts: u64,
    pub ws_upgrades_101: u64,
    /// Closed before the 101, or after it before the first message (pingora#946).
    pub ws_upgrades_dropped: u64,
    /// Answered with another status than 200 / 101, by status code.
    pub refused: BTreeMap<String, u64>,
    /// Failures that are not a refusal, by short reason.
    pub errors: BTreeMap<String, u64>,
    /// Streams the server closed before the client stopped (and, with `--reconnect`, that
    /// could not be reopened).
    pub closed_by_server: u64,
    /// Streams reopened after the server ended them (`--reconnect`).
    #[serde(default)]
    pub reconnected: u64,
    pub updates: u64,
    pub heartbeats: u64,
    pub position_violations: u64,
    pub saw_own_admission: u64,
    /// Time from sending the stream request to its first status, ms, one per stream.
    pub first_status_ms: Vec<f64>,
    /// Per SSE id: when the first and the last stream received it.
    pub spreads: BTreeMap<String, Spread>,
}

pub fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    *map.entry(key.to_string()).or_insert(0) += 1;
}

impl Summary {
    pub fn add_stream(&mut self, tally: &StreamTally) {
        self.updates += tally.updates;
        self.position_violations += tally.violations;
        if tally.admitted_with_pass {
            self.saw_own_admission += 1;
        }
    }

    /// Adds another process's summary to this one.
    pub fn merge(&mut self, other: &Summary) {
        if !other.source.is_empty() {
            if !self.source.is_empty() {
                self.source.push_str(", ");
            }
            self.source.push_str(&other.source);
        }
        for (mine, theirs) in [
            (&mut self.requested, other.requested),
            (&mut self.sse_requested, other.sse_requested),
            (&mut self.ws_requested, other.ws_requested),
            (&mut self.visitors, other.visitors),
            (&mut self.connected, other.connected),
            (&mut self.sse_connected, other.sse_connected),
            (&mut self.ws_connected, other.ws_connected),
            (&mut self.ws_upgrade_attempts, other.ws_upgrade_attempts),
            (&mut self.ws_upgrades_101, other.ws_upgrades_101),
            (&mut self.ws_upgrades_dropped, other.ws_upgrades_dropped),
            (&mut self.closed_by_server, other.closed_by_server),
            (&mut self.reconnected, other.reconnected),
            (&mut self.updates, other.updates),
            (&mut self.heartbeats, other.heartbeats),
            (&mut self.position_violations, other.position_violations),
            (&mut self.saw_own_admission, other.saw_own_admission),
        ] {
            *mine += theirs;
        }
        for (mine, theirs) in [
            (&mut self.refused, &other.refused),
            (&mut self.errors, &other.errors),
        ] {
            for (key, count) in theirs {
                *mine.entry(key.clone()).or_insert(0) += count;
            }
        }
        self.first_status_ms
            .extend_from_slice(&other.first_status_ms);
        for (id, spread) in &other.spreads {
            match self.spreads.get_mut(id) {
                Some(mine) => mine.merge(spread),
                None => {
                    self.spreads.insert(id.clone(), *spread);
                }
            }
        }
    }
}

/// The `q` quantile (0..=1) by nearest rank; None for no samples.
pub fn percentile(samples: &[f64], q: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(position: u64) -> StatusUpdate {
        StatusUpdate {
            state: "waiting".into(),
            position: Some(position),
            has_pass: false,
            visitor: None,
        }
    }

    #[test]
    fn a_reopened_stream_must_not_show_a_later_place() {
        let ended = |last: u64| {
            let mut tally = StreamTally::default();
            tally.observe(&waiting(last + 2));
            tally.observe(&waiting(last));
            tally
        };
        let reopened_at = |first: u64| {
            let mut tally = StreamTally::default();
            tally.observe(&waiting(first));
            tally
        };
        let kept = ended(5).continued_by(reopened_at(5));
        assert_eq!((kept.violations, kept.updates), (0, 3));
        assert_eq!(ended(5).continued_by(reopened_at(4)).violations, 0);
        assert_eq!(ended(5).continued_by(reopened_at(6)).violations, 1);
    }

    #[test]
    fn status_objects_parse_with_or_without_a_pass() {
        let text = r#"{"room":"r","visitor":"v1.x","state":"waiting","position":12,"waiting":40,
            "admit_per_second":5.0,"eta_seconds":{"low":2,"high":3},"message":null,"pass":null}"#;
        assert_eq!(
            parse_status(text),
            Some(StatusUpdate {
                visitor: Some("v1.x".into()),
                ..waiting(12)
            })
        );
        let admitted = r#"{"room":"r","state":"admitted","position":null,"pass":"v1.k.p.m"}"#;
        let update = parse_status(admitted).unwrap();
        assert!(update.has_pass);
        assert_eq!(update.position, None);
        assert_eq!(parse_status("{\"error\":\"x\"}"), None);
        assert_eq!(parse_status("not json"), None);
    }

    #[test]
    fn a_position_that_goes_up_is_a_violation_once_per_rise() {
        let mut tally = StreamTally::default();
        for position in [10, 8, 8, 9, 3, 4, 4] {
            tally.observe(&waiting(position));
        }
        assert_eq!(tally.updates, 7);
        assert_eq!(tally.violations, 2);
        assert!(!tally.admitted_with_pass);
    }

    #[test]
    fn admission_counts_only_with_a_pass_and_resets_nothing() {
        let mut tally = StreamTally::default();
        tally.observe(&waiting(2));
        tally.observe(&StatusUpdate {
            state: "admitted".into(),
            position: None,
            has_pass: false,
            visitor: None,
        });
        assert!(!tally.admitted_with_pass);
        tally.observe(&StatusUpdate {
            state: "admitted".into(),
            position: None,
            has_pass: true,
            visitor: None,
        });
        assert!(tally.admitted_with_pass);
        tally.observe(&waiting(1));
        assert_eq!(tally.violations, 0);
    }

    #[test]
    fn only_a_changed_id_is_a_new_update() {
        let mut tally = StreamTally::default();
        assert!(tally.new_id("7"));
        assert!(!tally.new_id("7"), "a heartbeat repeats the id");
        assert!(tally.new_id("8"));
        assert!(tally.new_id("7"));
    }

    #[test]
    fn percentile_by_nearest_rank() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&samples, 0.5), Some(50.0));
        assert_eq!(percentile(&samples, 0.99), Some(99.0));
        assert_eq!(percentile(&samples, 1.0), Some(100.0));
        assert_eq!(percentile(&samples, 0.0), Some(1.0));
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.5), Some(2.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn summaries_and_spreads_merge_across_processes() {
        let mut a = Summary {
            source: "127.0.0.2".into(),
            connected: 2,
            first_status_ms: vec![1.0],
            ..Summary::default()
        };
        record_spread(&mut a.spreads, "7", 1_000);
        record_spread(&mut a.spreads, "7", 1_300);
        bump(&mut a.refused, "503");
        let mut b = Summary {
            source: "127.0.0.3".into(),
            connected: 3,
            first_status_ms: vec![2.0],
            ..Summary::default()
        };
        record_spread(&mut b.spreads, "7", 900);
        record_spread(&mut b.spreads, "8", 5_000);
        bump(&mut b.refused, "503");
        a.merge(&b);
        assert_eq!(a.source, "127.0.0.2, 127.0.0.3");
        assert_eq!(a.connected, 5);
        assert_eq!(a.first_status_ms, vec![1.0, 2.0]);
        assert_eq!(a.refused.get("503"), Some(&2));
        let seven = a.spreads.get("7").unwrap();
        assert_eq!(
            (seven.first_us, seven.last_us, seven.streams),
            (900, 1_300, 3)
        );
        assert_eq!(seven.width_ms(), 0.4);
        assert_eq!(a.spreads.get("8").unwrap().streams, 1);
    }
}
