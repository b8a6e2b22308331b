//! Fairness of a line: the Kendall-tau distance between join order and admission order.
//!
//! Listing the admitted visitors' join tickets in the order they were admitted, every pair
//! out of order (a later joiner admitted before an earlier one) is one discordant pair. The
//! pairwise count is O(n²) and dies near 10^5 visitors; a merge sort counts the same pairs in
//! O(n log n), so the report works at 1,000,000 visitors.

/// Discordant pairs in `tickets` (join tickets listed in admission order): pairs `i < j`
/// with `tickets[i] > tickets[j]`. Equal tickets are not discordant.
pub fn kendall_tau_distance(tickets: &[u64]) -> u64 {
    let mut work = tickets.to_vec();
    let mut scratch = vec![0; work.len()];
    sort_counting(&mut work, &mut scratch)
}

/// Sorts `values` (bottom-up merge sort, no recursion) and returns the inversions it undid.
fn sort_counting(values: &mut [u64], scratch: &mut [u64]) -> u64 {
    let len = values.len();
    let mut inversions = 0u64;
    let mut width = 1;
    while width < len {
        let mut start = 0;
        while start < len {
            let mid = (start + width).min(len);
            let end = (start + 2 * width).min(len);
            inversions += merge(values, scratch, start, mid, end);
            start = end;
        }
        width *= 2;
    }
    inversions
}

/// Merges the sorted runs `values[start..mid]` and `values[mid..end]`; every element taken
/// from the right run jumps over what is left of the left run, one inversion each.
fn merge(values: &mut [u64], scratch: &mut [u64], start: usize, mid: usize, end: usize) -> u64 {
    let (Some(left), Some(right)) = (values.get(start..mid), values.get(mid..end)) else {
        return 0;
    };
    let Some(out) = scratch.get_mut(start..end) else {
        return 0;
    };
    let mut inversions = 0u64;
    let (mut l, mut r) = (left.iter().peekable(), right.iter().peekable());
    for slot in out.iter_mut() {
        *slot = match (l.peek(), r.peek()) {
            (Some(&&a), Some(&&b)) if b < a => {
                inversions += l.len() as u64;
                r.next();
                b
            }
            (Some(&&a), _) => {
                l.next();
                a
            }
            (None, Some(&&b)) => {
                r.next();
                b
            }
            (None, None) => break,
        };
    }
    if let (Some(target), Some(merged)) = (values.get_mut(start..end), scratch.get(start..end)) {
        target.copy_from_slice(merged);
    }
    inversions
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn pairwise(tickets: &[u64]) -> u64 {
        let mut count = 0;
        for i in 0..tickets.len() {
            for j in i + 1..tickets.len() {
                if tickets[i] > tickets[j] {
                    count += 1;
                }
            }
        }
        count
    }

    #[test]
    fn agrees_with_the_pairwise_count_on_random_inputs() {
        let mut rng = rand::thread_rng();
        for _ in 0..500 {
            let len = rng.gen_range(0..300);
            let range = rng.gen_range(1..1000);
            let tickets: Vec<u64> = (0..len).map(|_| rng.gen_range(0..range)).collect();
            assert_eq!(
                kendall_tau_distance(&tickets),
                pairwise(&tickets),
                "{tickets:?}"
            );
        }
    }

    #[test]
    fn fifo_is_zero_and_reversed_is_every_pair() {
        let fifo: Vec<u64> = (1..=1000).collect();
        assert_eq!(kendall_tau_distance(&fifo), 0);
        let reversed: Vec<u64> = (1..=1000).rev().collect();
        assert_eq!(kendall_tau_distance(&reversed), 1000 * 999 / 2);
        assert_eq!(kendall_tau_distance(&[2, 1, 3]), 1);
        assert_eq!(kendall_tau_distance(&[]), 0);
    }

    #[test]
    fn a_million_visitors_take_well_under_a_second() {
        let mut tickets: Vec<u64> = (0..1_000_000).collect();
        tickets.swap(10, 999_990);
        let started = std::time::Instant::now();
        // Swapping two tickets 999,980 apart makes 2·999,979 + 1 discordant pairs.
        assert_eq!(kendall_tau_distance(&tickets), 2 * 999_979 + 1);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
