//! The booking service's waitlist metrics (Prometheus text on `GET /metrics`, operator
//! token): counters of what this instance did, gauges of each event's line as the
//! database knows it (read at scrape time). Labels stay bounded: the event id only.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::waitlist::{Overview, Promotion};

pub struct WaitlistMetrics {
    registry: Registry,
    offers: IntCounterVec,
    lag: Histogram,
    depth: IntGaugeVec,
    open: IntGaugeVec,
    backlog: IntGaugeVec,
}

impl Default for WaitlistMetrics {
    fn default() -> Self {
        WaitlistMetrics::new()
    }
}

fn or_startup<T>(what: &str, made: prometheus::Result<T>) -> T {
    match made {
        Ok(value) => value,
        // Fixed names and labels: this only fails on a programming error, at start.
        Err(error) => unreachable!("metric {what}: {error}"),
    }
}

impl WaitlistMetrics {
    pub fn new() -> WaitlistMetrics {
        let registry = Registry::new();
        let offers = or_startup(
            "offers",
            IntCounterVec::new(
                Opts::new(
                    "anteroom_waitlist_offers_total",
                    "Waitlist offers by outcome (offered, accepted, declined, expired)",
                ),
                &["outcome"],
            ),
        );
        let lag = or_startup(
            "lag",
            Histogram::with_opts(
                HistogramOpts::new(
                    "anteroom_waitlist_promotion_lag_seconds",
                    "From a place's release (cancellation) to its offer",
                )
                .buckets(vec![
                    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
                ]),
            ),
        );
        let gauge = |name: &str, help: &str| {
            or_startup(name, IntGaugeVec::new(Opts::new(name, help), &["event"]))
        };
        let depth = gauge("anteroom_waitlist_depth", "Fans waiting, per event");
        let open = gauge("anteroom_waitlist_offers_open", "Open offers, per event");
        let backlog = gauge(
            "anteroom_waitlist_outbox_backlog",
            "Offer notifications not delivered to the webhook yet, per event",
        );
        for collector in [
            Box::new(offers.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(lag.clone()),
            Box::new(depth.clone()),
            Box::new(open.clone()),
            Box::new(backlog.clone()),
        ] {
            or_startup("register", registry.register(collector));
        }
        WaitlistMetrics {
            registry,
            offers,
            lag,
            depth,
            open,
            backlog,
        }
    }

    pub fn record_promotion(&self, promotion: &Promotion) {
        for offer in &promotion.offered {
            self.lag
                .observe(offer.offered_at_ms.saturating_sub(offer.released_at_ms) as f64 / 1000.0);
        }
        self.outcome("offered", promotion.offered.len() as u64);
        self.outcome("expired", promotion.expired);
    }

    pub fn outcome(&self, outcome: &str, n: u64) {
        if n > 0 {
            self.offers.with_label_values(&[outcome]).inc_by(n);
        }
    }

    pub fn observe(&self, overview: &Overview) {
        let event = [overview.event.as_str()];
        self.depth
            .with_label_values(&event)
            .set(overview.waiting as i64);
        self.open
            .with_label_values(&event)
            .set(overview.open_offers as i64);
        self.backlog
            .with_label_values(&event)
            .set(overview.outbox_backlog as i64);
    }

    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            log::warn!("metrics encoding: {error}");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}
