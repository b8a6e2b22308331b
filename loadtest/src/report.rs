//! The sale's report: figures computed from what the visitors saw, what Redis ran (the
//! monitor) and what the ledger holds, and the gates a CI job can fail on.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::fairness::kendall_tau_distance;
use crate::monitor::LineOrder;
use crate::visitor::{Outcome, Record};

/// One sample of the room, read from the admin API.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    pub t: f64,
    pub waiting: u64,
    pub active: u64,
    pub admitted_total: u64,
}

/// What the ledger says, counted in the database.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LedgerCount {
    pub seats_sold: u64,
    pub double_bookings: u64,
    pub bookings: u64,
}

/// The run's settings, as written in the report.
#[derive(Debug, Clone, Serialize)]
pub struct RunSettings {
    pub command: String,
    pub visitors: usize,
    pub gateways: usize,
    pub seats: usize,
    pub bots_pct: f64,
    pub max_streams: usize,
    pub admit_per_second: f64,
    pub arrival: String,
    pub arrival_seconds: f64,
    pub max_rate_error_pct: f64,
}

/// The contract's summary fields (DESIGN.md), plus what explains them.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub joins_per_second: f64,
    pub admission_rate_error_pct: f64,
    pub kendall_tau_distance: u64,
    pub double_holds: u64,
    pub double_bookings: u64,
    pub seats_sold: u64,
    pub eta_error_pct: f64,
    pub bots_admitted: u64,
    pub capacity: u64,
    pub visitors: u64,
    pub joined: u64,
    pub admitted: u64,
    pub admitted_without_recorded_join: u64,
    pub set_admit_per_second: f64,
    pub measured_admit_per_second: f64,
    pub eta_within_promise_pct: f64,
    pub abandoned: u64,
    pub abandonment_pct: f64,
    pub bots: u64,
    pub bookings_seen_by_visitors: u64,
    pub bookings_in_ledger: u64,
    /// When the last booking a visitor saw was confirmed (seconds into the sale).
    pub last_booking_at_seconds: f64,
    pub duration_seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepLatency {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gate {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub settings: RunSettings,
    pub summary: Summary,
    pub passed: bool,
    pub gates: Vec<Gate>,
    pub steps: BTreeMap<&'static str, StepLatency>,
    pub outcomes: BTreeMap<String, u64>,
    pub errors: Vec<String>,
    pub series: Vec<Sample>,
}

/// Everything the report is computed from.
pub struct Inputs<'a> {
    pub settings: RunSettings,
    pub records: &'a [Record],
    pub order: &'a LineOrder,
    pub ledger: LedgerCount,
    pub series: Vec<Sample>,
    pub duration_seconds: f64,
    /// The sale's start on the unix clock, to line the monitor's times up with the visitors'.
    pub start_unix: f64,
}

