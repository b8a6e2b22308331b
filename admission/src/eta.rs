//! Wait estimates shown to the queue.
//!
//! With `position` p (1 = next to be admitted; 0 is treated as 1) and rate r visitors/second:
//!
//! ```text
//! low  = floor((p - 1) / r)          -- the p-1 visitors ahead leave at the full rate
//! high = ceil(1.25 * p / r) + 1      -- 25% slack for rate changes and cap-limited ticks,
//!                                       plus one second for admission-tick granularity
//! ```
//!
//! With a measured admission rate m (what the room actually admitted lately, see
//! `RateMeter`) the pessimistic bound uses min(r, m) instead of r: a room held back by its
//! active-session cap admits slower than its configured rate, and the estimate says so. A
//! room that admitted nobody lately while people wait gets no estimate at all (no number
//! would be honest).
//!
//! `low < high` (unless both saturate at `u64::MAX`); both grow with the position and shrink
//! as the rate grows. Values are seconds, saturating at `u64::MAX`. The estimate assumes
//! nobody ahead leaves (people who abandon only make the wait shorter) and that the
//! active-session cap does not hold the rate back; each status update re-estimates from the
//! current position.

/// Estimated wait in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Eta {
    pub low: u64,
    pub high: u64,
}

/// Slack applied to the pessimistic bound.
const HIGH_FACTOR: f64 = 1.25;

/// `position` 1 = next to be admitted. None when the rate is zero (paused), negative or NaN.
/// An infinite rate gives `{low: 0, high: 1}`.
pub fn estimate_wait(position: u64, admit_per_second: f64) -> Option<Eta> {
    let rate = admit_per_second;
    if rate.is_nan() || rate <= 0.0 {
        return None;
    }
    let p = position.max(1) as f64;
    // `as u64` saturates (and maps NaN to 0, which cannot occur here).
    let low = ((p - 1.0) / rate).floor() as u64;
    let high = ((HIGH_FACTOR * p / rate).ceil() as u64).saturating_add(1);
    Some(Eta {
        low,
        high: high.max(low.saturating_add(1)),
    })
}

/// `estimate_wait` that also heeds the admission rate measured lately (`None` = not measured
/// long enough yet): the slower of the two bounds the pessimistic end. None when the room
/// admitted nobody over the measured window.
pub fn estimate_wait_measured(
    position: u64,
    admit_per_second: f64,
    measured_per_second: Option<f64>,
) -> Option<Eta> {
    let configured = estimate_wait(position, admit_per_second)?;
    let Some(measured) = measured_per_second else {
        return Some(configured);
    };
    if measured.is_nan() || measured <= 0.0 {
        return None;
    }
    let slow = estimate_wait(position, measured.min(admit_per_second))?;
    Some(Eta {
        low: configured.low,
        high: slow.high.max(configured.low.saturating_add(1)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_measured_rate_below_the_setting_widens_the_range_and_none_means_no_estimate() {
        let configured = estimate_wait(100, 10.0).unwrap();
        assert_eq!(estimate_wait_measured(100, 10.0, None), Some(configured));
        // Admitting at the set rate: the same range.
        assert_eq!(
            estimate_wait_measured(100, 10.0, Some(10.0)),
            Some(configured)
        );
        // Faster than set (a burst): the setting still bounds it.
        assert_eq!(
            estimate_wait_measured(100, 10.0, Some(40.0)),
            Some(configured)
        );
        // Held back by the cap to 2/s: the pessimistic end follows the measured rate.
        let slow = estimate_wait_measured(100, 10.0, Some(2.0)).unwrap();
        assert_eq!(slow.low, configured.low);
        assert_eq!(slow.high, estimate_wait(100, 2.0).unwrap().high);
        assert_eq!(estimate_wait_measured(100, 10.0, Some(0.0)), None);
        assert_eq!(estimate_wait_measured(100, 0.0, Some(5.0)), None);
    }

    #[test]
    fn documented_examples() {
        assert_eq!(estimate_wait(1, 50.0), Some(Eta { low: 0, high: 2 }));
        assert_eq!(estimate_wait(50, 50.0), Some(Eta { low: 0, high: 3 }));
        assert_eq!(estimate_wait(51, 50.0), Some(Eta { low: 1, high: 3 }));
        assert_eq!(estimate_wait(1234, 50.0), Some(Eta { low: 24, high: 32 }));
        assert_eq!(
            estimate_wait(5_000_000, 50.0),
            Some(Eta {
                low: 99_999,
                high: 125_001
            })
        );
        assert_eq!(estimate_wait(1, 0.5), Some(Eta { low: 0, high: 4 }));
        assert_eq!(estimate_wait(3, 0.5), Some(Eta { low: 4, high: 9 }));
    }

    #[test]
    fn position_zero_is_treated_as_next() {
        assert_eq!(estimate_wait(0, 10.0), estimate_wait(1, 10.0));
    }

    #[test]
    fn paused_or_invalid_rate_has_no_estimate() {
        assert_eq!(estimate_wait(10, 0.0), None);
        assert_eq!(estimate_wait(10, -0.0), None);
        assert_eq!(estimate_wait(10, -5.0), None);
        assert_eq!(estimate_wait(10, f64::NAN), None);
        assert_eq!(estimate_wait(10, f64::NEG_INFINITY), None);
        assert_eq!(
            estimate_wait(10, f64::INFINITY),
            Some(Eta { low: 0, high: 1 })
        );
    }

    #[test]
    fn monotone_and_ordered() {
        for rate in [0.1, 0.5, 1.0, 3.3, 50.0, 1234.5] {
            let mut prev = Eta { low: 0, high: 0 };
            for position in (1..5_000).chain([1_000_000, 1_000_000_000_000]) {
                let eta = estimate_wait(position, rate).expect("positive rate");
                assert!(eta.low < eta.high, "{position} {rate} {eta:?}");
                assert!(
                    eta.low >= prev.low && eta.high >= prev.high,
                    "{position} {rate}"
                );
                prev = eta;
            }
        }
        // a faster rate never makes the estimate longer
        for position in [1, 2, 77, 10_000] {
            let slow = estimate_wait(position, 10.0).expect("some");
            let fast = estimate_wait(position, 20.0).expect("some");
            assert!(fast.low <= slow.low && fast.high <= slow.high);
        }
    }

    #[test]
    fn extreme_inputs_saturate() {
        let eta = estimate_wait(u64::MAX, 1e-300).expect("some");
        assert_eq!(
            eta,
            Eta {
                low: u64::MAX,
                high: u64::MAX
            }
        );
    }

    #[test]
    fn serializes_as_documented() {
        let json = serde_json::to_string(&Eta { low: 20, high: 30 }).expect("serialize");
        assert_eq!(json, r#"{"low":20,"high":30}"#);
    }
}
