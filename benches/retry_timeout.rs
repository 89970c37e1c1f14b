//! Overhead of `#[retry]` and `#[timeout]` on a call that succeeds at once,
//! against the direct call and the crates a user would pick instead, all in
//! the same run: backon, tokio-retry, tryhard and tower's `Retry` for the
//! retry; `tokio::time::timeout` and tower's `Timeout` for the timeout.
//!
//! Every call completes on its first poll and is polled once with a no-op
//! waker, so what is measured is the wrapper's own cost, not an executor's.
//! Each retry is configured alike: at most 3 attempts, exponential backoff
//! from 100 ms (never reached: the first attempt succeeds).
//!
//! Row names: `direct` is the floor, rows starting with `resilience` are
//! ours, every other row is a peer (see `scripts/bench_report.py`).
//!
//! `cargo bench --bench retry_timeout`

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use backon::Retryable as _;
use criterion::{Criterion, criterion_group, criterion_main};
use resilience::{Rejection, Retry, RetryPolicy, Timeout, retry, timeout};
mod common;
use common::{ExpAttempts, ready_call};

const BASE: Duration = Duration::from_millis(100);
const LIMIT: Duration = Duration::from_secs(1);

/// Polls a future that is ready at once (every call here is) and takes
/// the value out, as a caller's `?` would.
///
/// Always inlined, so the future is built in place: out of line, each call
/// paid a `memcpy` of the whole future into this function (36 ns instead of
/// about 1 ns for `#[timeout]`, whose future holds a `Sleep`), which measured
/// the future's size rather than the layer. The value, not the whole
/// `Result`: black-boxing a 48-byte `Result<u64, Rejection>` copies it in
/// 16-byte chunks, and when the future's poll is not inlined (ours or a
/// peer's; the compiler decides by size) those loads wait on the narrower
/// stores that wrote it, a store-forwarding stall that measures the
/// harness, not the layer.
#[inline(always)]
fn ready<T, E, F: Future<Output = Result<T, E>>>(future: F) -> Option<T> {
    ready_output(future).ok()
}

/// [`ready`] for a future whose output is not a `Result` of the value
/// (`tokio::time::timeout` nests one in another).
#[inline(always)]
fn ready_output<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("benchmarked calls finish on their first poll"),
    }
}

async fn direct(x: u64) -> Result<u64, Rejection> {
    Ok(x.wrapping_mul(31))
}

#[retry(max_attempts = 3, backoff = "exp", base = "100ms")]
async fn with_retry(x: u64) -> Result<u64, Rejection> {
    Ok(x.wrapping_mul(31))
}

#[timeout("1s")]
async fn with_timeout(x: u64) -> Result<u64, Rejection> {
    Ok(x.wrapping_mul(31))
}

#[retry(max_attempts = 3, backoff = "exp", base = "100ms")]
#[timeout("1s")]
async fn with_both(x: u64) -> Result<u64, Rejection> {
    Ok(x.wrapping_mul(31))
}

// A deadline over every attempt: the retry runs with the timeout's
// deadline set (issue 20), beside `with_retry`, which has none.
#[timeout("1s")]
#[retry(max_attempts = 3, backoff = "exp", base = "100ms")]
async fn with_deadline(x: u64) -> Result<u64, Rejection> {
    Ok(x.wrapping_mul(31))
}

static RETRY: Retry = Retry::new("bench", RetryPolicy::new().max_attempts(3).base(BASE));
static TIMEOUT: Timeout = Timeout::new("bench", LIMIT);

