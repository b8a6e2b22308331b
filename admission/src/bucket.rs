//! The admission controller: a token bucket bounded by the active-session cap.
//!
//! Pure arithmetic on `f64` tokens and `u64` milliseconds. The Redis store runs the same
//! math in a Lua script (driven by Redis `TIME`) so every gateway instance shares one bucket
//! per room; any change here must be mirrored there, step by step:
//!
//! ```text
//! rate      = admit_per_second
//! capacity  = max(1.0, rate * 1.0)                    -- one second's worth, at least 1
//! if tokens is NaN, infinite or < 0 then tokens = 0   -- corrupt state mints nothing
//! if rate is NaN, infinite or <= 0 then               -- paused: nothing refills, nobody enters
//!     updated_ms = max(updated_ms, now_ms)
//!     return 0
//! elapsed_ms = now_ms - updated_ms, or 0 if now_ms < updated_ms   -- saturating
//! tokens     = min(capacity, tokens + elapsed_ms * rate / 1000)
//! updated_ms = max(updated_ms, now_ms)                -- time never goes backwards
//! n          = min(floor(tokens), max_active - active (0 if active >= max_active), waiting)
//! tokens     = tokens - n
//! return n
//! ```
//!
//! Consequences: over any interval of T ms starting with a full bucket, at most
//! `capacity + T * rate / 1000` visitors are admitted (bursts are bounded by `capacity`);
//! fractional rates accumulate (0.5/s admits one every 2 s); a clock that steps back adds
//! nothing and the bucket resumes refilling only once the clock passes `updated_ms` again.

/// Token bucket state of one room. Shared semantics with the Redis Lua mirror (see queue/).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub tokens: f64,
    pub updated_ms: u64,
}

/// Live limits of one room.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimits {
    pub admit_per_second: f64,
    pub max_active: u64,
}

fn usable_rate(admit_per_second: f64) -> Option<f64> {
    (admit_per_second.is_finite() && admit_per_second > 0.0).then_some(admit_per_second)
}

/// Burst bound: one second's worth of admissions, at least one: `max(1.0, rate * 1.0)`.
/// A NaN or infinite rate gives 1.0 (such a rate admits nothing anyway).
pub fn bucket_capacity(admit_per_second: f64) -> f64 {
    match usable_rate(admit_per_second) {
        Some(rate) => (rate * 1.0).max(1.0),
        None => 1.0,
    }
}

impl Bucket {
    /// A new room starts with a full bucket: `tokens = bucket_capacity(rate)`.
    pub fn full(now_ms: u64, admit_per_second: f64) -> Bucket {
        Bucket {
            tokens: bucket_capacity(admit_per_second),
            updated_ms: now_ms,
        }
    }

    /// Refill for the time elapsed, then take and return how many may be admitted now:
    /// min(floor(tokens), max_active - active, waiting). Exact steps in the module docs.
    pub fn admit(&mut self, now_ms: u64, limits: RateLimits, active: u64, waiting: u64) -> u64 {
        if !(self.tokens.is_finite() && self.tokens >= 0.0) {
            self.tokens = 0.0;
        }
        let Some(rate) = usable_rate(limits.admit_per_second) else {
            self.updated_ms = self.updated_ms.max(now_ms);
            return 0;
        };
        let capacity = bucket_capacity(rate);
        let elapsed_ms = now_ms.saturating_sub(self.updated_ms);
        self.tokens = capacity.min(self.tokens + elapsed_ms as f64 * rate / 1000.0);
        self.updated_ms = self.updated_ms.max(now_ms);
        // floor of a finite value in [0, capacity]; `as` saturates for huge capacities.
        let by_tokens = self.tokens.floor() as u64;
        let by_cap = limits.max_active.saturating_sub(active);
        let n = by_tokens.min(by_cap).min(waiting);
        self.tokens -= n as f64;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rate: f64, max_active: u64) -> RateLimits {
        RateLimits {
            admit_per_second: rate,
            max_active,
        }
    }

