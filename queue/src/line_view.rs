//! A gateway instance's picture of a room's line, kept from `QueueStore::frontier` pages, from
//! which every connected visitor's exact position follows without a store call (ADR 0005).
//!
//! Admission takes only the head of the line, so every ticket between the head's and a
//! visitor's that is no longer in the line was removed out of order (leave, revoke,
//! abandonment) and is a logged gap. A visitor's position is therefore
//! `1 + (ticket - head) - |{gaps g : head < g < ticket}|`.

use crate::store::Frontier;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineView {
    epoch: String,
    head: Option<u64>,
    waiting: u64,
    cursor: u64,
    changed_at_ms: u64,
    /// Gaps above `head`, sorted and distinct: counting those below a ticket is one binary search.
    gaps: Vec<u64>,
}

impl LineView {
    /// An empty view: its cursor (0) asks the store for the whole gap log.
    pub fn new() -> LineView {
        LineView::default()
    }

    /// Take in one frontier page, fetched with this view's `cursor()`. Returns true when the
    /// caller should fetch again at once with the new `cursor()`: the page was full
    /// (`more`), or it came from a new epoch while this view had read part of the old
    /// epoch's log (the view then starts over from cursor 0 and knows no position until
    /// the next page).
    ///
    /// A new epoch means the store lost the line: every ticket handed out before is void,
    /// so a caller that sees `epoch()` change asks `status` again for the tickets it holds.
    pub fn apply(&mut self, frontier: &Frontier) -> bool {
        if frontier.epoch != self.epoch {
            let read_from_old_log = self.cursor != 0;
            *self = LineView {
                epoch: frontier.epoch.clone(),
                ..LineView::default()
            };
            if read_from_old_log {
                // The page continues the old log's cursor in the new log: it misses gaps.
                return true;
            }
        }
        self.head = frontier.head;
        self.waiting = frontier.waiting;
        self.cursor = frontier.cursor;
        self.changed_at_ms = frontier.changed_at_ms;
        let floor = frontier.head.unwrap_or(u64::MAX);
        let below_head = self.gaps.partition_point(|gap| *gap <= floor);
        self.gaps.drain(..below_head);
        let mut fresh: Vec<u64> = frontier
            .gaps
            .iter()
            .copied()
            .filter(|gap| *gap > floor)
            .collect();
        if !fresh.is_empty() {
            fresh.sort_unstable();
            self.gaps = merge_sorted(&self.gaps, &fresh);
        }
        frontier.more
    }

    /// Position of the visitor holding `ticket` (1 = next in), or None when that ticket is
    /// no longer in the line as far as this view knows (below the head, removed out of
    /// order, or the line is empty): the caller then asks `status`.
    pub fn position(&self, ticket: u64) -> Option<u64> {
        let head = self.head?;
        if ticket < head {
            return None;
        }
        let below = self.gaps.partition_point(|gap| *gap < ticket);
        if self.gaps.get(below) == Some(&ticket) {
            return None;
        }
        Some(1 + (ticket - head) - below as u64)
    }

    /// Where the next `frontier` call continues.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// The store's line this view follows ("" before the first page).
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// Line length at the last page.
    pub fn waiting(&self) -> u64 {
        self.waiting
    }

    /// Ticket at the head of the line at the last page.
    pub fn head(&self) -> Option<u64> {
        self.head
    }

    /// Store-clock ms of the last change of head or gaps, as of the last page.
    pub fn changed_at_ms(&self) -> u64 {
        self.changed_at_ms
    }

    /// Gaps above the head this view holds (its memory grows with them).
    pub fn gap_count(&self) -> usize {
        self.gaps.len()
    }
}

