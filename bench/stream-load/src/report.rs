//! `stream-load report`: the client summaries, the gateway's metrics and Redis' command
//! counts around the measured windows, turned into one results table (JSON + markdown)
//! with the budgets.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::scrape::{
    buckets, by_label, commands_between, parse_commandstats, parse_prometheus, sum, window_count,
    window_quantile, Sample,
};
use crate::tally::{percentile, Summary};

pub const LAG_HISTOGRAM: &str = "anteroom_stream_update_seconds";
pub const STREAMS_OPEN: &str = "anteroom_streams_open";
pub const BUDGET_KIB_PER_STREAM: f64 = 16.0;
pub const BUDGET_LAG_SECONDS: f64 = 1.0;
pub const BUDGET_STREAMS: f64 = 15_000.0;

/// Raw readings a run collected (file contents, numbers from /proc).
pub struct Readings {
    pub clients: Vec<Summary>,
    /// Metrics at the start and end of the baseline window (no streams) and of the
    /// measured window (streams open, admission running).
    pub metrics_baseline: (String, String),
    pub metrics_window: (String, String),
    pub redis_baseline: (String, String),
    pub redis_window: (String, String),
    pub rss_before_kib: u64,
    pub rss_with_kib: u64,
    pub queued: u64,
    pub window_seconds: f64,
    pub baseline_seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct StoreWindow {
    pub seconds: f64,
    pub ticks: f64,
    pub commands: BTreeMap<String, u64>,
    pub commands_per_tick: f64,
}

#[derive(Debug, Serialize)]
pub struct Results {
    /// Every client process's counts added up (per-stream samples left out).
    pub clients: Summary,
    /// `anteroom_streams_open` by kind when the window began (every stream open) and when
    /// it ended (streams of admitted visitors may have closed by then).
    pub gateway_streams_open: BTreeMap<String, f64>,
    pub gateway_streams_open_at_end: BTreeMap<String, f64>,
    pub queued_at_end: f64,
    pub queued_requested: u64,
    pub rss_before_kib: u64,
    pub rss_with_streams_kib: u64,
    pub kib_per_stream: Option<f64>,
    pub lag_p50: String,
    pub lag_p99: String,
    pub lag_p99_within_budget: bool,
    pub lag_observations: f64,
    pub spread_p50_ms: Option<f64>,
    pub spread_p99_ms: Option<f64>,
    pub spread_ids: usize,
    pub first_status_p50_ms: Option<f64>,
    pub first_status_p99_ms: Option<f64>,
    pub store_baseline: StoreWindow,
    pub store_with_streams: StoreWindow,
    /// Store commands per tick with the streams open / without.
    pub store_ratio: Option<f64>,
    /// Updates a stream received per admission tick of the window: 1.0 when every tick
    /// reached every stream; less when a busy stream skipped to the newest line (a stream
    /// always gets the latest state, not every intermediate one).
    pub updates_per_stream_per_tick: Option<f64>,
    pub verdicts: BTreeMap<String, bool>,
}

fn store_window(metrics: &(String, String), redis: &(String, String), seconds: f64) -> StoreWindow {
    let before = parse_prometheus(&metrics.0);
    let after = parse_prometheus(&metrics.1);
    let ticks = ticks_between(&before, &after);
    let commands = commands_between(&parse_commandstats(&redis.0), &parse_commandstats(&redis.1));
    let total: u64 = commands.values().sum();
    StoreWindow {
        seconds,
        ticks,
        commands_per_tick: if ticks > 0.0 {
            total as f64 / ticks
        } else {
            0.0
        },
        commands,
    }
}

/// Admission ticks the gateway ran: its timed store calls labelled `admit_tick`.
fn ticks_between(before: &[Sample], after: &[Sample]) -> f64 {
    let name = "anteroom_store_seconds_count";
    let op = [("op", "admit_tick")];
    sum(after, name, &op) - sum(before, name, &op)
}

pub fn build(readings: &Readings) -> Results {
    let mut total = Summary::default();
    for client in &readings.clients {
        total.merge(client);
    }
    let before = parse_prometheus(&readings.metrics_window.0);
    let after = parse_prometheus(&readings.metrics_window.1);
    let (lag_before, lag_after) = (
        buckets(&before, LAG_HISTOGRAM),
        buckets(&after, LAG_HISTOGRAM),
    );
    let lag_p99 = window_quantile(&lag_before, &lag_after, 0.99);
    let lag_p50 = window_quantile(&lag_before, &lag_after, 0.5);
    let spreads: Vec<f64> = total
        .spreads
        .values()
        .filter(|s| s.streams > 1)
        .map(|s| s.width_ms())
        .collect();
    let kib_per_stream = (total.connected > 0).then(|| {
        readings
            .rss_with_kib
            .saturating_sub(readings.rss_before_kib) as f64
            / total.connected as f64
    });
    let store_baseline = store_window(
        &readings.metrics_baseline,
        &readings.redis_baseline,
        readings.baseline_seconds,
    );
    let store_with_streams = store_window(
        &readings.metrics_window,
        &readings.redis_window,
        readings.window_seconds,
    );
    let store_ratio = (store_baseline.commands_per_tick > 0.0)
        .then(|| store_with_streams.commands_per_tick / store_baseline.commands_per_tick);
    let gateway_streams_open = by_label(&before, STREAMS_OPEN, "kind");
    let open_total: f64 = gateway_streams_open.values().sum();

    let mut verdicts = BTreeMap::new();
    verdicts.insert(
        format!("streams open >= {BUDGET_STREAMS}"),
        total.connected as f64 >= BUDGET_STREAMS && open_total >= BUDGET_STREAMS,
    );
    verdicts.insert(
        format!("gateway RSS per stream <= {BUDGET_KIB_PER_STREAM} KiB"),
        kib_per_stream.is_some_and(|k| k <= BUDGET_KIB_PER_STREAM),
    );
    verdicts.insert(
        format!("update lag p99 <= {BUDGET_LAG_SECONDS} s"),
        lag_p99.within(BUDGET_LAG_SECONDS),
    );
    verdicts.insert(
        "no WebSocket upgrade dropped".into(),
        total.ws_upgrades_101 > 0 && total.ws_upgrades_dropped == 0,
    );
    verdicts.insert(
        "positions never went up".into(),
        total.position_violations == 0,
    );

    let updates_per_stream_per_tick = (total.connected > 0 && store_with_streams.ticks > 0.0)
        .then(|| total.updates as f64 / total.connected as f64 / store_with_streams.ticks);
    let spread_p50_ms = percentile(&spreads, 0.5);
    let spread_p99_ms = percentile(&spreads, 0.99);
    let first_status_p50_ms = percentile(&total.first_status_ms, 0.5);
    let first_status_p99_ms = percentile(&total.first_status_ms, 0.99);
    total.first_status_ms.clear();
    total.spreads.clear();
    Results {
        clients: total,
        gateway_streams_open,
        gateway_streams_open_at_end: by_label(&after, STREAMS_OPEN, "kind"),
        queued_at_end: sum(&after, "anteroom_queue_waiting", &[]),
        queued_requested: readings.queued,
        rss_before_kib: readings.rss_before_kib,
        rss_with_streams_kib: readings.rss_with_kib,
        kib_per_stream,
        lag_p50: lag_p50.describe_ms(),
        lag_p99: lag_p99.describe_ms(),
        lag_p99_within_budget: lag_p99.within(BUDGET_LAG_SECONDS),
        lag_observations: window_count(&before, &after, LAG_HISTOGRAM),
        spread_p50_ms,
        spread_p99_ms,
        spread_ids: spreads.len(),
        first_status_p50_ms,
        first_status_p99_ms,
        store_baseline,
        store_with_streams,
        store_ratio,
        updates_per_stream_per_tick,
        verdicts,
    }
}

fn ms(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| format!("{v:.1} ms"))
}

