//! Heap allocations per call on the hot path (a call that succeeds at
//! once: closed breaker, free permit, tokens left, first attempt ok), for
//! each of our layers and for the peers of `benches/*.rs`, counted by a
//! global allocator in this binary.
//!
//! Not a timing: it writes `allocations.json` into criterion's directory
//! (next to the timings), which `scripts/bench_report.py` turns into a
//! table in `BENCHMARKS.md`. `tests/allocations.rs` asserts the zero for
//! our layers on every CI run; this shows the peers beside them.
//!
//! `cargo bench --bench allocations`

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::hint::black_box;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use backon::Retryable;
use failsafe::futures::CircuitBreaker as _;
use resilience::breaker::WindowSize;
use resilience::{
    BreakerPolicy, Bulkhead, CircuitBreaker, RateLimiter, Rejection, Retry, RetryPolicy, Timeout,
    bulkhead, circuit_breaker, fallback, hedge, rate_limiter, retry, timeout,
};
mod common;
use common::{ExpAttempts, five_layers, ready_call, tower_resilience_breaker};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
}

fn count(layout: Layout) {
    ALLOCATIONS.with(|n| n.set(n.get() + 1));
    BYTES.with(|n| n.set(n.get() + layout.size() as u64));
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the only addition is a bump of two const-initialised
// thread-locals, which neither allocates nor touches the memory handed out.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(Layout::from_size_align(new_size, layout.align()).unwrap_or(layout));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const CALLS: u64 = 1_000;
const LIMIT: Duration = Duration::from_secs(1);

/// Polls `future` once: every call here is ready at once.
fn poll_once<T, E, F: Future<Output = Result<T, E>>>(future: F) {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => drop(black_box(out.ok())),
        Poll::Pending => panic!("the hot path finishes on its first poll"),
    }
}

struct Row {
    layer: &'static str,
    name: &'static str,
    allocations: f64,
    bytes: f64,
}

/// Allocations and bytes per call of `call`, after one warm-up call (lazy
/// statics and registry entries are created on first use, once).
fn measure(rows: &mut Vec<Row>, layer: &'static str, name: &'static str, mut call: impl FnMut()) {
    call();
    let (calls, bytes) = (ALLOCATIONS.with(Cell::get), BYTES.with(Cell::get));
    for _ in 0..CALLS {
        call();
    }
    rows.push(Row {
        layer,
        name,
        allocations: (ALLOCATIONS.with(Cell::get) - calls) as f64 / CALLS as f64,
        bytes: (BYTES.with(Cell::get) - bytes) as f64 / CALLS as f64,
    });
}

