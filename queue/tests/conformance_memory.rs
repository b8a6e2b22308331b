//! The conformance suite against `MemoryStore` (both "instances" share one store).

#[macro_use]
mod conformance;

use std::sync::Arc;

use anteroom_queue::MemoryStore;
use conformance::Env;

async fn memory() -> Env {
    let store = Arc::new(MemoryStore::new());
    Env {
        store: store.clone(),
        other: store,
        _guard: Box::new(()),
    }
}

conformance_suite!(memory);