fn counts(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn commands(window: &StoreWindow) -> String {
    if window.ticks <= 0.0 {
        return "no ticks".into();
    }
    window
        .commands
        .iter()
        .map(|(command, calls)| format!("{command} {:.1}", *calls as f64 / window.ticks))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn markdown(r: &Results) -> String {
    let mut out = String::new();
    let mut row = |what: &str, value: String| out.push_str(&format!("| {what} | {value} |\n"));
    row(
        "streams requested / open (client)",
        format!(
            "{} / {} (SSE {}, WS {})",
            r.clients.requested,
            r.clients.connected,
            r.clients.sse_connected,
            r.clients.ws_connected
        ),
    );
    let gauges = |map: &BTreeMap<String, f64>| {
        map.iter()
            .map(|(k, v)| format!("{k} {v:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    row(
        "`anteroom_streams_open` (gateway) at the start / end of the window",
        format!(
            "{} / {}",
            gauges(&r.gateway_streams_open),
            gauges(&r.gateway_streams_open_at_end)
        ),
    );
    row(
        "queued (requested / at the end)",
        format!("{} / {:.0}", r.queued_requested, r.queued_at_end),
    );
    row(
        "gateway RSS before / with streams",
        format!("{} KiB / {} KiB", r.rss_before_kib, r.rss_with_streams_kib),
    );
    row(
        "gateway RSS per stream",
        r.kib_per_stream
            .map_or("—".into(), |k| format!("{k:.2} KiB")),
    );
    row(
        "update lag, server (p50 / p99)",
        format!(
            "{} / {} ({:.0} updates)",
            r.lag_p50, r.lag_p99, r.lag_observations
        ),
    );
    row(
        "same update across streams, first to last (p50 / p99)",
        format!(
            "{} / {} over {} ids",
            ms(r.spread_p50_ms),
            ms(r.spread_p99_ms),
            r.spread_ids
        ),
    );
    row(
        "first status after the request (p50 / p99)",
        format!(
            "{} / {}",
            ms(r.first_status_p50_ms),
            ms(r.first_status_p99_ms)
        ),
    );
    row(
        "WebSocket upgrades: attempted / 101 / dropped",
        format!(
            "{} / {} / {}",
            r.clients.ws_upgrade_attempts, r.clients.ws_upgrades_101, r.clients.ws_upgrades_dropped
        ),
    );
    row(
        "refused / errors",
        format!(
            "{} / {}",
            counts(&r.clients.refused),
            counts(&r.clients.errors)
        ),
    );
    row(
        "updates received / heartbeats",
        format!("{} / {}", r.clients.updates, r.clients.heartbeats),
    );
    row(
        "updates per stream per tick of the window",
        r.updates_per_stream_per_tick
            .map_or("—".into(), |u| format!("{u:.2}")),
    );
    row(
        "position went up (violations)",
        r.clients.position_violations.to_string(),
    );
    row(
        "streams that saw their own admission",
        r.clients.saw_own_admission.to_string(),
    );
    row(
        "streams closed by the server",
        r.clients.closed_by_server.to_string(),
    );
    row(
        "store commands per tick, no streams",
        format!(
            "{:.1} ({:.0} ticks: {})",
            r.store_baseline.commands_per_tick,
            r.store_baseline.ticks,
            commands(&r.store_baseline)
        ),
    );
    row(
        "store commands per tick, with streams",
        format!(
            "{:.1} ({:.0} ticks: {})",
            r.store_with_streams.commands_per_tick,
            r.store_with_streams.ticks,
            commands(&r.store_with_streams)
        ),
    );
    row(
        "with / without streams",
        r.store_ratio.map_or("—".into(), |x| format!("{x:.2}×")),
    );
    let mut text = String::from("| measure | value |\n|---|---|\n");
    text.push_str(&out);
    text.push_str("\n| budget (issue 7) | met |\n|---|---|\n");
    for (budget, met) in &r.verdicts {
        text.push_str(&format!(
            "| {budget} | {} |\n",
            if *met { "yes" } else { "**no**" }
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(ticks: u64, lag_fast: u64, lag_total: u64, open: u64) -> String {
        format!(
            "anteroom_store_seconds_count{{op=\"admit_tick\"}} {ticks}\n\
             anteroom_stream_update_seconds_bucket{{kind=\"sse\",le=\"0.25\"}} {lag_fast}\n\
             anteroom_stream_update_seconds_bucket{{kind=\"sse\",le=\"+Inf\"}} {lag_total}\n\
             anteroom_stream_update_seconds_count{{kind=\"sse\"}} {lag_total}\n\
             anteroom_streams_open{{kind=\"sse\"}} {open}\n\
             anteroom_queue_waiting{{room=\"bench\"}} 999000\n"
        )
    }

    fn redis(evalsha: u64) -> String {
        format!("cmdstat_evalsha:calls={evalsha},usec=1\r\ncmdstat_info:calls=9,usec=1\r\n")
    }

    #[test]
    fn results_carry_the_budgets_and_the_store_ratio() {
        let client = Summary {
            requested: 16_000,
            connected: 16_000,
            updates: 16_000 * 150,
            sse_connected: 16_000,
            ws_upgrade_attempts: 0,
            first_status_ms: vec![3.0, 5.0],
            ..Summary::default()
        };
        let readings = Readings {
            clients: vec![client],
            metrics_baseline: (metrics(0, 0, 0, 0), metrics(50, 0, 0, 0)),
            metrics_window: (
                metrics(50, 0, 0, 16_000),
                metrics(350, 1_000_000, 1_000_000, 15_700),
            ),
            redis_baseline: (redis(0), redis(100)),
            redis_window: (redis(100), redis(700)),
            rss_before_kib: 10_000,
            rss_with_kib: 10_000 + 16_000 * 8,
            queued: 1_000_000,
            window_seconds: 30.0,
            baseline_seconds: 5.0,
        };
        let r = build(&readings);
        assert_eq!(r.kib_per_stream, Some(8.0));
        assert_eq!(r.store_baseline.commands_per_tick, 2.0);
        assert_eq!(r.store_with_streams.commands_per_tick, 2.0);
        assert_eq!(r.store_ratio, Some(1.0));
        assert_eq!(r.updates_per_stream_per_tick, Some(0.5));
        assert!(r.lag_p99_within_budget);
        assert_eq!(r.lag_p99, "≤ 250 ms");
        assert_eq!(r.queued_at_end, 999_000.0);
        // No WebSocket upgraded: that budget cannot be claimed.
        assert_eq!(r.verdicts.get("no WebSocket upgrade dropped"), Some(&false));
        assert_eq!(r.verdicts.get("streams open >= 15000"), Some(&true));
        let table = markdown(&r);
        assert!(
            table.contains("| gateway RSS per stream | 8.00 KiB |"),
            "{table}"
        );
        assert!(table.contains("evalsha 2.0"), "{table}");
        assert!(table.contains("| sse 16000 / sse 15700 |"), "{table}");
        assert!(
            table.contains("| no WebSocket upgrade dropped | **no** |"),
            "{table}"
        );
    }
}
