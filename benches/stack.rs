//! The full five-layer stack, side by side with the direct call (the floor)
//! and the closest tower / tower-resilience stack, in one run; then one
//! shared instance hammered from every core.
//!
//! Uncontended: every call completes on its first poll and is polled once
//! with a no-op waker, so what is measured is the stack's own cost, not an
//! executor's. Every layer is configured so that it admits: the breaker is
//! closed, the first attempt succeeds, the timeout is 1 s, the bulkhead
//! has 1024 permits and the rate limit is 10⁹ calls per second.
//!
//! Contended: one shared instance, `tasks = available_parallelism()` tasks
//! on as many worker threads of a multi-thread runtime, each making
//! `iters / tasks` calls in a loop. The time reported is wall time per call
//! with every core busy (its inverse is the throughput; times the number of
//! tasks it is the CPU time per call).
//!
//! Row names: `direct` is the floor, rows starting with `resilience` are
//! ours, every other row is a peer (see `scripts/bench_report.py`).
//!
//! `cargo bench --bench stack`

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::LazyLock;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use resilience::{
    Bulkhead, Rejection, bulkhead, circuit_breaker, fallback, rate_limiter, retry, timeout,
};
mod common;
use common::{ExpAttempts, five_layers, ready_call, tower_resilience_breaker};

const LIMIT: Duration = Duration::from_secs(1);
const PERMITS: usize = 1024;
const RATE: u64 = 1_000_000_000;

#[inline(never)]
async fn direct(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

#[fallback(Ok(0))]
#[circuit_breaker(failure_threshold = 5, open_for = "60s")]
#[retry(max_attempts = 3, backoff = "exp", base = "100ms")]
#[timeout("1s")]
#[bulkhead(max_concurrent = 1024)]
#[rate_limiter(rate = 1_000_000_000, per = "1s")]
#[inline(never)]
async fn five_layers_with_fallback(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

/// The four layers tower itself offers, for the tower-only row.
#[retry(max_attempts = 3, backoff = "exp", base = "100ms")]
#[timeout("1s")]
#[bulkhead(max_concurrent = 1024)]
#[rate_limiter(rate = 1_000_000_000, per = "1s")]
#[inline(never)]
async fn four_layers(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

/// The stack the contended case shares between every core.
#[circuit_breaker(failure_threshold = 5, open_for = "60s")]
#[bulkhead(max_concurrent = 1024)]
#[inline(never)]
async fn breaker_bulkhead(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

static BULKHEAD: Bulkhead = Bulkhead::new("bench", PERMITS);
static SEMAPHORE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(PERMITS);
static RECLOSER: LazyLock<recloser::AsyncRecloser> =
    LazyLock::new(|| recloser::AsyncRecloser::from(recloser::Recloser::default()));

/// Polls `fut` once (every uncontended call here is ready at once) and
/// takes the value out, as a caller's `?` would: black-boxing the whole
/// 48-byte `Result` adds a store-forwarding stall whenever the compiler
/// does not inline the future's poll (see `benches/notes.md`).
#[inline(always)]
fn now<T, E, F: Future<Output = Result<T, E>>>(fut: F) -> Option<T> {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out.ok(),
        Poll::Pending => unreachable!("an admitted call completes on its first poll"),
    }
}

fn uncontended(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let _context = runtime.enter();

    let mut group = c.benchmark_group("stack/five_layers");
    group.bench_function("direct", |b| b.iter(|| now(direct(black_box(1)))));
    group.bench_function("resilience five layers", |b| {
        b.iter(|| now(five_layers(black_box(1))))
    });
    group.bench_function("resilience five layers + #[fallback]", |b| {
        b.iter(|| now(five_layers_with_fallback(black_box(1))))
    });
    // tower's `RateLimit` is not `Clone` (its window belongs to one service
    // handle), and both `Retry` and the breaker clone the service below
    // them on every call, so the rate limit has to sit outermost.
    let breaker = tower_resilience_breaker();
    let mut svc = tower::ServiceBuilder::new()
        .rate_limit(RATE, Duration::from_secs(1))
        .layer(breaker)
        .retry(ExpAttempts::default())
        .timeout(LIMIT)
        .concurrency_limit(PERMITS)
        .service_fn(direct);
    group.bench_function("tower + tower-resilience breaker", |b| {
        b.iter(|| now(ready_call(&mut svc, black_box(1))))
    });
    group.finish();

    let mut group = c.benchmark_group("stack/four_layers_no_breaker");
    group.bench_function("direct", |b| b.iter(|| now(direct(black_box(1)))));
    group.bench_function("resilience four layers", |b| {
        b.iter(|| now(four_layers(black_box(1))))
    });
    let mut svc = tower::ServiceBuilder::new()
        .rate_limit(RATE, Duration::from_secs(1))
        .retry(ExpAttempts::default())
        .timeout(LIMIT)
        .concurrency_limit(PERMITS)
        .service_fn(direct);
    group.bench_function("tower ServiceBuilder", |b| {
        b.iter(|| now(ready_call(&mut svc, black_box(1))))
    });
    group.finish();
}

/// Runs `iters` calls split over one task per worker thread; returns the
/// wall time from the first spawn to the last task's end.
fn hammer<F, Fut>(rt: &tokio::runtime::Runtime, tasks: u64, iters: u64, call: F) -> Duration
where
    F: Fn(u64) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = Result<u64, Rejection>> + Send + 'static,
{
    rt.block_on(async {
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|task| {
                let calls = iters / tasks + u64::from(task < iters % tasks);
                tokio::spawn(async move {
                    for i in 0..calls {
                        black_box(call(black_box(i)).await).expect("admitted");
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.expect("task");
        }
        start.elapsed()
    })
}

fn contended(c: &mut Criterion) {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_time()
        .build()
        .expect("runtime");
    let tasks = threads as u64;

    let mut group = c.benchmark_group(format!("stack/contended_{threads}_threads"));
    group.throughput(Throughput::Elements(1));
    group.bench_function("direct", |b| {
        b.iter_custom(|n| hammer(&rt, tasks, n, direct))
    });
    group.bench_function("resilience #[circuit_breaker] #[bulkhead]", |b| {
        b.iter_custom(|n| hammer(&rt, tasks, n, breaker_bulkhead))
    });
    group.bench_function("resilience Bulkhead::call", |b| {
        b.iter_custom(|n| hammer(&rt, tasks, n, |x| BULKHEAD.call(direct(x))))
    });
    group.bench_function("resilience five layers", |b| {
        b.iter_custom(|n| hammer(&rt, tasks, n, five_layers))
    });
    group.bench_function("tokio Semaphore::acquire + call", |b| {
        b.iter_custom(|n| {
            hammer(&rt, tasks, n, |x| async move {
                let _permit = SEMAPHORE.acquire().await.expect("open semaphore");
                direct(x).await
            })
        })
    });
    group.bench_function("recloser + tokio Semaphore", |b| {
        b.iter_custom(|n| {
            hammer(&rt, tasks, n, |x| async move {
                let guarded = async {
                    let _permit = SEMAPHORE.acquire().await.expect("open semaphore");
                    direct(x).await
                };
                RECLOSER
                    .call(guarded)
                    .await
                    .map_err(|_| Rejection::circuit_open("recloser", Duration::ZERO))
            })
        })
    });
    group.finish();
}

criterion_group!(benches, uncontended, contended);
criterion_main!(benches);
