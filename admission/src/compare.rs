//! Comparing secrets (MACs, bearer tokens) without leaking where they differ.

/// True when `presented` equals `expected`, in time that depends only on `expected`'s
/// length: every byte of `expected` is compared, with no early exit, so a caller learns
/// nothing from timing about how much of a guess was right. Lengths may differ (a length
/// mismatch is folded into the result, not returned early).
pub fn constant_time_eq(presented: &[u8], expected: &[u8]) -> bool {
    let mut difference = presented.len() ^ expected.len();
    for (index, byte) in expected.iter().enumerate() {
        let other = presented.get(index).copied().unwrap_or(0);
        difference |= usize::from(byte ^ other);
    }
    // Keeps the optimiser from turning the loop into an early-exit compare.
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_only_when_every_byte_and_the_length_match() {
        assert!(constant_time_eq(b"secret-token", b"secret-token"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"secret-tokex", b"secret-token"));
        assert!(!constant_time_eq(b"xecret-token", b"secret-token"));
        assert!(!constant_time_eq(b"secret-toke", b"secret-token"));
        assert!(!constant_time_eq(b"secret-token!", b"secret-token"));
        // A prefix padded with the zero bytes the loop substitutes is still refused.
        assert!(!constant_time_eq(b"ab", b"ab\0"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
