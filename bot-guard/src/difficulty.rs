//! How hard a challenge is: a level priced by live demand and by suspicion, and what a
//! level means in sub-puzzles and leading zero bits.
//!
//! **Price.** With `wait = queue length ÷ admission rate` (seconds a newcomer expects to
//! wait) and `score` the suspicion (0..=100):
//!
//! ```text
//! level = floor + ⌊log2(1 + wait / 60)⌋ + ⌊score / 25⌋,   clamped to [floor, cap]
//! ```
//!
//! Each level doubles the work, so the demand term adds one level per doubling of the wait
//! in minutes (1 min → +1, 3 min → +2, 7 min → +3, 15 min → +4, an hour → +5): the time spent
//! solving stays a small, roughly constant fraction of the time spent waiting, while a bot
//! joining thousands of times pays it thousands of times. Suspicion adds up to four levels
//! (16× the work) on top. A stalled room (rate 0) counts as the longest wait.
//!
//! **Work.** Level `d` is [`SUB_PUZZLES`] sub-puzzles of [`BASE_BITS`]` + d` leading zero
//! bits each: `16 × 2^(BASE_BITS + d)` SHA-256 hashes expected. Sixteen sub-puzzles cut the
//! spread of solve time to a quarter of one puzzle's (its standard deviation is
//! `1/√16` of the mean), so a visitor does not draw a ten-times-longer wait by bad luck.
//!
//! | level | bits | expected hashes | at 130k hashes/s (a slow mid-range phone, JS in a Worker) |
//! |---|---|---|---|
//! | 0 | 10 | 16,384 | 0.13 s |
//! | 2 | 12 | 65,536 | 0.5 s |
//! | **4 (normal)** | 14 | 262,144 | **2 s** |
//! | 6 | 16 | 1,048,576 | 8 s |
//! | 8 | 18 | 4,194,304 | 32 s |
//! | 12 | 22 | 67,108,864 | 8.6 min |
//!
//! Measured in headless Chromium here (the page's own Worker solver): 1.3–2.2 M hashes/s;
//! with the 7.5× laptop-to-phone factor of ALTCHA's published figures a mid-range phone does
//! 170k–300k, so the normal level averages 0.9–1.5 s there and stays under 2 s at the 95th
//! percentile (docs/bot-guard.md, "Calibration"). The table's 130k is the slow end.

use anteroom_config::MAX_GUARD_DIFFICULTY;

/// Sub-puzzles per challenge, at every level.
pub const SUB_PUZZLES: u8 = 16;
/// Leading zero bits of each sub-puzzle at level 0.
pub const BASE_BITS: u8 = 10;
/// The level calibrated to about 2 s on a mid-range phone.
pub const NORMAL_DIFFICULTY: u8 = 4;
/// Extra levels a shadowed visitor solves to lift the shadow.
pub const SHADOW_LIFT_EXTRA: u8 = 2;
/// Seconds of expected wait per demand level (the wait in minutes, doubled per level).
const DEMAND_UNIT_SECONDS: f64 = 60.0;
/// Suspicion points per extra level.
const SUSPICION_PER_LEVEL: u8 = 25;

/// What the room looks like right now.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Demand {
    /// Visitors waiting in the room's queue.
    pub queue_length: u64,
    /// Visitors admitted per second (measured; the configured rate when not yet measured).
    pub admit_per_second: f64,
}

impl Demand {
    /// Seconds a newcomer expects to wait; infinite when nobody is admitted and some wait.
    pub fn expected_wait_seconds(&self) -> f64 {
        if self.queue_length == 0 {
            return 0.0;
        }
        if self.admit_per_second.is_finite() && self.admit_per_second > 0.0 {
            self.queue_length as f64 / self.admit_per_second
        } else {
            f64::INFINITY
        }
    }

    /// Levels added by demand: ⌊log2(1 + wait / 60 s)⌋, at most the highest level.
    pub fn levels(&self) -> u8 {
        let wait = self.expected_wait_seconds();
        if !wait.is_finite() {
            return MAX_GUARD_DIFFICULTY;
        }
        let levels = (1.0 + wait / DEMAND_UNIT_SECONDS).log2().floor();
        if levels >= f64::from(MAX_GUARD_DIFFICULTY) {
            MAX_GUARD_DIFFICULTY
        } else {
            levels.max(0.0) as u8
        }
    }
}

/// The level of a challenge for this demand and suspicion score, within [floor, cap]
/// (a cap below the floor is read as the floor: config refuses it anyway).
pub fn price(demand: &Demand, suspicion: u8, floor: u8, cap: u8) -> u8 {
    let level = floor
        .saturating_add(demand.levels())
        .saturating_add(suspicion.min(100) / SUSPICION_PER_LEVEL);
    level.min(cap.max(floor)).min(MAX_GUARD_DIFFICULTY)
}

