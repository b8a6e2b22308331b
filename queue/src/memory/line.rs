//! The line: first come, first served, with exact positions in O(log n).
//!
//! Each joiner gets the next sequence number; a Fenwick tree over sequence numbers counts who
//! is still in line, so a position is one prefix sum and a departure anywhere one update —
//! no scan, whatever the length of the line (the memory twin of ZADD-by-INCR + ZRANK).

use std::collections::{BTreeMap, HashMap};

use anteroom_admission::VisitorId;

const MIN_CAPACITY: usize = 1024;

#[derive(Debug)]
pub(crate) struct Line {
    by_visitor: HashMap<VisitorId, u64>,
    by_seq: BTreeMap<u64, VisitorId>,
    next_seq: u64,
    /// Sequence number at Fenwick index 1; the tree covers [base, base + capacity).
    base: u64,
    /// 1-based Fenwick tree of presence counts.
    tree: Vec<u32>,
}

impl Default for Line {
    fn default() -> Self {
        Line {
            by_visitor: HashMap::new(),
            by_seq: BTreeMap::new(),
            next_seq: 0,
            base: 0,
            tree: vec![0; MIN_CAPACITY + 1],
        }
    }
}

impl Line {
    pub fn len(&self) -> u64 {
        self.by_visitor.len() as u64
    }

    /// 1 = next to leave the line.
    pub fn position(&self, visitor: &VisitorId) -> Option<u64> {
        let seq = *self.by_visitor.get(visitor)?;
        Some(self.prefix(self.index(seq)))
    }

    /// The visitor's ticket: its sequence number, counted from 1 as Redis' INCR counts.
    pub fn ticket(&self, visitor: &VisitorId) -> Option<u64> {
        self.by_visitor.get(visitor).map(|seq| seq + 1)
    }

    /// Ticket at the head of the line.
    pub fn head_ticket(&self) -> Option<u64> {
        self.by_seq.first_key_value().map(|(seq, _)| seq + 1)
    }

    /// Append at the tail; returns the new position. The caller checks `position` first.
    pub fn push(&mut self, visitor: VisitorId) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        if (seq - self.base) as usize >= self.capacity() {
            self.rebuild();
        }
        self.by_visitor.insert(visitor, seq);
        self.by_seq.insert(seq, visitor);
        self.add(self.index(seq), 1);
        self.len()
    }

    /// Take the visitor out of the line wherever it stands; returns its ticket.
    pub fn remove(&mut self, visitor: &VisitorId) -> Option<u64> {
        let seq = self.by_visitor.remove(visitor)?;
        self.by_seq.remove(&seq);
        self.add(self.index(seq), -1);
        Some(seq + 1)
    }

    /// Take up to `n` visitors from the head, in order.
    pub fn pop_front(&mut self, n: usize) -> Vec<VisitorId> {
        let mut out = Vec::with_capacity(n.min(self.by_seq.len()));
        while out.len() < n {
            let Some((seq, visitor)) = self.by_seq.pop_first() else {
                break;
            };
            self.by_visitor.remove(&visitor);
            self.add(self.index(seq), -1);
            out.push(visitor);
        }
        out
    }

    fn capacity(&self) -> usize {
        self.tree.len() - 1
    }

    fn index(&self, seq: u64) -> usize {
        (seq - self.base) as usize + 1
    }

    fn add(&mut self, mut i: usize, delta: i32) {
        while let Some(count) = self.tree.get_mut(i) {
            *count = count.wrapping_add_signed(delta);
            i += i & i.wrapping_neg();
        }
    }

    fn prefix(&self, mut i: usize) -> u64 {
        let mut sum = 0u64;
        while i > 0 {
            sum += u64::from(self.tree.get(i).copied().unwrap_or(0));
            i -= i & i.wrapping_neg();
        }
        sum
    }

    /// Re-base the tree at the head of the line and size it to twice the span of sequence
    /// numbers in use, so the O(span) rebuild is paid once per at least `span` joins.
    fn rebuild(&mut self) {
        self.base = self
            .by_seq
            .first_key_value()
            .map_or(self.next_seq - 1, |(seq, _)| *seq);
        let span = (self.next_seq - self.base) as usize;
        let capacity = (2 * span).next_power_of_two().max(MIN_CAPACITY);
        let mut tree = vec![0u32; capacity + 1];
        for seq in self.by_seq.keys() {
            if let Some(slot) = tree.get_mut((seq - self.base) as usize + 1) {
                *slot = 1;
            }
        }
        // Linear-time Fenwick construction: push each node's sum to its parent.
        for i in 1..=capacity {
            let parent = i + (i & i.wrapping_neg());
            let own = tree.get(i).copied().unwrap_or(0);
            if let Some(slot) = tree.get_mut(parent) {
                *slot += own;
            }
        }
        self.tree = tree;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(n: u64) -> VisitorId {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&n.to_be_bytes());
        VisitorId(bytes)
    }

    /// The reference: a plain Vec in join order.
    fn check(line: &Line, model: &[VisitorId]) {
        assert_eq!(line.len(), model.len() as u64);
        for (i, visitor) in model.iter().enumerate() {
            assert_eq!(line.position(visitor), Some(i as u64 + 1));
        }
    }

    #[test]
    fn matches_a_vec_through_pushes_removals_pops_and_rebuilds() {
        let mut line = Line::default();
        let mut model = Vec::new();
        let mut next = 0u64;
        // Deterministic pseudo-random mix, long enough to force several rebuilds.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for step in 0..20_000u64 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            match state % 10 {
                0..=5 => {
                    let visitor = v(next);
                    next += 1;
                    assert_eq!(line.push(visitor), model.len() as u64 + 1);
                    model.push(visitor);
                }
                6 | 7 if !model.is_empty() => {
                    let i = (state >> 8) as usize % model.len();
                    let visitor = model.remove(i);
                    let ticket = line.ticket(&visitor);
                    assert!(ticket.is_some());
                    assert_eq!(line.remove(&visitor), ticket);
                    assert_eq!(line.remove(&visitor), None);
                }
                _ => {
                    let n = (state >> 8) as usize % 4;
                    let popped = line.pop_front(n);
                    let expected: Vec<_> = model.drain(..n.min(model.len())).collect();
                    assert_eq!(popped, expected);
                }
            }
            if step % 997 == 0 {
                check(&line, &model);
            }
        }
        check(&line, &model);
    }

    #[test]
    fn a_million_in_line_positions_are_exact() {
        let mut line = Line::default();
        for n in 0..1_000_000 {
            line.push(v(n));
        }
        assert_eq!(line.position(&v(0)), Some(1));
        assert_eq!(line.position(&v(999_999)), Some(1_000_000));
        assert_eq!(line.remove(&v(10)), Some(11));
        assert_eq!(line.head_ticket(), Some(1));
        assert_eq!(line.position(&v(500_000)), Some(500_000));
        assert_eq!(line.pop_front(2), vec![v(0), v(1)]);
        assert_eq!(line.position(&v(500_000)), Some(499_998));
    }
}
