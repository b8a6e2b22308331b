//! Timing of pure functions for the `harness = false` benches: batches sized to a time
//! target, run interleaved by the caller so background load hits every function alike, and
//! the median batch as the figure.

use std::time::{Duration, Instant};

/// Iterations per batch so that one batch of `f` takes about `target`.
pub fn calibrate(f: &mut dyn FnMut(), target: Duration) -> u64 {
    let mut iters: u64 = 100;
    loop {
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        if start.elapsed() >= target / 2 {
            return iters * 2;
        }
        iters *= 2;
    }
}

/// ns/op of one batch of `iters` calls.
pub fn batch(f: &mut dyn FnMut(), iters: u64) -> f64 {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed().as_nanos() as f64 / iters.max(1) as f64
}

/// The median (upper middle of an even count); NaN for no samples.
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_batch() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 3.0);
        assert!(median(Vec::new()).is_nan());
        let mut calls = 0u64;
        let mut f = || calls += 1;
        assert!(batch(&mut f, 10) >= 0.0);
        assert!(calibrate(&mut f, Duration::from_micros(10)) >= 200);
        assert!(calls >= 210);
    }
}