/// The level a shadowed visitor solves to lift the shadow: harder than the price.
pub fn shadow_lift(price: u8, cap: u8) -> u8 {
    price
        .saturating_add(SHADOW_LIFT_EXTRA)
        .min(cap.max(price))
        .min(MAX_GUARD_DIFFICULTY)
}

/// The work of one level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Work {
    pub sub_puzzles: u8,
    /// Leading zero bits each sub-puzzle's hash needs.
    pub bits: u8,
}

impl Work {
    /// The work of `level` (levels above the highest are read as the highest).
    pub fn of(level: u8) -> Work {
        Work {
            sub_puzzles: SUB_PUZZLES,
            bits: BASE_BITS + level.min(MAX_GUARD_DIFFICULTY),
        }
    }

    /// Hashes a solver computes on average.
    pub fn expected_hashes(&self) -> u64 {
        u64::from(self.sub_puzzles) << self.bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demand(queue_length: u64, admit_per_second: f64) -> Demand {
        Demand {
            queue_length,
            admit_per_second,
        }
    }

    #[test]
    fn expected_wait_and_demand_levels() {
        assert_eq!(demand(0, 0.0).expected_wait_seconds(), 0.0);
        assert_eq!(demand(3000, 50.0).expected_wait_seconds(), 60.0);
        assert!(demand(1, 0.0).expected_wait_seconds().is_infinite());
        assert!(demand(1, f64::NAN).expected_wait_seconds().is_infinite());
        assert_eq!(demand(0, 50.0).levels(), 0);
        assert_eq!(demand(2999, 50.0).levels(), 0, "under a minute");
        assert_eq!(demand(3000, 50.0).levels(), 1, "1 min");
        assert_eq!(demand(9000, 50.0).levels(), 2, "3 min");
        assert_eq!(demand(45_000, 50.0).levels(), 4, "15 min");
        assert_eq!(demand(180_000, 50.0).levels(), 5, "1 hour");
        assert_eq!(demand(5, 0.0).levels(), MAX_GUARD_DIFFICULTY, "stalled");
        assert_eq!(demand(u64::MAX, 1e-9).levels(), MAX_GUARD_DIFFICULTY);
    }

    #[test]
    fn price_adds_demand_and_suspicion_within_floor_and_cap() {
        assert_eq!(price(&demand(0, 50.0), 0, 1, 8), 1);
        assert_eq!(price(&demand(45_000, 50.0), 0, 1, 8), 5);
        assert_eq!(price(&demand(0, 50.0), 49, 1, 8), 2);
        assert_eq!(price(&demand(0, 50.0), 100, 1, 8), 5);
        assert_eq!(
            price(&demand(0, 50.0), 255, 1, 8),
            5,
            "scores above 100 count as 100"
        );
        assert_eq!(price(&demand(45_000, 50.0), 100, 1, 8), 8, "capped");
        assert_eq!(
            price(&demand(0, 50.0), 0, 3, 2),
            3,
            "the floor wins a bad cap"
        );
        assert_eq!(price(&demand(1, 0.0), 100, 12, 12), 12);
    }

    #[test]
    fn price_is_monotonic_in_demand_and_suspicion() {
        let queues = [0u64, 10, 3000, 9000, 100_000, 10_000_000];
        let scores = [0u8, 30, 60, 100];
        for pair in queues.windows(2) {
            for score in scores {
                assert!(
                    price(&demand(pair[0], 50.0), score, 1, 12)
                        <= price(&demand(pair[1], 50.0), score, 1, 12)
                );
            }
        }
        for pair in scores.windows(2) {
            for queue in queues {
                assert!(
                    price(&demand(queue, 50.0), pair[0], 1, 12)
                        <= price(&demand(queue, 50.0), pair[1], 1, 12)
                );
            }
        }
    }

    #[test]
    fn shadow_lift_is_harder_but_capped() {
        assert_eq!(shadow_lift(4, 8), 6);
        assert_eq!(shadow_lift(7, 8), 8);
        assert_eq!(shadow_lift(8, 8), 8);
        assert_eq!(shadow_lift(12, 12), 12);
    }

    #[test]
    fn work_table() {
        assert_eq!(
            Work::of(NORMAL_DIFFICULTY),
            Work {
                sub_puzzles: 16,
                bits: 14
            }
        );
        assert_eq!(Work::of(NORMAL_DIFFICULTY).expected_hashes(), 262_144);
        assert_eq!(Work::of(0).expected_hashes(), 16_384);
        assert_eq!(Work::of(200), Work::of(MAX_GUARD_DIFFICULTY));
        for d in 0..MAX_GUARD_DIFFICULTY {
            assert_eq!(
                Work::of(d + 1).expected_hashes(),
                2 * Work::of(d).expected_hashes()
            );
        }
    }
}