    /// Ticks every `tick_ms` from 0 to `end_ms` inclusive with an endless queue and no cap;
    /// returns the total admitted and the largest single admission.
    fn simulate(rate: f64, tick_ms: u64, end_ms: u64) -> (u64, u64) {
        let mut bucket = Bucket::full(0, rate);
        let (mut total, mut biggest) = (0, 0);
        let mut now = 0;
        while now <= end_ms {
            let n = bucket.admit(now, limits(rate, u64::MAX), 0, u64::MAX);
            total += n;
            biggest = biggest.max(n);
            now += tick_ms;
        }
        (total, biggest)
    }

    #[test]
    fn capacity_rule() {
        assert_eq!(bucket_capacity(50.0), 50.0);
        assert_eq!(bucket_capacity(2.5), 2.5);
        assert_eq!(bucket_capacity(0.5), 1.0);
        assert_eq!(bucket_capacity(0.0), 1.0);
        assert_eq!(bucket_capacity(-3.0), 1.0);
        assert_eq!(bucket_capacity(f64::NAN), 1.0);
        assert_eq!(bucket_capacity(f64::INFINITY), 1.0);
        assert_eq!(
            Bucket::full(7, 50.0),
            Bucket {
                tokens: 50.0,
                updated_ms: 7
            }
        );
    }

    #[test]
    fn sixty_seconds_at_50_per_second_is_exact() {
        // 100 ms ticks add exactly 5 tokens each: 50 (full bucket) + 50 * 60.
        assert_eq!(simulate(50.0, 100, 60_000), (50 * 60 + 50, 50));
        // 1 ms ticks: same total, never more than one... token's worth per tick beyond the start.
        let (total, _) = simulate(50.0, 1, 60_000);
        assert!(
            (50 * 60 + 50 - 1..=50 * 60 + 50).contains(&total),
            "{total}"
        );
        // one tick per second
        assert_eq!(simulate(50.0, 1_000, 60_000), (50 * 60 + 50, 50));
    }

    #[test]
    fn half_per_second_admits_one_every_two_seconds() {
        let rate = 0.5;
        let mut bucket = Bucket::full(0, rate);
        let mut admitted_at = Vec::new();
        for now in (0..=60_000).step_by(250) {
            if bucket.admit(now, limits(rate, 1_000), 0, 1_000) == 1 {
                admitted_at.push(now);
            }
        }
        let expected: Vec<u64> = (0..=30).map(|i| i * 2_000).collect();
        assert_eq!(admitted_at, expected);
    }

    #[test]
    fn idle_bucket_bursts_at_most_capacity() {
        let rate = 20.0;
        let mut bucket = Bucket::full(0, rate);
        assert_eq!(bucket.admit(0, limits(rate, u64::MAX), 0, 5), 5); // only 5 waiting
        assert_eq!(bucket.tokens, 15.0);
        // an hour idle: still no more than one second's worth
        assert_eq!(
            bucket.admit(3_600_000, limits(rate, u64::MAX), 0, 1_000_000),
            20
        );
        assert_eq!(
            bucket.admit(3_600_000, limits(rate, u64::MAX), 0, 1_000_000),
            0
        );
        assert_eq!(
            bucket.admit(3_600_050, limits(rate, u64::MAX), 0, 1_000_000),
            1
        );
    }

    #[test]
    fn active_cap_bounds_admissions() {
        let rate = 100.0;
        let mut bucket = Bucket::full(0, rate);
        assert_eq!(bucket.admit(0, limits(rate, 1_000), 970, 500), 30);
        assert_eq!(bucket.tokens, 70.0); // unused tokens stay (up to capacity)
        assert_eq!(bucket.admit(0, limits(rate, 1_000), 1_000, 500), 0);
        assert_eq!(bucket.admit(0, limits(rate, 1_000), 5_000, 500), 0); // over cap (cap lowered)
        assert_eq!(bucket.admit(0, limits(rate, 0), 0, 500), 0);
        assert_eq!(bucket.admit(0, limits(rate, 1_000), 0, 500), 70);
    }

    #[test]
    fn waiting_bounds_admissions() {
        let mut bucket = Bucket::full(0, 10.0);
        assert_eq!(bucket.admit(0, limits(10.0, 100), 0, 0), 0);
        assert_eq!(bucket.admit(0, limits(10.0, 100), 0, 3), 3);
        assert_eq!(bucket.tokens, 7.0);
    }

