//! Reading what the servers report: Prometheus text (the gateway's `/metrics`) and Redis
//! `INFO commandstats`, each as a before/after pair around a measured window.

use std::collections::BTreeMap;

/// One sample line: name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Prometheus text format, sample lines only (no escaped quotes in label values: the
/// gateway's labels are bounded names).
pub fn parse_prometheus(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(parse_sample)
        .collect()
}

fn parse_sample(line: &str) -> Option<Sample> {
    let (series, value) = line.trim().rsplit_once(' ')?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        other => other.parse().ok()?,
    };
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => {
            let inner = rest.strip_suffix('}')?;
            let labels = inner
                .split(',')
                .filter(|pair| !pair.is_empty())
                .filter_map(|pair| {
                    let (key, value) = pair.split_once('=')?;
                    Some((key.to_string(), value.trim_matches('"').to_string()))
                })
                .collect();
            (name, labels)
        }
        None => (series, Vec::new()),
    };
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Sum of every series of `name` whose labels include all of `matching`.
pub fn sum(samples: &[Sample], name: &str, matching: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| matching.iter().all(|(k, v)| s.label(k) == Some(*v)))
        .map(|s| s.value)
        .sum()
}

/// Value per label `key` of the series of `name` (e.g. `anteroom_streams_open` by `kind`).
pub fn by_label(samples: &[Sample], name: &str, key: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for sample in samples.iter().filter(|s| s.name == name) {
        if let Some(value) = sample.label(key) {
            *out.entry(value.to_string()).or_insert(0.0) += sample.value;
        }
    }
    out
}

/// Cumulative bucket counts of histogram `name` (summed over its other labels), by `le`.
pub fn buckets(samples: &[Sample], name: &str) -> Vec<(f64, f64)> {
    let bucket = format!("{name}_bucket");
    let mut out: Vec<(f64, f64)> = Vec::new();
    for sample in samples.iter().filter(|s| s.name == bucket) {
        let Some(le) = sample.label("le").and_then(|le| match le {
            "+Inf" => Some(f64::INFINITY),
            other => other.parse().ok(),
        }) else {
            continue;
        };
        match out.iter_mut().find(|(bound, _)| *bound == le) {
            Some((_, count)) => *count += sample.value,
            None => out.push((le, sample.value)),
        }
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// What a histogram says about a quantile: an upper bound from its buckets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Quantile {
    /// No observation in the window.
    Empty,
    /// At most this many seconds (the bucket's upper bound).
    AtMost(f64),
    /// Above the largest finite bound.
    Above(f64),
}

impl Quantile {
    pub fn describe_ms(&self) -> String {
        match self {
            Quantile::Empty => "no updates observed".into(),
            Quantile::AtMost(s) => format!("≤ {:.0} ms", s * 1000.0),
            Quantile::Above(s) => format!("> {:.0} ms", s * 1000.0),
        }
    }

    pub fn within(&self, seconds: f64) -> bool {
        matches!(self, Quantile::AtMost(s) if *s <= seconds)
    }
}

/// Quantile `q` of the observations made between two scrapes of the same histogram.
pub fn window_quantile(before: &[(f64, f64)], after: &[(f64, f64)], q: f64) -> Quantile {
    let delta: Vec<(f64, f64)> = after
        .iter()
        .map(|(le, count)| {
            let earlier = before
                .iter()
                .find(|(b, _)| b == le)
                .map_or(0.0, |(_, c)| *c);
            (*le, count - earlier)
        })
        .collect();
    let total = delta.last().map_or(0.0, |(_, c)| *c);
    if total <= 0.0 {
        return Quantile::Empty;
    }
    let largest_finite = delta
        .iter()
        .map(|(le, _)| *le)
        .filter(|le| le.is_finite())
        .fold(0.0, f64::max);
    match delta.iter().find(|(_, count)| *count >= q * total) {
        Some((le, _)) if le.is_finite() => Quantile::AtMost(*le),
        _ => Quantile::Above(largest_finite),
    }
}

/// Number of observations of histogram `name` between two scrapes.
pub fn window_count(before: &[Sample], after: &[Sample], name: &str) -> f64 {
    let count = format!("{name}_count");
    sum(after, &count, &[]) - sum(before, &count, &[])
}

/// `INFO commandstats` → calls per command.
pub fn parse_commandstats(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("cmdstat_")?;
            let (command, fields) = rest.split_once(':')?;
            let calls = fields
                .split(',')
                .find_map(|field| field.strip_prefix("calls="))?
                .parse()
                .ok()?;
            Some((command.to_string(), calls))
        })
        .collect()
}

