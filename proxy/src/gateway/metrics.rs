//! Prometheus metrics of the public contract. One registry per gateway (not the global
//! one) so several gateways in one process never mix their counts. Labels stay bounded:
//! room ids come from config, reasons and verdicts from fixed enums, statuses are codes.

use anteroom_queue::{Joined, Placement};
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Every store operation timed (`anteroom_store_seconds`, `anteroom_store_errors_total`).
pub const STORE_OPS: [&str; 14] = [
    "join",
    // The guard's check, shadow read and (for a clean request) join: one round trip.
    "guard_join",
    "admit_tick",
    "settings",
    "stats",
    "revocations",
    "leave",
    "renew",
    "revoke",
    "update_settings",
    "ping",
    "frontier",
    "touch",
    "status",
];
const STREAM_KINDS: [&str; 2] = ["sse", "ws"];
const STREAM_CLOSE_REASONS: [&str; 5] = ["client", "slow_client", "shutdown", "renewal", "error"];
const STREAM_REFUSE_REASONS: [&str; 2] = ["instance_full", "visitor_full"];
const CHALLENGE_OUTCOMES: [&str; 4] = ["issued", "solved", "failed", "replayed"];

pub struct Metrics {
    registry: Registry,
    pub queue_waiting: IntGaugeVec,
    pub active_sessions: IntGaugeVec,
    pub joins_total: IntCounterVec,
    pub admitted_total: IntCounterVec,
    pub admit_per_second: GaugeVec,
    pub pass_rejected_total: IntCounterVec,
    pub streams_open: IntGaugeVec,
    pub upstream_responses_total: IntCounterVec,
    pub store_seconds: HistogramVec,
    pub bot_verdicts_total: IntCounterVec,
    pub challenges_total: IntCounterVec,
    pub store_errors_total: IntCounterVec,
    pub stream_opens_total: IntCounterVec,
    pub stream_closes_total: IntCounterVec,
    pub streams_refused_total: IntCounterVec,
    pub stream_update_seconds: HistogramVec,
}