fn first_try_success(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let _context = runtime.enter();

    let mut group = c.benchmark_group("retry/first_try_success");
    group.bench_function("direct", |b| b.iter(|| ready(direct(black_box(7)))));
    group.bench_function("resilience #[retry]", |b| {
        b.iter(|| ready(with_retry(black_box(7))))
    });
    group.bench_function("resilience Retry::call", |b| {
        b.iter(|| ready(RETRY.call(|| direct(black_box(7)))))
    });
    group.bench_function("backon", |b| {
        b.iter(|| ready((|| direct(black_box(7))).retry(backon_policy())))
    });
    group.bench_function("tokio-retry", |b| {
        b.iter(|| {
            let backoff = tokio_retry::strategy::ExponentialBackoff::from_millis(100).take(2);
            ready(tokio_retry::Retry::start(backoff, || direct(black_box(7))))
        })
    });
    group.bench_function("tryhard", |b| {
        b.iter(|| {
            ready(
                tryhard::retry_fn(|| direct(black_box(7)))
                    .retries(2)
                    .exponential_backoff(BASE),
            )
        })
    });
    let mut svc = tower::retry::Retry::new(ExpAttempts::default(), tower::service_fn(direct));
    group.bench_function("tower Retry ready + call", |b| {
        b.iter(|| ready(ready_call(&mut svc, black_box(7))))
    });
    group.finish();

    let mut group = c.benchmark_group("timeout/first_try_success");
    group.bench_function("direct", |b| b.iter(|| ready(direct(black_box(7)))));
    group.bench_function("resilience #[timeout]", |b| {
        b.iter(|| ready(with_timeout(black_box(7))))
    });
    group.bench_function("resilience Timeout::call", |b| {
        b.iter(|| ready(TIMEOUT.call(direct(black_box(7)))))
    });
    group.bench_function("tokio::time::timeout", |b| {
        b.iter(|| {
            ready_output(tokio::time::timeout(LIMIT, direct(black_box(7))))
                .ok()
                .and_then(Result::ok)
        })
    });
    let mut svc = tower::timeout::Timeout::new(tower::service_fn(direct), LIMIT);
    group.bench_function("tower Timeout ready + call", |b| {
        b.iter(|| ready(ready_call(&mut svc, black_box(7))))
    });
    group.finish();

    // A timeout per attempt, inside the retry.
    let mut group = c.benchmark_group("retry_timeout/first_try_success");
    group.bench_function("direct", |b| b.iter(|| ready(direct(black_box(7)))));
    group.bench_function("resilience #[retry] #[timeout]", |b| {
        b.iter(|| ready(with_both(black_box(7))))
    });
    group.bench_function("backon over tokio::time::timeout", |b| {
        b.iter(|| {
            ready(
                (|| async {
                    match tokio::time::timeout(LIMIT, direct(black_box(7))).await {
                        Ok(out) => out,
                        Err(_) => Err(Rejection::timeout("bench", LIMIT)),
                    }
                })
                .retry(backon_policy()),
            )
        })
    });
    let mut svc = tower::ServiceBuilder::new()
        .retry(ExpAttempts::default())
        .timeout(LIMIT)
        .service_fn(direct);
    group.bench_function("tower Retry over Timeout ready + call", |b| {
        b.iter(|| ready(ready_call(&mut svc, black_box(7))))
    });
    group.finish();

    // The same call with and without a deadline in force.
    let mut group = c.benchmark_group("deadline/first_try_success");
    group.bench_function("#[retry], no deadline", |b| {
        b.iter(|| ready(with_retry(black_box(7))))
    });
    group.bench_function("#[timeout] #[retry], under its deadline", |b| {
        b.iter(|| ready(with_deadline(black_box(7))))
    });
    group.bench_function("deadline::remaining(), no deadline", |b| {
        b.iter(|| black_box(resilience::deadline::remaining()))
    });
    group.bench_function("deadline::remaining() in Timeout::call", |b| {
        b.iter(|| {
            ready(TIMEOUT.call(async { Ok::<_, Rejection>(resilience::deadline::remaining()) }))
        })
    });
    group.finish();
}

fn backon_policy() -> backon::ExponentialBuilder {
    backon::ExponentialBuilder::default()
        .with_min_delay(BASE)
        .with_max_times(2)
}

criterion_group!(benches, first_try_success);
criterion_main!(benches);