pub fn build(inputs: Inputs<'_>) -> Report {
    let Inputs {
        settings,
        records,
        order,
        ledger,
        series,
        duration_seconds,
        start_unix,
    } = inputs;
    let tickets = order.tickets_in_admission_order();
    let measured_rate = measured_rate(order);
    let rate_error = if settings.admit_per_second > 0.0 {
        100.0 * (measured_rate - settings.admit_per_second) / settings.admit_per_second
    } else {
        0.0
    };
    let (eta_error_pct, eta_within_pct) = eta_accuracy(records);
    let abandoned = count(records, |r| r.outcome == Outcome::Abandoned);
    let summary = Summary {
        joins_per_second: joins_per_second(records),
        admission_rate_error_pct: round2(rate_error),
        kendall_tau_distance: kendall_tau_distance(&tickets),
        double_holds: double_holds(records),
        double_bookings: ledger.double_bookings,
        seats_sold: ledger.seats_sold,
        eta_error_pct: round2(eta_error_pct),
        bots_admitted: count(records, |r| r.plan.bot && r.admitted_at.is_some()),
        capacity: settings.seats as u64,
        visitors: records.len() as u64,
        joined: count(records, |r| r.joined_at.is_some()),
        admitted: order.admissions.len() as u64,
        admitted_without_recorded_join: (order.admissions.len() - tickets.len()) as u64,
        set_admit_per_second: settings.admit_per_second,
        measured_admit_per_second: round2(measured_rate),
        eta_within_promise_pct: round2(eta_within_pct),
        abandoned,
        abandonment_pct: round2(100.0 * abandoned as f64 / records.len().max(1) as f64),
        bots: count(records, |r| r.plan.bot),
        bookings_seen_by_visitors: count(records, |r| r.outcome == Outcome::Booked),
        bookings_in_ledger: ledger.bookings,
        last_booking_at_seconds: round2(
            records
                .iter()
                .filter_map(|r| r.booked_at)
                .fold(0.0, f64::max),
        ),
        duration_seconds: round2(duration_seconds),
    };
    let gates = gates(&summary, &settings);
    let mut outcomes = BTreeMap::new();
    for record in records {
        let name = serde_json::to_value(record.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        *outcomes.entry(name).or_insert(0) += 1;
    }
    let mut errors: Vec<String> = records.iter().filter_map(|r| r.error.clone()).collect();
    errors.sort();
    errors.dedup();
    errors.truncate(20);
    Report {
        scenario: "flash-sale",
        passed: gates.iter().all(|g| g.passed),
        settings,
        summary,
        gates,
        steps: step_latencies(records, order, start_unix),
        outcomes,
        errors,
        series,
    }
}

fn count(records: &[Record], keep: impl Fn(&Record) -> bool) -> u64 {
    records.iter().filter(|r| keep(r)).count() as u64
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Joins over the time from the first to the last join.
fn joins_per_second(records: &[Record]) -> f64 {
    let times: Vec<f64> = records.iter().filter_map(|r| r.joined_at).collect();
    let first = times.iter().copied().fold(f64::INFINITY, f64::min);
    let last = times.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if times.len() < 2 || last <= first {
        return times.len() as f64;
    }
    round2(times.len() as f64 / (last - first))
}

/// A room's bucket holds one second's worth of admissions, spent as a burst when the line
/// forms: a burst by design, not a rate, so the rate is measured after it.
const BURST_SECONDS: f64 = 1.0;

/// The rate Redis admitted at, on its own clock: admissions after the first tick at least
/// `BURST_SECONDS` into the sale, over the time from that tick to the last admission. Both
/// ends are admission ticks, so whole ticks are counted.
pub fn measured_rate(order: &LineOrder) -> f64 {
    let Some(&(_, first)) = order.admissions.first() else {
        return 0.0;
    };
    let Some(&(_, from)) = order
        .admissions
        .iter()
        .find(|(_, at)| *at >= first + BURST_SECONDS)
    else {
        return 0.0;
    };
    let Some(&(_, last)) = order.admissions.last() else {
        return 0.0;
    };
    if last <= from {
        return 0.0;
    }
    let admitted = order.admissions.iter().filter(|(_, at)| *at > from).count();
    admitted as f64 / (last - from)
}

/// Mean |actual wait − promised midpoint| over the mean actual wait, and the share of
/// admitted visitors whose wait fell inside the promised `[low, high]`.
fn eta_accuracy(records: &[Record]) -> (f64, f64) {
    let pairs: Vec<(f64, (f64, f64))> = records
        .iter()
        .filter_map(|r| Some((r.admitted_at? - r.joined_at?, r.promised_eta?)))
        .collect();
    if pairs.is_empty() {
        return (0.0, 0.0);
    }
    let n = pairs.len() as f64;
    let error: f64 = pairs
        .iter()
        .map(|(actual, (low, high))| (actual - (low + high) / 2.0).abs())
        .sum();
    let actual: f64 = pairs.iter().map(|(actual, _)| actual).sum();
    let within = pairs
        .iter()
        .filter(|(actual, (low, high))| *actual >= low - 0.5 && *actual <= high + 0.5)
        .count();
    (100.0 * error / actual.max(1e-9), 100.0 * within as f64 / n)
}

/// Holds granted on a seat beyond the first: no journey releases a hold, and holds outlive
/// the run, so a second grant means two visitors held one seat.
fn double_holds(records: &[Record]) -> u64 {
    let mut grants: HashMap<&str, u64> = HashMap::new();
    for seat in records.iter().flat_map(|r| r.seats_held.iter()) {
        *grants.entry(seat).or_insert(0) += 1;
    }
    grants.values().map(|n| n.saturating_sub(1)).sum()
}

/// The client's steps, plus `admission_notice`: from Redis admitting a visitor to the
/// visitor knowing it (stream or poll), on the two clocks of one machine.
fn step_latencies(
    records: &[Record],
    order: &LineOrder,
    start_unix: f64,
) -> BTreeMap<&'static str, StepLatency> {
    let mut by_step: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    for (step, ms) in records.iter().flat_map(|r| r.steps.iter()) {
        by_step.entry(step.name()).or_default().push(*ms);
    }
    let admitted_at: HashMap<&str, f64> = order
        .admissions
        .iter()
        .map(|(member, at)| (member.as_str(), *at))
        .collect();
    let notices = records.iter().filter_map(|r| {
        let server = admitted_at.get(r.member.as_deref()?)?;
        Some(((start_unix + r.admitted_at?) - server).max(0.0) * 1000.0)
    });
    by_step
        .entry("admission_notice")
        .or_default()
        .extend(notices);
    by_step
        .into_iter()
        .map(|(name, mut values)| {
            values.sort_by(f64::total_cmp);
            let latency = StepLatency {
                count: values.len(),
                p50_ms: round2(percentile(&values, 0.50)),
                p99_ms: round2(percentile(&values, 0.99)),
                max_ms: round2(values.last().copied().unwrap_or(0.0)),
            };
            (name, latency)
        })
        .collect()
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied().unwrap_or(0.0)
}

fn gates(summary: &Summary, settings: &RunSettings) -> Vec<Gate> {
    let gate = |name: &str, passed: bool, detail: String| Gate {
        name: name.to_string(),
        passed,
        detail,
    };
    vec![
        gate(
            "fair_order",
            summary.kendall_tau_distance == 0 && summary.admitted > 0,
            format!(
                "Kendall-tau distance {} over {} admissions",
                summary.kendall_tau_distance, summary.admitted
            ),
        ),
        gate(
            "no_double_booking",
            summary.double_bookings == 0,
            format!("{} seats sold twice (ledger)", summary.double_bookings),
        ),
        gate(
            "no_double_hold",
            summary.double_holds == 0,
            format!("{} seats held twice", summary.double_holds),
        ),
        gate(
            "admission_rate",
            summary.admission_rate_error_pct.abs() <= settings.max_rate_error_pct,
            if summary.measured_admit_per_second == 0.0 {
                "no admissions after the first second to measure the rate on".to_string()
            } else {
                format!(
                    "{:.2}/s measured vs {:.2}/s set ({:+.2}%, allowed ±{}%)",
                    summary.measured_admit_per_second,
                    summary.set_admit_per_second,
                    summary.admission_rate_error_pct,
                    settings.max_rate_error_pct
                )
            },
        ),
        gate(
            "within_capacity",
            summary.seats_sold <= summary.capacity,
            format!("{} of {} seats sold", summary.seats_sold, summary.capacity),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.5), 50.0);
        assert_eq!(percentile(&values, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn the_initial_burst_is_not_counted_as_rate() {
        let mut order = LineOrder::default();
        let mut lines = Vec::new();
        // A burst of 10 spread over the first ticks, then one admission per 0.1 s tick.
        for i in 0..10 {
            let at = 100.0 + 0.1 * f64::from(i / 3);
            lines.push(format!(
                "+{at} [0 lua] \"ZADD\" \"ar:{{r}}:active\" \"1\" \"b{i}\""
            ));
        }
        for i in 0..40 {
            let at = 100.3 + 0.1 * f64::from(i + 1);
            lines.push(format!(
                "+{at} [0 lua] \"ZADD\" \"ar:{{r}}:active\" \"1\" \"s{i}\""
            ));
        }
        for line in &lines {
            order.observe(line, "r");
        }
        assert!((measured_rate(&order) - 10.0).abs() < 1e-6);
    }
}
