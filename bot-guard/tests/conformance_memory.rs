#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The conformance suite against `MemoryGuardStore` on a manual clock (both "instances" share
//! one store).

#[macro_use]
mod conformance;

use std::sync::Arc;

use anteroom_bot_guard::MemoryGuardStore;
use anteroom_queue::{Clock, ManualClock, MemoryStore};
use conformance::Env;

async fn memory() -> Env {
    let clock = Arc::new(ManualClock::new(1_764_547_200_000));
    let queue = Arc::new(MemoryStore::with_clock(clock.clone()));
    let store = Arc::new(MemoryGuardStore::with_clock(clock.clone()).joining(queue.clone()));
    let passing = clock.clone();
    Env {
        store: store.clone(),
        other: store,
        queue,
        _guard: Box::new(()),
        pass: Box::new(move |d| {
            passing.advance(u64::try_from(d.as_millis()).unwrap());
            Box::pin(async {})
        }),
        now_ms: Box::new(move || clock.now_ms()),
    }
}

conformance_suite!(memory);