impl Metrics {
    /// Registering fixed, distinct metric names cannot fail; a failure is a programming error
    /// caught at startup.
    #[allow(clippy::expect_used)] // startup only: fixed, distinct names cannot fail
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let int_gauge = |name: &str, help: &str, labels: &[&str]| {
            let gauge = IntGaugeVec::new(Opts::new(name, help), labels).expect("metric definition");
            registry
                .register(Box::new(gauge.clone()))
                .expect("metric registration");
            gauge
        };
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let counter =
                IntCounterVec::new(Opts::new(name, help), labels).expect("metric definition");
            registry
                .register(Box::new(counter.clone()))
                .expect("metric registration");
            counter
        };
        let queue_waiting = int_gauge(
            "anteroom_queue_waiting",
            "Visitors waiting in the room's queue (shared room state as the store knows it).",
            &["room"],
        );
        let active_sessions = int_gauge(
            "anteroom_active_sessions",
            "Admitted visitors whose session has not expired (shared room state).",
            &["room"],
        );
        let joins_total = counter(
            "anteroom_joins_total",
            "Visitors who took a new place in the room through this instance (polls of a place already held are not joins).",
            &["room"],
        );
        let admitted_total = counter(
            "anteroom_admitted_total",
            "Visitors admitted by this instance: by its admission ticks and straight through on joining.",
            &["room"],
        );
        let admit_per_second = GaugeVec::new(
            Opts::new(
                "anteroom_admit_per_second",
                "The room's live admission rate.",
            ),
            &["room"],
        )
        .expect("metric definition");
        registry
            .register(Box::new(admit_per_second.clone()))
            .expect("metric registration");
        let pass_rejected_total = counter(
            "anteroom_pass_rejected_total",
            "Passes refused, by reason.",
            &["room", "reason"],
        );
        let streams_open = int_gauge(
            "anteroom_streams_open",
            "Open live status streams, by kind (sse, ws).",
            &["kind"],
        );
        let upstream_responses_total = counter(
            "anteroom_upstream_responses_total",
            "Responses from origins, by room and status code.",
            &["room", "status"],
        );
        let store_seconds = HistogramVec::new(
            HistogramOpts::new("anteroom_store_seconds", "Store round-trip time.").buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
            &["op"],
        )
        .expect("metric definition");
        registry
            .register(Box::new(store_seconds.clone()))
            .expect("metric registration");
        let bot_verdicts_total = counter(
            "anteroom_bot_verdicts_total",
            "Bot-guard verdicts, by room, verdict (allow, challenge, shadow, block) and reason.",
            &["room", "verdict", "reason"],
        );
        let challenges_total = counter(
            "anteroom_challenges_total",
            "Proof-of-work challenges, by room and outcome (issued, solved, failed, replayed).",
            &["room", "outcome"],
        );
        let store_errors_total = counter(
            "anteroom_store_errors_total",
            "Store calls that failed, by operation.",
            &["op"],
        );
        let stream_opens_total = counter(
            "anteroom_stream_opens_total",
            "Live status streams opened, by kind (sse, ws).",
            &["kind"],
        );
        let stream_closes_total = counter(
            "anteroom_stream_closes_total",
            "Live status streams ended, by kind and reason (client, slow_client, shutdown, renewal, error).",
            &["kind", "reason"],
        );
        let streams_refused_total = counter(
            "anteroom_streams_refused_total",
            "Live status streams refused by a limit, by kind and reason (instance_full, visitor_full).",
            &["kind", "reason"],
        );
        let stream_update_seconds = HistogramVec::new(
            HistogramOpts::new(
                "anteroom_stream_update_seconds",
                "From the admission tick that moved the line (store clock) to the update written to a stream.",
            )
            .buckets(vec![
                0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0,
            ]),
            &["kind"],
        )
        .expect("metric definition");
        registry
            .register(Box::new(stream_update_seconds.clone()))
            .expect("metric registration");
        // Series of fixed label sets exist from the start at 0, so `rate()` sees their first
        // increment and a dashboard shows 0 rather than "no data".
        for kind in STREAM_KINDS {
            streams_open.with_label_values(&[kind]).set(0);
            stream_opens_total.with_label_values(&[kind]);
            stream_update_seconds.with_label_values(&[kind]);
            for reason in STREAM_CLOSE_REASONS {
                stream_closes_total.with_label_values(&[kind, reason]);
            }
            for reason in STREAM_REFUSE_REASONS {
                streams_refused_total.with_label_values(&[kind, reason]);
            }
        }
        for op in STORE_OPS {
            store_seconds.with_label_values(&[op]);
            store_errors_total.with_label_values(&[op]);
        }
        Metrics {
            registry,
            queue_waiting,
            active_sessions,
            joins_total,
            admitted_total,
            admit_per_second,
            pass_rejected_total,
            streams_open,
            upstream_responses_total,
            store_seconds,
            bot_verdicts_total,
            challenges_total,
            store_errors_total,
            stream_opens_total,
            stream_closes_total,
            streams_refused_total,
            stream_update_seconds,
        }
    }

    /// A configured room: its rate, and its counters at 0.
    pub fn add_room(&self, room: &str, admit_per_second: f64) {
        self.admit_per_second
            .with_label_values(&[room])
            .set(admit_per_second);
        self.joins_total.with_label_values(&[room]);
        self.admitted_total.with_label_values(&[room]);
        let reasons = anteroom_admission::PassRejection::ALL.map(|reason| reason.reason());
        for reason in reasons.iter().chain(&["revoked"]) {
            self.pass_rejected_total.with_label_values(&[room, reason]);
        }
        for outcome in CHALLENGE_OUTCOMES {
            self.challenges_total.with_label_values(&[room, outcome]);
        }
    }

    /// Joins count visitors who took a new place (not polls of a place already held);
    /// admissions count every visitor this instance let in, and a new place that is already
    /// a session is a straight-through admission (the ticker counts the rest).
    pub fn count_join(&self, room: &str, joined: &Joined) {
        if !joined.new_place {
            return;
        }
        self.joins_total.with_label_values(&[room]).inc();
        if matches!(joined.placement, Placement::Admitted { .. }) {
            self.admitted_total.with_label_values(&[room]).inc();
        }
    }

    pub fn count_verdict(&self, room: &str, verdict: &str, reason: &str) {
        self.bot_verdicts_total
            .with_label_values(&[room, verdict, reason])
            .inc();
    }

    pub fn count_challenge(&self, room: &str, outcome: &str) {
        self.challenges_total
            .with_label_values(&[room, outcome])
            .inc();
    }

    /// The shared figures of a room, as the store reported them.
    pub fn set_room_figures(&self, room: &str, waiting: u64, active: u64) {
        let gauge = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        self.queue_waiting
            .with_label_values(&[room])
            .set(gauge(waiting));
        self.active_sessions
            .with_label_values(&[room])
            .set(gauge(active));
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(error) = encoder.encode(&self.registry.gather(), &mut out) {
            log::warn!("metrics encoding failed: {error}");
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