#[inline(never)]
async fn direct(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

#[timeout("1s")]
async fn timed(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

#[retry(max_attempts = 3, backoff = "exp", base = "100ms")]
async fn retried(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

#[circuit_breaker(failure_threshold = 5, open_for = "60s")]
async fn broken(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

#[circuit_breaker(failure_rate = 0.5, window = 100)]
async fn rate_broken(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

#[bulkhead(max_concurrent = 1024)]
async fn bulkheaded(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

#[rate_limiter(rate = 1_000_000_000, per = "1s")]
async fn limited(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

#[fallback(Ok(0))]
async fn with_fallback(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

#[hedge(delay = "50ms")]
async fn hedged(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

static TIMEOUT: Timeout = Timeout::new("alloc", LIMIT);
static RETRY: Retry = Retry::new(
    "alloc",
    RetryPolicy::new()
        .max_attempts(3)
        .base(Duration::from_millis(100)),
);
static BREAKER: CircuitBreaker =
    CircuitBreaker::new("alloc", BreakerPolicy::new().failure_threshold(5));
static RATE_BREAKER: CircuitBreaker = CircuitBreaker::new(
    "alloc-rate",
    BreakerPolicy::new().failure_rate(0.5, WindowSize::Calls(100)),
);
static BULKHEAD: Bulkhead = Bulkhead::new("alloc", 1024);
static LIMITER: RateLimiter = RateLimiter::new("alloc", 1_000_000_000, LIMIT);
static SEMAPHORE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1024);

fn ours(rows: &mut Vec<Row>) {
    measure(rows, "timeout", "resilience #[timeout]", || {
        poll_once(timed(7))
    });
    measure(rows, "timeout", "resilience Timeout::call", || {
        poll_once(TIMEOUT.call(direct(7)))
    });
    measure(rows, "retry", "resilience #[retry]", || {
        poll_once(retried(7))
    });
    measure(rows, "retry", "resilience Retry::call", || {
        poll_once(RETRY.call(|| direct(7)))
    });
    measure(
        rows,
        "circuit breaker",
        "resilience #[circuit_breaker]",
        || poll_once(broken(7)),
    );
    measure(
        rows,
        "circuit breaker",
        "resilience #[circuit_breaker] rate window",
        || poll_once(rate_broken(7)),
    );
    measure(
        rows,
        "circuit breaker",
        "resilience CircuitBreaker::call",
        || poll_once(BREAKER.call(direct(7))),
    );
    measure(
        rows,
        "circuit breaker",
        "resilience CircuitBreaker::call rate window",
        || poll_once(RATE_BREAKER.call(direct(7))),
    );
    measure(rows, "bulkhead", "resilience #[bulkhead]", || {
        poll_once(bulkheaded(7))
    });
    measure(rows, "bulkhead", "resilience Bulkhead::call", || {
        poll_once(BULKHEAD.call(direct(7)))
    });
    measure(rows, "rate limiter", "resilience #[rate_limiter]", || {
        poll_once(limited(7))
    });
    measure(rows, "rate limiter", "resilience RateLimiter::call", || {
        poll_once(LIMITER.call(direct(7)))
    });
    measure(rows, "fallback", "resilience #[fallback]", || {
        poll_once(with_fallback(7))
    });
    measure(rows, "hedge", "resilience #[hedge]", || {
        poll_once(hedged(7))
    });
    measure(rows, "five layers", "resilience five layers", || {
        poll_once(five_layers(7))
    });
}

fn peers(rows: &mut Vec<Row>) {
    measure(rows, "timeout", "tokio::time::timeout", || {
        poll_once(async {
            match tokio::time::timeout(LIMIT, direct(7)).await {
                Ok(out) => out,
                Err(_) => panic!("the hot path does not time out"),
            }
        })
    });
    let mut svc = tower::timeout::Timeout::new(tower::service_fn(direct), LIMIT);
    measure(rows, "timeout", "tower Timeout", || {
        poll_once(ready_call(&mut svc, 7))
    });

    measure(rows, "retry", "backon", || {
        poll_once(
            (|| direct(7)).retry(
                backon::ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(100))
                    .with_max_times(2),
            ),
        )
    });
    measure(rows, "retry", "tokio-retry", || {
        let backoff = tokio_retry::strategy::ExponentialBackoff::from_millis(100).take(2);
        poll_once(tokio_retry::Retry::start(backoff, || direct(7)))
    });
    measure(rows, "retry", "tryhard", || {
        poll_once(
            tryhard::retry_fn(|| direct(7))
                .retries(2)
                .exponential_backoff(Duration::from_millis(100)),
        )
    });

    let peer = breaker::CircuitBreaker::new(breaker::CircuitBreakerConfig::standard());
    measure(rows, "circuit breaker", "breaker", || {
        poll_once(peer.call(|| direct(7)))
    });
    let peer = recloser::AsyncRecloser::from(recloser::Recloser::default());
    measure(rows, "circuit breaker", "recloser", || {
        poll_once(peer.call(direct(7)))
    });
    let peer = failsafe::Config::new().build();
    measure(rows, "circuit breaker", "failsafe", || {
        poll_once(peer.call(direct(7)))
    });
    let layer = tower_resilience_breaker();
    let mut svc = tower::ServiceBuilder::new().layer(layer).service_fn(direct);
    measure(
        rows,
        "circuit breaker",
        "tower-resilience CircuitBreaker",
        || poll_once(ready_call(&mut svc, 7)),
    );

    measure(rows, "bulkhead", "tokio Semaphore", || {
        poll_once(async {
            let _permit = SEMAPHORE.acquire().await.expect("open semaphore");
            direct(7).await
        })
    });
    let mut svc = tower::limit::ConcurrencyLimit::new(tower::service_fn(direct), 1024);
    measure(rows, "bulkhead", "tower ConcurrencyLimit", || {
        poll_once(ready_call(&mut svc, 7))
    });
    let layer = tower_resilience::bulkhead::BulkheadLayer::builder()
        .max_concurrent_calls(1024)
        .build()
        .expect("bulkhead config");
    let mut svc = tower::ServiceBuilder::new().layer(layer).service_fn(direct);
    measure(rows, "bulkhead", "tower-resilience Bulkhead", || {
        poll_once(ready_call(&mut svc, 7))
    });

    // As in `benches/stack.rs`: the rate limit outermost (tower's is not
    // `Clone`, and `Retry` and the breaker clone the service below them).
    let layer = tower_resilience_breaker();
    let mut svc = tower::ServiceBuilder::new()
        .rate_limit(1_000_000_000, Duration::from_secs(1))
        .layer(layer)
        .retry(ExpAttempts::default())
        .timeout(LIMIT)
        .concurrency_limit(1024)
        .service_fn(direct);
    measure(
        rows,
        "five layers",
        "tower + tower-resilience breaker",
        || poll_once(ready_call(&mut svc, 7)),
    );

    let governor = governor::RateLimiter::direct(governor::Quota::per_second(
        NonZeroU32::new(1_000_000_000).expect("non-zero"),
    ));
    measure(rows, "rate limiter", "governor", || {
        if governor.check().is_ok() {
            poll_once(direct(7));
        }
    });
}

/// Criterion's directory: `CRITERION_HOME`, else `<target>/criterion`,
/// the target directory being three levels above this binary
/// (`<target>/release/deps/allocations-…`).
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let exe = std::env::current_exe().expect("the bench binary's path");
    exe.ancestors()
        .nth(3)
        .expect("the bench binary lives in <target>/<profile>/deps")
        .join("criterion")
}

fn json_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let _context = runtime.enter();

    let mut rows = Vec::new();
    measure(&mut rows, "direct", "direct", || poll_once(direct(7)));
    // The counter does see allocations: this row must read 1.
    measure(&mut rows, "direct", "ref: one Box per call", || {
        poll_once(async { Ok::<_, Rejection>(*black_box(Box::new(7u64))) })
    });
    ours(&mut rows);
    peers(&mut rows);

    for row in &rows {
        println!(
            "{:<16} {:<48} {:>6.2} allocations/call {:>8.1} bytes/call",
            row.layer, row.name, row.allocations, row.bytes
        );
    }
    let measured_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let entries: Vec<String> = rows
        .iter()
        .map(|row| {
            format!(
                "{{\"layer\": {}, \"name\": {}, \"allocations_per_call\": {}, \"bytes_per_call\": {}}}",
                json_string(row.layer),
                json_string(row.name),
                row.allocations,
                row.bytes
            )
        })
        .collect();
    let json = format!(
        "{{\"measured_at\": {measured_at}, \"calls\": {CALLS}, \"rows\": [\n  {}\n]}}\n",
        entries.join(",\n  ")
    );
    let dir = criterion_dir();
    std::fs::create_dir_all(&dir).expect("criterion directory");
    let path = dir.join("allocations.json");
    std::fs::write(&path, json).expect("write allocations.json");
    println!("wrote {}", path.display());
}
