//! The velocity arithmetic (GCRA, the generic cell rate algorithm), in microseconds so that
//! `window / limit` needs no fractions worth keeping. The memory store calls this; `check.lua`
//! is the same arithmetic line for line (its values stay below 2^53, exact in Lua's doubles).
//!
//! State per counter: `tat`, the theoretical arrival time of the next request if the subject
//! kept exactly to the rate. A request is allowed when paying one interval on top of `tat`
//! stays within the burst (`limit` intervals) from now; a refused request changes nothing.

use super::{span_ms, VelocityResult};

/// What one velocity check decided: the result, and the new `tat` to keep (None: keep the
/// old one) until it passes (`expires_us`, the counter is then as good as new).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    pub result: VelocityResult,
    pub new_tat_us: Option<u64>,
}

/// `(interval, burst)` in µs: `burst = limit × interval ≤ window` (rounding the interval
/// down), so a subject idle for a whole window always has its full burst back; the interval
/// is at least 1 µs (only a limit above the microseconds in the window breaks the bound).
fn shape(limit: u32, window_ms: u64) -> (u64, u64) {
    let window_us = span_ms(window_ms) * 1000;
    let interval = (window_us / u64::from(limit.max(1))).max(1);
    (interval, interval * u64::from(limit))
}

pub(crate) fn decide(tat_us: Option<u64>, now_us: u64, limit: u32, window_ms: u64) -> Decision {
    let (interval, burst) = shape(limit, window_ms);
    let base = tat_us.unwrap_or(now_us).max(now_us);
    let new_tat = base + interval;
    let ahead = new_tat - now_us;
    if ahead <= burst {
        return Decision {
            result: VelocityResult {
                count: saturate(ahead.div_ceil(interval)),
                retry_after_ms: None,
            },
            new_tat_us: Some(new_tat),
        };
    }
    Decision {
        result: VelocityResult {
            count: saturate((base - now_us).div_ceil(interval) + 1),
            retry_after_ms: Some((ahead - burst).div_ceil(1000).max(1)),
        },
        new_tat_us: None,
    }
}

fn saturate(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MAX_WINDOW_MS;

    /// Run `n` checks at `now_ms`, keeping the state in `tat`; the results.
    fn burst(
        tat: &mut Option<u64>,
        now_ms: u64,
        n: usize,
        limit: u32,
        window_ms: u64,
    ) -> Vec<VelocityResult> {
        (0..n)
            .map(|_| {
                let d = decide(*tat, now_ms * 1000, limit, window_ms);
                if let Some(new) = d.new_tat_us {
                    *tat = Some(new);
                }
                d.result
            })
            .collect()
    }

    #[test]
    fn a_burst_of_limit_then_refusals_that_cost_nothing() {
        let mut tat = None;
        let results = burst(&mut tat, 1_000, 8, 5, 1_000);
        let counts: Vec<u32> = results.iter().map(|r| r.count).collect();
        assert_eq!(counts, [1, 2, 3, 4, 5, 6, 6, 6]);
        assert!(results[..5].iter().all(|r| r.retry_after_ms.is_none()));
        // One interval (200 ms) until the next request fits.
        assert!(results[5..].iter().all(|r| r.retry_after_ms == Some(200)));
        assert_eq!(tat, Some((1_000 + 1_000) * 1000), "refusals moved nothing");
    }

    #[test]
    fn one_interval_later_one_more_and_a_window_later_the_whole_burst() {
        let mut tat = None;
        burst(&mut tat, 0, 5, 5, 1_000);
        let at_199 = burst(&mut tat, 199, 1, 5, 1_000)[0];
        assert_eq!(at_199.retry_after_ms, Some(1));
        let at_200 = burst(&mut tat, 200, 2, 5, 1_000);
        assert_eq!(at_200[0].retry_after_ms, None);
        assert_eq!(at_200[1].retry_after_ms, Some(200));
        let later = burst(&mut tat, 200 + 1_000, 6, 5, 1_000);
        assert_eq!(
            later.iter().filter(|r| r.retry_after_ms.is_none()).count(),
            5
        );
    }

    #[test]
    fn the_sustained_rate_is_limit_per_window() {
        let mut tat = None;
        let mut allowed = 0;
        // Hammer every 10 ms for 10 windows.
        for ms in (0..10_000).step_by(10) {
            allowed += burst(&mut tat, ms, 1, 4, 1_000)
                .iter()
                .filter(|r| r.retry_after_ms.is_none())
                .count();
        }
        // The first burst (4) plus one every 250 ms for 10 s (40), less the last partial.
        assert!((43..=44).contains(&allowed), "{allowed}");
    }

    #[test]
    fn edge_limits_and_windows() {
        let refused = decide(None, 5_000_000, 0, 1_000);
        assert_eq!(refused.new_tat_us, None);
        assert_eq!(refused.result.retry_after_ms, Some(1_000));
        // Window 0 behaves as 1 ms; limits above the microseconds in a window still work.
        let mut tat = None;
        let tiny = burst(&mut tat, 1, 2, 1, 0);
        assert_eq!(tiny[1].retry_after_ms, Some(1));
        let mut tat = None;
        assert!(burst(&mut tat, 1, 3, u32::MAX, 1)
            .iter()
            .all(|r| r.retry_after_ms.is_none()));
        let huge = decide(None, 1, 1, u64::MAX);
        assert_eq!(huge.new_tat_us, Some(1 + MAX_WINDOW_MS * 1000));
    }
}