/// The union of two sorted lists, sorted and without repeats.
fn merge_sorted(old: &[u64], fresh: &[u64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(old.len() + fresh.len());
    let (mut a, mut b) = (old.iter().peekable(), fresh.iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x <= y => a.next(),
            (Some(_), Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, Some(_)) => b.next(),
            (None, None) => break,
        };
        if let Some(value) = next {
            if out.last() != Some(value) {
                out.push(*value);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn page(epoch: &str, head: Option<u64>, waiting: u64, gaps: &[u64], cursor: u64) -> Frontier {
        Frontier {
            epoch: epoch.to_string(),
            head,
            waiting,
            gaps: gaps.to_vec(),
            cursor,
            more: false,
            changed_at_ms: 7,
        }
    }

    #[test]
    fn positions_skip_gaps_between_head_and_ticket() {
        let mut view = LineView::new();
        // Tickets 1..=10 joined; 1 and 2 admitted; 4 and 7 left; 1 left before admission.
        assert!(!view.apply(&page("e", Some(3), 6, &[1, 4, 7], 3)));
        assert_eq!(view.gap_count(), 2, "gap 1 is below the head");
        assert_eq!(view.position(3), Some(1));
        assert_eq!(view.position(4), None);
        assert_eq!(view.position(5), Some(2));
        assert_eq!(view.position(8), Some(4));
        assert_eq!(view.position(10), Some(6));
        assert_eq!(view.position(2), None);
        assert_eq!(
            (view.cursor(), view.waiting(), view.changed_at_ms()),
            (3, 6, 7)
        );
        // Admission moves the head past 4 and 5; a later gap (9) arrives.
        view.apply(&page("e", Some(6), 4, &[9], 4));
        assert_eq!(view.gap_count(), 2);
        assert_eq!(view.position(6), Some(1));
        assert_eq!(view.position(8), Some(2));
        assert_eq!(view.position(9), None);
        assert_eq!(view.position(10), Some(3));
    }

    #[test]
    fn an_empty_line_knows_no_position() {
        let mut view = LineView::new();
        view.apply(&page("e", None, 0, &[2, 3], 2));
        assert_eq!(view.position(1), None);
        assert_eq!(view.gap_count(), 0);
        assert_eq!(view.head(), None);
    }

    #[test]
    fn a_full_page_asks_for_more() {
        let mut view = LineView::new();
        let mut first = page("e", Some(1), 10, &[5], 1);
        first.more = true;
        assert!(view.apply(&first));
        assert_eq!(view.position(9), Some(8));
        assert!(!view.apply(&page("e", Some(1), 10, &[6], 2)));
        assert_eq!(view.position(9), Some(7));
    }

    #[test]
    fn a_new_epoch_starts_over() {
        let mut view = LineView::new();
        view.apply(&page("old", Some(10), 5, &[12], 40));
        assert_eq!(view.position(13), Some(3));
        // The store lost the line: the page read from the old cursor is incomplete.
        assert!(view.apply(&page("new", Some(1), 3, &[], 40)));
        assert_eq!(view.epoch(), "new");
        assert_eq!(view.cursor(), 0);
        assert_eq!(
            view.position(1),
            None,
            "no position until the log is read whole"
        );
        assert!(!view.apply(&page("new", Some(1), 3, &[2], 1)));
        assert_eq!(view.position(3), Some(2));
        // A fresh view takes a new epoch's first page from cursor 0 as it is.
        let mut fresh = LineView::new();
        assert!(!fresh.apply(&page("new", Some(1), 3, &[2], 1)));
        assert_eq!(fresh.position(3), Some(2));
    }

    #[test]
    fn merging_keeps_order_and_drops_repeats() {
        assert_eq!(merge_sorted(&[1, 4, 9], &[2, 4, 10]), vec![1, 2, 4, 9, 10]);
        assert_eq!(merge_sorted(&[], &[3, 3]), vec![3]);
    }

    /// The store as the view sees it: a line of tickets, a gap log with cursors that
    /// survives trimming (entries at or below the head go, a few per tick, as in the stores).
    #[derive(Default)]
    struct ModelStore {
        line: Vec<u64>,
        next_ticket: u64,
        log: BTreeMap<u64, u64>,
        next_entry: u64,
    }

    const MODEL_PAGE: usize = 3;
    const MODEL_TRIM: usize = 2;

    impl ModelStore {
        fn join(&mut self) {
            self.next_ticket += 1;
            self.line.push(self.next_ticket);
        }

        fn remove_out_of_order(&mut self, pick: usize) {
            if self.line.is_empty() {
                return;
            }
            let ticket = self.line.remove(pick % self.line.len());
            self.next_entry += 1;
            self.log.insert(self.next_entry, ticket);
        }

        fn admit(&mut self, n: usize) {
            self.line.drain(..n.min(self.line.len()));
            let head = self.line.first().copied().unwrap_or(u64::MAX);
            let stale: Vec<u64> = self
                .log
                .iter()
                .filter(|(_, ticket)| **ticket <= head)
                .map(|(entry, _)| *entry)
                .take(MODEL_TRIM)
                .collect();
            for entry in stale {
                self.log.remove(&entry);
            }
        }

        fn frontier(&self, cursor: u64) -> Frontier {
            let mut entries = self.log.range(cursor + 1..);
            let taken: Vec<(u64, u64)> = entries
                .by_ref()
                .take(MODEL_PAGE)
                .map(|(e, t)| (*e, *t))
                .collect();
            Frontier {
                epoch: "model".into(),
                head: self.line.first().copied(),
                waiting: self.line.len() as u64,
                gaps: taken.iter().map(|(_, t)| *t).collect(),
                cursor: taken.last().map_or(cursor, |(e, _)| *e),
                more: entries.next().is_some(),
                changed_at_ms: 0,
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Join,
        Leave(usize),
        Abandon(usize),
        Admit(usize),
        /// Read one page only (a view between ticks of a long log).
        ReadPage,
        /// Read every page.
        Sync,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => Just(Op::Join),
            2 => any::<usize>().prop_map(Op::Leave),
            1 => any::<usize>().prop_map(Op::Abandon),
            2 => (0usize..4).prop_map(Op::Admit),
            1 => Just(Op::ReadPage),
            2 => Just(Op::Sync),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn positions_match_a_model_line(ops in prop::collection::vec(op(), 1..200)) {
            let mut store = ModelStore::default();
            let mut view = LineView::new();
            let mut last_seen: BTreeMap<u64, u64> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Join => store.join(),
                    Op::Leave(pick) | Op::Abandon(pick) => store.remove_out_of_order(pick),
                    Op::Admit(n) => store.admit(n),
                    Op::ReadPage => {
                        view.apply(&store.frontier(view.cursor()));
                    }
                    Op::Sync => {
                        while view.apply(&store.frontier(view.cursor())) {}
                        for (rank, ticket) in store.line.iter().enumerate() {
                            prop_assert_eq!(view.position(*ticket), Some(rank as u64 + 1));
                        }
                        for ticket in 1..=store.next_ticket {
                            if !store.line.contains(&ticket) {
                                prop_assert_eq!(view.position(ticket), None);
                            }
                        }
                        prop_assert_eq!(view.waiting(), store.line.len() as u64);
                    }
                }
                // Between full reads a position is never below the truth and never goes up.
                for (rank, ticket) in store.line.iter().enumerate() {
                    if let Some(position) = view.position(*ticket) {
                        prop_assert!(position > rank as u64, "below the truth");
                        if let Some(before) = last_seen.insert(*ticket, position) {
                            prop_assert!(position <= before);
                        }
                    }
                }
            }
        }
    }
}