    #[test]
    fn clock_going_backwards_mints_nothing() {
        let rate = 10.0;
        let l = limits(rate, u64::MAX);
        let mut bucket = Bucket::full(10_000, rate);
        assert_eq!(bucket.admit(10_000, l, 0, u64::MAX), 10);
        // clock steps back 5 s: nothing refills, updated_ms stays
        assert_eq!(bucket.admit(5_000, l, 0, u64::MAX), 0);
        assert_eq!(bucket.updated_ms, 10_000);
        // back at 10 s: still nothing (no time has passed since the last refill)
        assert_eq!(bucket.admit(10_000, l, 0, u64::MAX), 0);
        // 100 ms later than the high-water mark: one token
        assert_eq!(bucket.admit(10_100, l, 0, u64::MAX), 1);
        // zig-zag clock never yields more than the forward time allows
        let mut total = 0;
        for i in 0..1_000u64 {
            let now = if i % 2 == 0 { 10_100 + i } else { 0 };
            total += bucket.admit(now, l, 0, u64::MAX);
        }
        assert!(total <= 10, "{total}"); // ~1 s of forward time at 10/s
    }

    #[test]
    fn non_positive_or_non_finite_rate_admits_nothing() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut bucket = Bucket {
                tokens: 5.0,
                updated_ms: 0,
            };
            assert_eq!(bucket.admit(60_000, limits(rate, 100), 0, 100), 0, "{rate}");
            assert_eq!(bucket.updated_ms, 60_000);
            assert_eq!(bucket.tokens, 5.0);
        }
    }

    #[test]
    fn paused_time_does_not_accumulate() {
        let mut bucket = Bucket::full(0, 10.0);
        assert_eq!(bucket.admit(0, limits(10.0, u64::MAX), 0, u64::MAX), 10);
        assert_eq!(bucket.admit(60_000, limits(0.0, u64::MAX), 0, u64::MAX), 0);
        // resumed 100 ms after the pause was last seen: one token, not a full bucket
        assert_eq!(bucket.admit(60_100, limits(10.0, u64::MAX), 0, u64::MAX), 1);
    }

    #[test]
    fn corrupt_tokens_are_reset() {
        for tokens in [f64::NAN, f64::INFINITY, -4.0] {
            let mut bucket = Bucket {
                tokens,
                updated_ms: 0,
            };
            assert_eq!(bucket.admit(0, limits(10.0, 100), 0, 100), 0, "{tokens}");
            assert_eq!(bucket.admit(100, limits(10.0, 100), 0, 100), 1, "{tokens}");
        }
    }

    #[test]
    fn rate_lowered_clamps_to_new_capacity() {
        let mut bucket = Bucket::full(0, 100.0);
        assert_eq!(bucket.admit(0, limits(2.0, u64::MAX), 0, u64::MAX), 2);
        assert_eq!(bucket.tokens, 0.0);
    }

    #[test]
    fn huge_rate_saturates_without_panic() {
        let mut bucket = Bucket::full(0, 1e300);
        assert_eq!(bucket.admit(0, limits(1e300, 10), 0, u64::MAX), 10);
        assert_eq!(
            bucket.admit(u64::MAX, limits(1e300, u64::MAX), 0, u64::MAX),
            u64::MAX
        );
    }

    #[test]
    fn long_run_rate_holds_within_two_percent() {
        // irregular ticks (7 ms .. 333 ms), fractional rate: admissions track rate * time.
        let rate = 37.3;
        let mut bucket = Bucket::full(0, rate);
        let (mut now, mut total, mut step) = (0u64, 0u64, 7u64);
        while now <= 600_000 {
            total += bucket.admit(now, limits(rate, u64::MAX), 0, u64::MAX);
            step = (step * 31 + 11) % 327 + 7;
            now += step;
        }
        let ideal = rate * 600.0 + bucket_capacity(rate);
        let err = (total as f64 - ideal).abs() / ideal;
        assert!(err < 0.02, "total {total} ideal {ideal}");
        assert!(total as f64 <= ideal, "never above the bound");
    }
}
