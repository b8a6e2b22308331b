#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The conformance suite against `MemoryStore` (both "instances" share one store).

#[macro_use]
mod conformance;

use std::sync::Arc;

use anteroom_queue::MemoryStore;
use conformance::Env;

async fn memory() -> Env {
    let store =
        Arc::new(MemoryStore::new().with_revocation_grace(conformance::TEST_REVOCATION_GRACE));
    Env {
        store: store.clone(),
        other: store.clone(),
        _guard: Box::new(()),
        lose_everything: Box::new(move || store.forget_all()),
    }
}

conformance_suite!(memory);
