//! `stream-load fill`: queue N visitors through the store's own join (the same Lua script a
//! gateway runs), many calls in flight, so the entries are exactly what a gateway sees.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anteroom_admission::VisitorId;
use anteroom_queue::{QueueStore, RedisOptions, RedisStore};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Filled {
    pub joined: u64,
    pub new_places: u64,
    pub failed: u64,
    pub seconds: f64,
    pub per_second: f64,
}

/// The n-th filler: a run-unique first half (no clash with another fill or with the
/// gateway's random ids in practice), the counter in the second.
pub fn filler(run: u64, n: u64) -> VisitorId {
    let mut bytes = [0u8; 16];
    let (high, low) = bytes.split_at_mut(8);
    high.copy_from_slice(&run.to_be_bytes());
    low.copy_from_slice(&n.to_be_bytes());
    VisitorId(bytes)
}

fn run_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    hasher.finish()
}

pub async fn fill(url: &str, room: &str, count: u64, in_flight: usize) -> Result<Filled, String> {
    let options = RedisOptions {
        pool_size: 8,
        command_timeout: Duration::from_secs(30),
        ..RedisOptions::default()
    };
    let store = Arc::new(
        RedisStore::connect(url, options)
            .await
            .map_err(|e| format!("connect to {url}: {e}"))?,
    );
    let run = run_id();
    let next = Arc::new(AtomicU64::new(0));
    let new_places = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..in_flight.max(1) {
        let (store, next, new_places, failed) = (
            store.clone(),
            next.clone(),
            new_places.clone(),
            failed.clone(),
        );
        let room = room.to_string();
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    break;
                }
                match store.join(&room, filler(run, n)).await {
                    Ok(joined) if joined.new_place => {
                        new_places.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        // The first failures say why; a flood of the same line helps nobody.
                        if failed.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("[stream-load fill] join failed: {e}");
                        }
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.map_err(|e| format!("fill task: {e}"))?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let _ = store.quit().await;
    let failed = failed.load(Ordering::Relaxed);
    Ok(Filled {
        joined: count - failed.min(count),
        new_places: new_places.load(Ordering::Relaxed),
        failed,
        seconds,
        per_second: count as f64 / seconds.max(1e-9),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fillers_of_one_run_are_distinct_and_ordered_by_counter() {
        let a = filler(7, 1);
        let b = filler(7, 2);
        assert_ne!(a, b);
        assert!(a.0 < b.0);
        assert_ne!(filler(7, 1), filler(8, 1));
        assert_eq!(a.0.get(..8), Some(&7u64.to_be_bytes()[..]));
    }
}
