//! `#[adaptive_concurrency]`'s hot path (a free place, nobody waiting)
//! allocates nothing, as tests/allocations.rs shows for the other layers,
//! window closes included.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use resilience::{Rejection, adaptive_concurrency};

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: forwards to the system allocator, only counting.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[adaptive_concurrency(algorithm = "gradient2", window = "1ms")]
async fn gradient2(x: u64) -> Result<u64, Rejection> {
    Ok(x)
}

#[adaptive_concurrency(algorithm = "vegas", window = "1ms", priority = 3)]
async fn vegas(x: u64) -> Result<u64, Rejection> {
    Ok(x)
}

#[adaptive_concurrency(algorithm = "aimd", window = "1ms")]
async fn aimd(x: u64) -> Result<u64, Rejection> {
    Ok(x)
}

fn allocations<F: Future<Output = Result<u64, Rejection>>>(
    runtime: &tokio::runtime::Runtime,
    make: impl Fn() -> F,
) -> u64 {
    let poll_once = |future: F| {
        let mut future = pin!(future);
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(out) => assert_eq!(out, Ok(7)),
            Poll::Pending => panic!("the hot path finishes on its first poll"),
        }
    };
    poll_once(make());
    let mut allocated = 0;
    for _ in 0..100 {
        let before = ALLOCATIONS.with(Cell::get);
        poll_once(make());
        allocated += ALLOCATIONS.with(Cell::get) - before;
        // Paused time: a 1 ms window closes after every tenth call, ten
        // times in all. Outside the count: the clock's advance is the
        // runtime's work, not the call's.
        runtime.block_on(tokio::time::advance(Duration::from_micros(100)));
    }
    allocated
}

#[test]
fn the_hot_path_allocates_nothing_window_closes_included() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    let _context = runtime.enter();
    assert_eq!(
        allocations(&runtime, || async {
            Ok(*std::hint::black_box(Box::new(7)))
        }),
        100
    );
    for (name, n) in [
        ("gradient2", allocations(&runtime, || gradient2(7))),
        ("vegas", allocations(&runtime, || vegas(7))),
        ("aimd", allocations(&runtime, || aimd(7))),
    ] {
        assert_eq!(n, 0, "{name}: {n} allocations in 100 calls");
    }
}
