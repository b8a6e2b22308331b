//! The report as Markdown and as one self-contained HTML page with inline SVG plots.

use std::fmt::Write;

use crate::report::{Report, Sample};

pub fn markdown(report: &Report) -> String {
    let s = &report.summary;
    let mut out = String::new();
    let verdict = if report.passed { "PASSED" } else { "FAILED" };
    let _ = writeln!(out, "# Flash-sale report: {verdict}\n");
    let _ = writeln!(out, "`{}`\n", report.settings.command);
    let _ = writeln!(out, "| figure | value |\n|---|---|");
    let rows: [(&str, String); 17] = [
        ("visitors (bots)", format!("{} ({})", s.visitors, s.bots)),
        ("joins per second", format!("{:.1}", s.joins_per_second)),
        (
            "admission rate",
            format!(
                "{:.2}/s measured, {:.2}/s set ({:+.2}%)",
                s.measured_admit_per_second, s.set_admit_per_second, s.admission_rate_error_pct
            ),
        ),
        ("Kendall-tau distance", s.kendall_tau_distance.to_string()),
        ("admitted", s.admitted.to_string()),
        (
            "admitted without a recorded join",
            s.admitted_without_recorded_join.to_string(),
        ),
        ("double holds", s.double_holds.to_string()),
        ("double bookings (ledger)", s.double_bookings.to_string()),
        (
            "seats sold / capacity",
            format!("{} / {}", s.seats_sold, s.capacity),
        ),
        (
            "bookings: seen by visitors / in the ledger",
            format!("{} / {}", s.bookings_seen_by_visitors, s.bookings_in_ledger),
        ),
        (
            "last booking at",
            format!("{:.1} s", s.last_booking_at_seconds),
        ),
        ("ETA error", format!("{:.1}%", s.eta_error_pct)),
        (
            "waits within the promised ETA",
            format!("{:.1}%", s.eta_within_promise_pct),
        ),
        (
            "abandoned",
            format!("{} ({:.1}%)", s.abandoned, s.abandonment_pct),
        ),
        ("bots admitted", s.bots_admitted.to_string()),
        ("joined", s.joined.to_string()),
        ("duration", format!("{:.1} s", s.duration_seconds)),
    ];
    for (name, value) in rows {
        let _ = writeln!(out, "| {name} | {value} |");
    }
    let _ = writeln!(
        out,
        "\n## Gates\n\n| gate | result | detail |\n|---|---|---|"
    );
    for gate in &report.gates {
        let result = if gate.passed { "pass" } else { "FAIL" };
        let _ = writeln!(out, "| {} | {result} | {} |", gate.name, gate.detail);
    }
    let _ = writeln!(out, "\n## Latency per step\n\n| step | count | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|");
    for (name, l) in &report.steps {
        let _ = writeln!(
            out,
            "| {name} | {} | {:.1} | {:.1} | {:.1} |",
            l.count, l.p50_ms, l.p99_ms, l.max_ms
        );
    }
    let _ = writeln!(out, "\n## Outcomes\n\n| outcome | visitors |\n|---|---|");
    for (name, n) in &report.outcomes {
        let _ = writeln!(out, "| {name} | {n} |");
    }
    if !report.errors.is_empty() {
        let _ = writeln!(out, "\n## Errors (distinct, first 20)\n");
        for error in &report.errors {
            let _ = writeln!(out, "- `{}`", error.replace('`', "'"));
        }
    }
    out
}

pub fn html(report: &Report) -> String {
    let markdown_table = escape(&markdown(report));
    let queue: Vec<(f64, f64)> = report
        .series
        .iter()
        .map(|s| (s.t, s.waiting as f64))
        .collect();
    let admissions = admissions_per_second(&report.series);
    let steps: Vec<(String, f64, f64)> = report
        .steps
        .iter()
        .map(|(name, l)| (name.to_string(), l.p50_ms, l.p99_ms))
        .collect();
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Flash-sale report</title>\
         <style>body{{font-family:sans-serif;max-width:60em;margin:auto}}svg{{background:#fafafa}}</style>\
         </head><body>\n<h1>Flash-sale report: {}</h1>\n\
         <h2>Queue length</h2>\n{}\n<h2>Admissions per second</h2>\n{}\n\
         <h2>Latency per step (p50, p99; ms)</h2>\n{}\n<h2>Figures</h2>\n<pre>{markdown_table}</pre>\n\
         </body></html>\n",
        if report.passed { "passed" } else { "FAILED" },
        line_plot(&queue, "waiting"),
        line_plot(&admissions, "admitted/s"),
        bar_plot(&steps),
    )
}

/// Admissions per second between consecutive samples.
fn admissions_per_second(series: &[Sample]) -> Vec<(f64, f64)> {
    series
        .windows(2)
        .filter_map(|pair| {
            let [a, b] = pair else { return None };
            let dt = b.t - a.t;
            (dt > 0.0).then(|| {
                (
                    b.t,
                    b.admitted_total.saturating_sub(a.admitted_total) as f64 / dt,
                )
            })
        })
        .collect()
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
const MARGIN: f64 = 40.0;

fn line_plot(points: &[(f64, f64)], label: &str) -> String {
    let max_x = points.iter().map(|p| p.0).fold(1e-9, f64::max);
    let max_y = points.iter().map(|p| p.1).fold(1e-9, f64::max);
    let path: Vec<String> = points
        .iter()
        .map(|(x, y)| {
            let px = MARGIN + x / max_x * (WIDTH - 2.0 * MARGIN);
            let py = HEIGHT - MARGIN - y / max_y * (HEIGHT - 2.0 * MARGIN);
            format!("{px:.1},{py:.1}")
        })
        .collect();
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\">\
         <polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"{}\"/>\
         <text x=\"{MARGIN}\" y=\"20\">{label}: max {max_y:.1}</text>\
         <text x=\"{}\" y=\"{}\">{max_x:.1} s</text></svg>",
        path.join(" "),
        WIDTH - 2.0 * MARGIN,
        HEIGHT - 10.0
    )
}

fn bar_plot(steps: &[(String, f64, f64)]) -> String {
    let max = steps.iter().map(|s| s.2).fold(1e-9, f64::max);
    let band = (WIDTH - 2.0 * MARGIN) / steps.len().max(1) as f64;
    let mut bars = String::new();
    for (i, (name, p50, p99)) in steps.iter().enumerate() {
        let x = MARGIN + i as f64 * band;
        for (offset, value, color) in [(0.0, p50, "#1f77b4"), (band * 0.35, p99, "#ff7f0e")] {
            let h = value / max * (HEIGHT - 2.0 * MARGIN);
            let _ = write!(
                bars,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{color}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\">{value:.0}</text>",
                x + offset,
                HEIGHT - MARGIN - h,
                band * 0.3,
                x + offset,
                HEIGHT - MARGIN - h - 2.0
            );
        }
        let _ = write!(
            bars,
            "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"11\">{}</text>",
            HEIGHT - 20.0,
            escape(name)
        );
    }
    format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\">{bars}</svg>")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
