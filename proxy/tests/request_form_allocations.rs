//! The admitted-request hot path stays cheap: reading an already-normal request-target and
//! Host allocates only the lowercase host (as before normalisation existed), and an
//! already-normal path is returned borrowed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use anteroom::gateway::request_form::{normal_path, normalise, RawTarget};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn allocations_in(work: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    work();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn a_normal_path_is_not_copied() {
    for path in ["/", "/tour-2027/seats/A1", "/api/v1/holds", "/a.b/c~d_e-f/"] {
        assert_eq!(allocations_in(|| drop(normal_path(path))), 0, "{path}");
    }
}

#[test]
fn a_normal_request_allocates_only_its_lowercase_host() {
    let allocations = allocations_in(|| {
        let target = normalise(RawTarget {
            target: b"/tour-2027/seats?event=1",
            host_header: Some(b"tickets.example.com:8080"),
            duplicate_host: false,
            host_required: true,
        })
        .expect("a normal request");
        assert!(target.forward.is_none());
        drop(target);
    });
    assert_eq!(allocations, 1);
}
