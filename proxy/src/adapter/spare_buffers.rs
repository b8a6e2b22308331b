//! Byte buffers kept per thread between requests: a request takes the ones it needs and
//! gives them back when it ends. A connection waiting for its next request (a fan between
//! page loads, a live stream) then holds none, and a request still allocates none — the
//! buffers of the requests that ran before it on this thread are reused.

use std::cell::RefCell;

/// Buffers kept per thread; more are freed.
const KEPT: usize = 64;
/// A buffer that grew larger than this (a huge head or response chunk) is freed, not kept.
const LARGEST: usize = 64 * 1024;

thread_local! {
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer with room for at least `capacity` bytes.
pub fn take(capacity: usize) -> Vec<u8> {
    let mut buffer = SPARE
        .with(|spare| spare.borrow_mut().pop())
        .unwrap_or_default();
    buffer.reserve(capacity);
    buffer
}

/// Keep `buffer` for a later request on this thread.
pub fn give(mut buffer: Vec<u8>) {
    if buffer.capacity() == 0 || buffer.capacity() > LARGEST {
        return;
    }
    buffer.clear();
    SPARE.with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() < KEPT {
            spare.push(buffer);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_taken_again_empty() {
        let mut buffer = take(100);
        assert!(buffer.capacity() >= 100);
        buffer.extend_from_slice(b"left over");
        let address = buffer.as_ptr();
        give(buffer);
        let again = take(10);
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), address, "the same allocation");
        give(Vec::with_capacity(LARGEST + 1));
        assert_ne!(take(1).capacity(), LARGEST + 1, "too large to keep");
    }
}
