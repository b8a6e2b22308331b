//! The velocity arithmetic (GCRA, the generic cell rate algorithm), in microseconds so that
//! `window / limit` needs no fractions worth keeping. The memory store calls this; `check.lua`
//! is the same arithmetic line for line (its values stay below 2^53, exact in Lua's doubles).
//!
//! State per counter: `tat`, the theoretical arrival time of the next request if the subject
//! kept exactly to the rate. A request is allowed when paying one interval on top of `tat`
//! stays within the burst (`limit` intervals) from now. **Every request pays, refused ones
//! too**: the count keeps rising while a subject pushes (the verdict engine reads "heavy" from
//! it, e.g. 200 joins against a limit of 20), and a subject is let in again only once it
//! slows below the rate. The debt is capped at `MAX_DEBT_LIMITS` × the limit, so a subject
//! that stops is back to a full burst within that many windows.

use super::{span_ms, VelocityResult};

/// The count saturates here, in multiples of the limit (and a subject that stops hammering
/// waits at most this many windows).
pub const MAX_DEBT_LIMITS: u64 = 10;

/// What one velocity check decided: the result, and the new `tat` to keep until it passes
/// (the counter is then as good as new).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    pub result: VelocityResult,
    pub new_tat_us: u64,
}

/// `(interval, burst, cap)` in µs: `burst = limit × interval ≤ window` (rounding the
/// interval down), so a subject idle for a whole window always has its full burst back; the
/// interval is at least 1 µs (only a limit above the microseconds in the window breaks the
/// bound); `cap` is the most debt counted (one interval for limit 0, so it counts 1).
fn shape(limit: u32, window_ms: u64) -> (u64, u64, u64) {
    let window_us = span_ms(window_ms) * 1000;
    let interval = (window_us / u64::from(limit.max(1))).max(1);
    let burst = interval * u64::from(limit);
    (interval, burst, (burst * MAX_DEBT_LIMITS).max(interval))
}

pub(crate) fn decide(tat_us: Option<u64>, now_us: u64, limit: u32, window_ms: u64) -> Decision {
    let (interval, burst, cap) = shape(limit, window_ms);
    let base = tat_us.unwrap_or(now_us).max(now_us);
    let ahead = (base + interval - now_us).min(cap);
    let count = saturate(ahead.div_ceil(interval));
    // Allowed iff ahead <= burst, i.e. iff count <= limit.
    let retry_after_ms = (ahead > burst).then(|| (ahead + interval - burst).div_ceil(1000).max(1));
    Decision {
        result: VelocityResult {
            count,
            retry_after_ms,
        },
        new_tat_us: now_us + ahead,
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
                *tat = Some(d.new_tat_us);
                d.result
            })
            .collect()
    }

    #[test]
    fn a_burst_of_limit_then_refusals_that_push_back() {
        let mut tat = None;
        let results = burst(&mut tat, 1_000, 8, 5, 1_000);
        let counts: Vec<u32> = results.iter().map(|r| r.count).collect();
        assert_eq!(counts, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(results[..5].iter().all(|r| r.retry_after_ms.is_none()));
        // Each refusal pays an interval (200 ms) too.
        let retries: Vec<Option<u64>> = results[5..].iter().map(|r| r.retry_after_ms).collect();
        assert_eq!(retries, [Some(400), Some(600), Some(800)]);
        assert_eq!(tat, Some((1_000 + 1_600) * 1000));
    }

    #[test]
    fn waiting_what_retry_after_says_lets_one_in_and_a_quiet_subject_gets_its_burst() {
        let mut tat = None;
        burst(&mut tat, 0, 5, 5, 1_000);
        let refused = burst(&mut tat, 100, 1, 5, 1_000)[0];
        assert_eq!(refused.retry_after_ms, Some(300));
        let at_400 = burst(&mut tat, 400, 2, 5, 1_000);
        assert_eq!(at_400[0].retry_after_ms, None);
        assert_eq!(at_400[0].count, 5);
        assert_eq!(at_400[1].retry_after_ms, Some(400));
        let later = burst(&mut tat, 1_600, 6, 5, 1_000);
        assert_eq!(
            later.iter().filter(|r| r.retry_after_ms.is_none()).count(),
            5
        );
    }

    #[test]
    fn a_subject_at_the_rate_passes_and_one_that_hammers_stays_out() {
        let mut tat = None;
        let mut allowed = 0;
        // Every 250 ms = exactly 4 per second.
        for ms in (0..10_000).step_by(250) {
            allowed += burst(&mut tat, ms, 1, 4, 1_000)
                .iter()
                .filter(|r| r.retry_after_ms.is_none())
                .count();
        }
        assert_eq!(allowed, 40);

        let mut tat = None;
        let mut results = Vec::new();
        // Every 10 ms for 10 s: the first burst, then nothing while it keeps pushing.
        for ms in (0..10_000).step_by(10) {
            results.extend(burst(&mut tat, ms, 1, 4, 1_000));
        }
        assert_eq!(
            results
                .iter()
                .filter(|r| r.retry_after_ms.is_none())
                .count(),
            4
        );
        let top = results.iter().map(|r| r.count).max().unwrap();
        assert_eq!(u64::from(top), 4 * MAX_DEBT_LIMITS, "the count saturates");
        // Once it stops, the debt is paid within MAX_DEBT_LIMITS windows.
        let back = burst(&mut tat, 10_000 + MAX_DEBT_LIMITS * 1_000, 4, 4, 1_000);
        assert!(back.iter().all(|r| r.retry_after_ms.is_none()));
    }

    #[test]
    fn edge_limits_and_windows() {
        let refused = decide(None, 5_000_000, 0, 1_000);
        assert_eq!(refused.result.count, 1);
        assert!(refused.result.retry_after_ms >= Some(1_000));
        // Window 0 behaves as 1 ms; limits above the microseconds in a window still work.
        let mut tat = None;
        let tiny = burst(&mut tat, 1, 2, 1, 0);
        assert_eq!(tiny[1].retry_after_ms, Some(2));
        let mut tat = None;
        assert!(burst(&mut tat, 1, 3, u32::MAX, 1)
            .iter()
            .all(|r| r.retry_after_ms.is_none()));
        let huge = decide(None, 1, 1, u64::MAX);
        assert_eq!(huge.new_tat_us, 1 + MAX_WINDOW_MS * 1000);
    }
}
