//! The hot path of every layer allocates nothing: a call that succeeds at
//! once (closed breaker, free permit, tokens left, first attempt ok) is
//! counted by a global allocator wrapper, per thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use resilience::events;
use resilience::{
    Outcome, Rejection, Retry, RetryPolicy, adaptive_concurrency, bulkhead, circuit_breaker,
    fallback, hedge, rate_limiter, retry, timeout,
};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every method forwards to `System` unchanged; the only addition is
// a thread-local counter bump, which does not allocate (const-initialised).
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Polls `future` once with a no-op waker: the hot path answers `Ok(7)` on
/// its first poll.
fn poll_seven<F: Future<Output = Result<u64, Rejection>>>(future: F) {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => assert_eq!(out, Ok(7)),
        Poll::Pending => panic!("the hot path finishes on its first poll"),
    }
}

/// Allocations made on this thread while polling `make()`'s future once,
/// after one warm-up call (lazy statics and registry entries are created
/// on first use, once per process).
fn allocations<F: Future<Output = Result<u64, Rejection>>>(make: impl Fn() -> F) -> u64 {
    poll_seven(make());
    let before = ALLOCATIONS.with(Cell::get);
    for _ in 0..100 {
        poll_seven(make());
    }
    ALLOCATIONS.with(Cell::get) - before
}

#[retry(max_attempts = 3, budget = 0.2)]
async fn retried(x: u64) -> Result<u64, Rejection> {
    Ok(x)
}

#[timeout("1s")]
async fn timed(x: u64) -> Result<u64, Rejection> {
    Ok(x)
}

#[timeout(adaptive)]
async fn adaptively_timed(x: u64) -> Result<u64, Rejection> {
    Ok(x)
}

#[circuit_breaker(failure_threshold = 5)]
async fn breaker(x: u64) -> Result<u64, Rejection> {
    Ok(x)
}

#[circuit_breaker(failure_rate = 0.5, window = 100, name = "allocations-rate")]
async fn rate_breaker(x: u64) -> Result<u64, Rejection> {
    Ok(x)
}

#[bulkhead(max_concurrent = 4)]
async fn bulkheaded(x: u64) -> Result<u64, Rejection> {
    Ok(x)
}

#[rate_limiter(rate = 1_000_000, per = "1s", burst = 1_000)]
async fn limited(x: u64) -> Result<u64, Rejection> {
    Ok(x)
}

#[fallback(Ok(0))]
async fn with_fallback(x: u64) -> Result<u64, Rejection> {
    Ok(x)
}

#[hedge(delay = "50ms")]
async fn hedged(x: u64) -> Result<u64, Rejection> {
    Ok(x)
}

#[fallback(Ok(0))]
#[circuit_breaker(failure_threshold = 5)]
#[retry(max_attempts = 3)]
#[timeout("800ms")]
#[bulkhead(max_concurrent = 32)]
#[rate_limiter(rate = 1_000_000, per = "1s", burst = 1_000)]
async fn full_stack(x: u64) -> Result<u64, Rejection> {
    Ok(x)
}

#[test]
fn the_hot_path_of_every_layer_allocates_nothing() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let _context = runtime.enter();
    let cases: [(&str, u64); 11] = [
        ("direct", allocations(|| async { Ok(7) })),
        ("#[retry] with budget", allocations(|| retried(7))),
        ("#[timeout]", allocations(|| timed(7))),
        ("#[timeout(adaptive)]", allocations(|| adaptively_timed(7))),
        ("#[circuit_breaker]", allocations(|| breaker(7))),
        (
            "#[circuit_breaker] rate mode",
            allocations(|| rate_breaker(7)),
        ),
        ("#[bulkhead]", allocations(|| bulkheaded(7))),
        ("#[rate_limiter]", allocations(|| limited(7))),
        ("#[fallback]", allocations(|| with_fallback(7))),
        ("#[hedge]", allocations(|| hedged(7))),
        ("full stack", allocations(|| full_stack(7))),
    ];
    // The counter does see allocations: one box per call is 100.
    assert_eq!(
        allocations(|| async { Ok(*std::hint::black_box(Box::new(7))) }),
        100
    );
    for (layer, count) in cases {
        println!("{layer:<30} {count} allocations in 100 calls");
    }
    let allocating: Vec<_> = cases.iter().filter(|(_, n)| *n > 0).collect();
    assert!(
        allocating.is_empty(),
        "allocations on the hot path: {allocating:?}"
    );
}

// `#[adaptive_concurrency]`: the hot path includes the window closes
// (the algorithm's run), so it has its own test on a paused clock.

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

/// As [`allocations`], on a paused clock that closes a window every ten
/// calls: `#[adaptive_concurrency]` runs its algorithm then.
fn allocations_across_windows<F: Future<Output = Result<u64, Rejection>>>(
    runtime: &tokio::runtime::Runtime,
    make: impl Fn() -> F,
) -> u64 {
    poll_seven(make());
    let mut allocated = 0;
    for _ in 0..100 {
        let before = ALLOCATIONS.with(Cell::get);
        poll_seven(make());
        allocated += ALLOCATIONS.with(Cell::get) - before;
        // Paused time: a 1 ms window closes after every tenth call, ten
        // times in all. Outside the count: the clock's advance is the
        // runtime's work, not the call's.
        runtime.block_on(tokio::time::advance(Duration::from_micros(100)));
    }
    allocated
}

#[test]
fn the_adaptive_concurrency_hot_path_allocates_nothing_window_closes_included() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    let _context = runtime.enter();
    assert_eq!(
        allocations_across_windows(&runtime, || async {
            Ok(*std::hint::black_box(Box::new(7)))
        }),
        100
    );
    for (name, n) in [
        (
            "gradient2",
            allocations_across_windows(&runtime, || gradient2(7)),
        ),
        ("vegas", allocations_across_windows(&runtime, || vegas(7))),
        ("aimd", allocations_across_windows(&runtime, || aimd(7))),
    ] {
        assert_eq!(n, 0, "{name}: {n} allocations in 100 calls");
    }
}

/// With nobody subscribed, events cost nothing: a retry giving up (which
/// tells subscribers `RetriesExhausted`) builds no event, also once a
/// subscription and a listener have come and gone.
#[test]
fn events_cost_nothing_while_nobody_listens() {
    static RETRY: Retry = Retry::new("alloc-events", RetryPolicy::new().max_attempts(1));
    let give_ups = || {
        let before = ALLOCATIONS.with(Cell::get);
        for _ in 0..100 {
            let mut attempts = RETRY.start();
            assert_eq!(attempts.after_failure(Outcome::Permanent), None);
        }
        ALLOCATIONS.with(Cell::get) - before
    };
    give_ups();
    assert_eq!(give_ups(), 0, "nobody ever listened");
    drop(events::subscribe());
    drop(events::listen(|_| {}));
    assert_eq!(give_ups(), 0, "the listeners have gone");
    // The counter would see an event being built: one per give-up.
    let _listening = events::subscribe();
    assert!(give_ups() >= 100);
}
