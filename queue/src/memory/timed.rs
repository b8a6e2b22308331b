//! Visitors each with one timestamp (session expiry, last seen), ordered by it so the due
//! ones are found without a scan — the memory twin of a Redis zset scored by time.

use std::collections::{BTreeSet, HashMap};

use anteroom_admission::VisitorId;

#[derive(Debug, Default)]
pub(crate) struct TimedSet {
    at: HashMap<VisitorId, u64>,
    order: BTreeSet<(u64, VisitorId)>,
}

impl TimedSet {
    pub fn get(&self, visitor: &VisitorId) -> Option<u64> {
        self.at.get(visitor).copied()
    }

    pub fn len(&self) -> u64 {
        self.at.len() as u64
    }

    pub fn insert(&mut self, visitor: VisitorId, at: u64) {
        if let Some(old) = self.at.insert(visitor, at) {
            self.order.remove(&(old, visitor));
        }
        self.order.insert((at, visitor));
    }

    pub fn remove(&mut self, visitor: &VisitorId) -> Option<u64> {
        let old = self.at.remove(visitor)?;
        self.order.remove(&(old, *visitor));
        Some(old)
    }

    /// Remove and return up to `limit` members with a time <= `until`, earliest first.
    pub fn take_due(&mut self, until: u64, limit: usize) -> Vec<VisitorId> {
        let due: Vec<(u64, VisitorId)> = self
            .order
            .iter()
            .take_while(|(at, _)| *at <= until)
            .take(limit)
            .copied()
            .collect();
        for entry in &due {
            self.order.remove(entry);
            self.at.remove(&entry.1);
        }
        due.into_iter().map(|(_, v)| v).collect()
    }

    /// Members with a time > `after`.
    pub fn count_after(&self, after: u64) -> u64 {
        let due = self.order.iter().take_while(|(at, _)| *at <= after).count() as u64;
        self.len() - due
    }
}
