//! The gateway in force: one atomic pointer, swapped whole by a reload. Every request loads
//! it once (an `ArcSwap` load and a reference count, no lock) and keeps that snapshot to its
//! end, so a request never sees half of an old config and half of a new one.

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::Gateway;

pub struct CurrentGateway {
    gateway: ArcSwap<Gateway>,
}

impl CurrentGateway {
    pub fn new(gateway: Gateway) -> Arc<CurrentGateway> {
        CurrentGateway::new_shared(Arc::new(gateway))
    }

    pub fn new_shared(gateway: Arc<Gateway>) -> Arc<CurrentGateway> {
        Arc::new(CurrentGateway {
            gateway: ArcSwap::new(gateway),
        })
    }

    /// The gateway in force now.
    pub fn get(&self) -> Arc<Gateway> {
        self.gateway.load_full()
    }

    /// Put a new gateway in force; requests already under way finish on the old one.
    pub fn replace(&self, gateway: Gateway) {
        self.gateway.store(Arc::new(gateway));
    }
}
