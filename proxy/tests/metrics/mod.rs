//! Reading Prometheus text and PromQL for the metrics suites: samples with their labels, the
//! `# TYPE` of each family, and the metric names an expression queries.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// One `/metrics` scrape, parsed.
#[derive(Debug, Default)]
pub struct Scrape {
    pub types: BTreeMap<String, String>,
    pub samples: Vec<Sample>,
}

impl Scrape {
    pub fn parse(text: &str) -> Scrape {
        let mut scrape = Scrape::default();
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                scrape.types.insert(name.to_string(), kind.to_string());
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("sample value");
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                other => other
                    .parse()
                    .unwrap_or_else(|_| panic!("value in {line:?}")),
            };
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}').expect("}"))),
                None => (series, BTreeMap::new()),
            };
            scrape.samples.push(Sample {
                name: name.to_string(),
                labels,
                value,
            });
        }
        scrape
    }

    /// Every sample name (histograms show as `_bucket`, `_sum`, `_count`).
    pub fn names(&self) -> BTreeSet<&str> {
        self.samples.iter().map(|s| s.name.as_str()).collect()
    }

    /// The samples of `name` whose labels include every pair of `labels`.
    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |sample| {
            sample.name == name
                && labels
                    .iter()
                    .all(|(k, v)| sample.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// The sum of the samples of `name` matching `labels` (0 when none).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.value).sum()
    }

    /// The label names of `name`'s samples (all of them must carry the same set).
    pub fn label_names(&self, name: &str) -> BTreeSet<String> {
        let mut sets: Vec<BTreeSet<String>> = self
            .matching(name, &[])
            .map(|s| s.labels.keys().cloned().collect())
            .collect();
        sets.dedup();
        assert!(
            sets.len() <= 1,
            "{name} has samples with different label sets: {sets:?}"
        );
        sets.pop().unwrap_or_default()
    }
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").expect("label=\"value\"");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect("closing quote") {
                (_, '\\') => value.push(chars.next().expect("escaped char").1),
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        labels.insert(key.trim_start_matches(',').to_string(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels
}

const PROMQL_WORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
];

/// The metric names a PromQL expression (or Grafana's `label_values(METRIC, LABEL)`) queries:
/// identifiers that are not functions, keywords, label names in `{}` / `by (...)`, durations
/// in `[]` or strings.
pub fn promql_metric_names(expr: &str) -> BTreeSet<String> {
    if let Some(inner) = expr
        .trim()
        .strip_prefix("label_values(")
        .and_then(|rest| rest.split(',').next())
    {
        return promql_metric_names(inner);
    }
    // Blank out what holds no metric names: strings, {matchers}, [ranges], grouping lists.
    let mut text = String::with_capacity(expr.len());
    let mut depth_braces = 0;
    let mut in_string = false;
    let mut in_range = false;
    for c in expr.chars() {
        match c {
            '"' if depth_braces == 0 => in_string = !in_string,
            '{' if !in_string => depth_braces += 1,
            '}' if !in_string => depth_braces -= 1,
            '[' if !in_string && depth_braces == 0 => in_range = true,
            ']' if in_range => in_range = false,
            _ if in_string || depth_braces > 0 || in_range => {}
            _ => {
                text.push(c);
                continue;
            }
        }
        text.push(' ');
    }
    let tokens: Vec<&str> = text
        .split(|c: char| {
            !(c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '(' || c == ')')
        })
        .flat_map(|token| split_parens(token))
        .filter(|token| !token.is_empty())
        .collect();
    let mut names = BTreeSet::new();
    let mut skip_group = false;
    for (i, token) in tokens.iter().enumerate() {
        let next = tokens.get(i + 1).copied();
        if *token == "(" && skip_group {
            // `by (a, b)`: skip up to the closing parenthesis.
            continue;
        }
        if *token == ")" {
            skip_group = false;
            continue;
        }
        if *token == "(" {
            continue;
        }
        if skip_group {
            continue;
        }
        let lower = token.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
        ) {
            skip_group = true;
            continue;
        }
        let is_ident = token
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
        // A function or aggregation: followed by its arguments or its grouping.
        let is_call = matches!(next, Some("(" | "by" | "without"));
        if !is_ident || is_call || PROMQL_WORDS.contains(&lower.as_str()) {
            continue;
        }
        names.insert(token.to_string());
    }
    names
}

fn split_parens(token: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, c) in token.char_indices() {
        if c == '(' || c == ')' {
            parts.push(&token[start..i]);
            parts.push(&token[i..i + 1]);
            start = i + 1;
        }
    }
    parts.push(&token[start..]);
    parts
}

#[test]
fn promql_names_are_found_and_nothing_else() {
    let names = |expr: &str| -> Vec<String> { promql_metric_names(expr).into_iter().collect() };
    assert_eq!(
        names("histogram_quantile(0.99, sum by (le, op) (rate(anteroom_store_seconds_bucket{room=~\"$room\"}[5m])))"),
        ["anteroom_store_seconds_bucket"]
    );
    assert_eq!(
        names("sum by (op) (rate(a_sum[5m])) / sum by (op) (rate(a_count[5m]))"),
        ["a_count", "a_sum"]
    );
    assert_eq!(
        names("max by (room) (anteroom_queue_waiting)"),
        ["anteroom_queue_waiting"]
    );
    assert_eq!(
        names("label_values(anteroom_admit_per_second, room)"),
        ["anteroom_admit_per_second"]
    );
    assert_eq!(names("up offset 5m"), ["up"]);
}

#[test]
fn prometheus_text_is_parsed() {
    let scrape = Scrape::parse(
        "# HELP x_total help\n# TYPE x_total counter\nx_total{a=\"1\",b=\"q\\\"\"} 3\n\
         # TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.5\nh_count 2\n",
    );
    assert_eq!(scrape.types["x_total"], "counter");
    assert_eq!(scrape.sum("x_total", &[("b", "q\"")]), 3.0);
    assert_eq!(scrape.sum("h_count", &[]), 2.0);
    assert!(scrape.names().contains("h_bucket"));
}
