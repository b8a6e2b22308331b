//! Reading the wall clock, for the edges that pass `now` into the pure code of this crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the unix epoch; 0 if the clock is set before 1970.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// Milliseconds since the unix epoch; 0 if the clock is set before 1970.
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// Microseconds since the unix epoch; 0 if the clock is set before 1970.
pub fn unix_now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_milliseconds_and_microseconds_agree() {
        let (s, ms, us) = (unix_now(), unix_now_ms(), unix_now_us());
        // After 2025-01-01 and the readings within a second of each other.
        assert!(s > 1_735_689_600, "{s}");
        assert!(ms / 1000 >= s && ms / 1000 <= s + 1, "{s} {ms}");
        assert!(us / 1000 >= ms && us / 1_000_000 <= s + 1, "{s} {ms} {us}");
    }
}
