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

fn allocations<F: Future<Output = Result<u64, Rejection>>>(make: impl Fn() -> F) -> u64 {
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
    let before = ALLOCATIONS.with(Cell::get);
    for _ in 0..100 {
        poll_once(make());
        // Real time: let a few windows close along the way.
        std::thread::sleep(Duration::from_micros(100));
    }
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn the_hot_path_allocates_nothing_window_closes_included() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let _context = runtime.enter();
    assert_eq!(
        allocations(|| async { Ok(*std::hint::black_box(Box::new(7))) }),
        100
    );
    for (name, n) in [
        ("gradient2", allocations(|| gradient2(7))),
        ("vegas", allocations(|| vegas(7))),
        ("aimd", allocations(|| aimd(7))),
    ] {
        assert_eq!(n, 0, "{name}: {n} allocations in 100 calls");
    }
}
