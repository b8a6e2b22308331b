//! The admission rate a room actually achieved lately, from the store's running total of
//! admissions sampled now and then: what honest wait estimates are made of.

use std::collections::VecDeque;

/// Samples older than this are dropped: the rate describes the last minute.
pub const WINDOW_MS: u64 = 60_000;
/// A rate over less time than this says too little: `rate` gives None before.
pub const MIN_SPAN_MS: u64 = 10_000;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateMeter {
    /// (time ms, admitted total), oldest first.
    samples: VecDeque<(u64, u64)>,
}

impl RateMeter {
    pub fn new() -> RateMeter {
        RateMeter::default()
    }

    /// Record the total admitted so far at `now_ms`. A total that went down (the store lost
    /// its figures) starts the measurement over.
    pub fn record(&mut self, now_ms: u64, admitted_total: u64) {
        if let Some(&(last_ms, last_total)) = self.samples.back() {
            if admitted_total < last_total || now_ms < last_ms {
                self.samples.clear();
            }
        }
        self.samples.push_back((now_ms, admitted_total));
        while let Some(&(oldest_ms, _)) = self.samples.front() {
            if now_ms.saturating_sub(oldest_ms) > WINDOW_MS && self.samples.len() > 2 {
                self.samples.pop_front();
            } else {
                break;
            }
        }
    }

    /// Admissions per second over the window, once it spans `MIN_SPAN_MS`.
    pub fn rate(&self) -> Option<f64> {
        let (&(first_ms, first_total), &(last_ms, last_total)) =
            (self.samples.front()?, self.samples.back()?);
        let span = last_ms.saturating_sub(first_ms);
        if span < MIN_SPAN_MS {
            return None;
        }
        Some(last_total.saturating_sub(first_total) as f64 * 1000.0 / span as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_covers_the_last_minute_once_ten_seconds_are_seen() {
        let mut meter = RateMeter::new();
        meter.record(0, 100);
        meter.record(5_000, 150);
        assert_eq!(meter.rate(), None);
        meter.record(10_000, 200);
        assert_eq!(meter.rate(), Some(10.0));
        // A minute later at 2/s: the old samples age out.
        for second in 11..=80 {
            meter.record(second * 1000, 200 + (second - 10) * 2);
        }
        let rate = meter.rate().unwrap();
        assert!((rate - 2.0).abs() < 0.01, "{rate}");
    }

    #[test]
    fn a_total_that_went_down_starts_over() {
        let mut meter = RateMeter::new();
        meter.record(0, 500);
        meter.record(20_000, 700);
        meter.record(21_000, 3);
        assert_eq!(meter.rate(), None);
    }
}