/// Calls per command made between two readings, without the commands the benchmark itself
/// sends to read them.
pub fn commands_between(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter(|(command, _)| {
            !matches!(command.as_str(), "info" | "config|get" | "client|setname")
        })
        .map(|(command, calls)| {
            let earlier = before.get(command).copied().unwrap_or(0);
            (command.clone(), calls.saturating_sub(earlier))
        })
        .filter(|(_, calls)| *calls > 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = r#"# HELP anteroom_stream_update_seconds lag
# TYPE anteroom_stream_update_seconds histogram
anteroom_stream_update_seconds_bucket{kind="sse",le="0.01"} 10
anteroom_stream_update_seconds_bucket{kind="sse",le="0.1"} 10
anteroom_stream_update_seconds_bucket{kind="sse",le="1"} 10
anteroom_stream_update_seconds_bucket{kind="sse",le="+Inf"} 10
anteroom_stream_update_seconds_count{kind="sse"} 10
anteroom_streams_open{kind="sse"} 0
anteroom_streams_open{kind="ws"} 0
anteroom_store_seconds_count{op="admit_tick"} 100
"#;

    const AFTER: &str = r#"anteroom_stream_update_seconds_bucket{kind="sse",le="0.01"} 50
anteroom_stream_update_seconds_bucket{kind="sse",le="0.1"} 1000
anteroom_stream_update_seconds_bucket{kind="sse",le="1"} 1010
anteroom_stream_update_seconds_bucket{kind="sse",le="+Inf"} 1010
anteroom_stream_update_seconds_count{kind="sse"} 1010
anteroom_stream_update_seconds_bucket{kind="ws",le="0.01"} 0
anteroom_stream_update_seconds_bucket{kind="ws",le="0.1"} 990
anteroom_stream_update_seconds_bucket{kind="ws",le="1"} 1000
anteroom_stream_update_seconds_bucket{kind="ws",le="+Inf"} 1000
anteroom_stream_update_seconds_count{kind="ws"} 1000
anteroom_streams_open{kind="sse"} 7500
anteroom_streams_open{kind="ws"} 7400
anteroom_store_seconds_count{op="admit_tick"} 400
anteroom_store_seconds_count{op="join"} 9
"#;

    #[test]
    fn samples_parse_with_and_without_labels() {
        let samples =
            parse_prometheus("up 1\nx{a=\"b\",c=\"d\"} 2.5\n# c\nbad\ny{le=\"+Inf\"} +Inf");
        assert_eq!(samples.len(), 3);
        assert_eq!(samples[1].label("c"), Some("d"));
        assert_eq!(samples[1].value, 2.5);
        assert_eq!(samples[2].value, f64::INFINITY);
    }

    #[test]
    fn window_p99_of_the_lag_histogram_counts_only_new_observations() {
        let before = parse_prometheus(BEFORE);
        let after = parse_prometheus(AFTER);
        let name = "anteroom_stream_update_seconds";
        assert_eq!(window_count(&before, &after, name), 2000.0);
        // 2000 new: 40 ≤ 10 ms, 1980 ≤ 100 ms, 2000 ≤ 1 s: p99 (1980) ≤ 100 ms, p50 too.
        let q = window_quantile(&buckets(&before, name), &buckets(&after, name), 0.99);
        assert_eq!(q, Quantile::AtMost(0.1));
        assert!(q.within(1.0));
        assert_eq!(q.describe_ms(), "≤ 100 ms");
        let q999 = window_quantile(&buckets(&before, name), &buckets(&after, name), 0.999);
        assert_eq!(q999, Quantile::AtMost(1.0));
        assert_eq!(
            window_quantile(&buckets(&after, name), &buckets(&after, name), 0.99),
            Quantile::Empty
        );
        let slow = [(0.5, 1.0), (1.0, 1.0), (f64::INFINITY, 100.0)];
        assert_eq!(window_quantile(&[], &slow, 0.99), Quantile::Above(1.0));
        assert!(!Quantile::Above(1.0).within(1.0));
    }

    #[test]
    fn gauges_by_label_and_counter_sums() {
        let after = parse_prometheus(AFTER);
        let open = by_label(&after, "anteroom_streams_open", "kind");
        assert_eq!(open.get("sse"), Some(&7500.0));
        assert_eq!(open.get("ws"), Some(&7400.0));
        let ticks = sum(
            &after,
            "anteroom_store_seconds_count",
            &[("op", "admit_tick")],
        ) - sum(
            &parse_prometheus(BEFORE),
            "anteroom_store_seconds_count",
            &[("op", "admit_tick")],
        );
        assert_eq!(ticks, 300.0);
    }

    #[test]
    fn commandstats_deltas_leave_out_the_readers_own_calls() {
        let before = parse_commandstats(
            "# Commandstats\r\ncmdstat_evalsha:calls=100,usec=900,usec_per_call=9.00,rejected_calls=0,failed_calls=0\r\n\
             cmdstat_info:calls=3,usec=1,usec_per_call=0.3\r\n",
        );
        let after = parse_commandstats(
            "cmdstat_evalsha:calls=400,usec=2900,usec_per_call=7.25\r\ncmdstat_info:calls=4,usec=1\r\n\
             cmdstat_zrank:calls=15000,usec=1\r\ncmdstat_ping:calls=0,usec=0\r\n",
        );
        assert_eq!(before.get("evalsha"), Some(&100));
        let delta = commands_between(&before, &after);
        assert_eq!(delta.get("evalsha"), Some(&300));
        assert_eq!(delta.get("zrank"), Some(&15000));
        assert!(!delta.contains_key("info"));
        assert!(!delta.contains_key("ping"));
    }
}
