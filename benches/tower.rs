//! Our instances as tower layers (feature `tower`), side by side with
//! tower's own layers and tower-resilience's, in one run: each layer per
//! call, then a four-layer `ServiceBuilder` stack.
//!
//! Every call goes as a tower caller makes it (`ready().await`, then
//! `call`), completes on its first poll and is polled once with a no-op
//! waker, so what is measured is the layers' own cost. Every layer admits:
//! the breaker is closed, the first attempt succeeds, the timeout is 1 s,
//! 1024 permits, 10⁹ calls per second.
//!
//! Row names: `direct` is the bare `service_fn` (the floor), rows starting
//! with `resilience` are ours, every other row is a peer.
//!
//! `cargo bench --bench tower --features tower`

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use resilience::breaker::{BreakerPolicy, CircuitBreaker};
use resilience::tower::{
    BulkheadLayer, CircuitBreakerLayer, RateLimiterLayer, RetryLayer, TimeoutLayer,
};
use resilience::{
    Backoff, Bulkhead, RateLimiter, Rejection, Retry, RetryPolicy, Timeout, rate_limiter, retry,
    timeout,
};
use tower::ServiceBuilder;
mod common;
use common::{ExpAttempts, ready_call, tower_resilience_breaker};

const LIMIT: Duration = Duration::from_secs(1);
const PERMITS: usize = 1024;
const RATE: u64 = 1_000_000_000;

static BREAKER: CircuitBreaker = CircuitBreaker::new(
    "bench-tower-breaker",
    BreakerPolicy::new()
        .failure_threshold(5)
        .open_for(Duration::from_secs(60)),
);
static RETRY: Retry = Retry::new(
    "bench-tower-retry",
    RetryPolicy::new()
        .max_attempts(3)
        .backoff(Backoff::Exponential)
        .base(Duration::from_millis(100)),
);
static TIMEOUT: Timeout = Timeout::new("bench-tower-timeout", LIMIT);
static BULKHEAD: Bulkhead = Bulkhead::new("bench-tower-bulkhead", PERMITS);
static RATE_LIMITER: RateLimiter =
    RateLimiter::new("bench-tower-rate", RATE as u32, Duration::from_secs(1));

#[inline(never)]
async fn direct(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

/// The annotated equivalent of the four-layer stacks, for reference.
#[rate_limiter(rate = 1_000_000_000, per = "1s")]
#[retry(max_attempts = 3, backoff = "exp", base = "100ms")]
#[timeout("1s")]
#[resilience::bulkhead(max_concurrent = 1024)]
#[inline(never)]
async fn four_layers(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

/// Polls `fut` once (every call here is ready at once) and takes the value.
#[inline(always)]
fn now<T, E, F: Future<Output = Result<T, E>>>(fut: F) -> Option<T> {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out.ok(),
        Poll::Pending => unreachable!("an admitted call completes on its first poll"),
    }
}

fn per_layer(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let _context = runtime.enter();

    let mut group = c.benchmark_group("tower/circuit_breaker");
    let mut svc = tower::service_fn(direct);
    group.bench_function("direct", |b| {
        b.iter(|| now(ready_call(&mut svc, black_box(1))))
    });
    let mut svc = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(&BREAKER))
        .service_fn(direct);
    group.bench_function("resilience CircuitBreakerLayer", |b| {
        b.iter(|| now(ready_call(&mut svc, black_box(1))))
    });
    let mut svc = ServiceBuilder::new()
        .layer(tower_resilience_breaker())
        .service_fn(direct);
    group.bench_function("tower-resilience CircuitBreaker", |b| {
        b.iter(|| now(ready_call(&mut svc, black_box(1))))
    });
    group.finish();

    let mut group = c.benchmark_group("tower/timeout");
    let mut svc = ServiceBuilder::new()
        .layer(TimeoutLayer::new(&TIMEOUT))
        .service_fn(direct);
    group.bench_function("resilience TimeoutLayer", |b| {
        b.iter(|| now(ready_call(&mut svc, black_box(1))))
    });
    let mut svc = ServiceBuilder::new().timeout(LIMIT).service_fn(direct);
    group.bench_function("tower Timeout", |b| {
        b.iter(|| now(ready_call(&mut svc, black_box(1))))
    });
    group.finish();

    let mut group = c.benchmark_group("tower/bulkhead");
    let mut svc = ServiceBuilder::new()
        .layer(BulkheadLayer::new(&BULKHEAD))
        .service_fn(direct);
    group.bench_function("resilience BulkheadLayer", |b| {
        b.iter(|| now(ready_call(&mut svc, black_box(1))))
    });
    let mut svc = ServiceBuilder::new()
        .concurrency_limit(PERMITS)
        .service_fn(direct);
    group.bench_function("tower ConcurrencyLimit", |b| {
        b.iter(|| now(ready_call(&mut svc, black_box(1))))
    });
    let layer = tower_resilience::bulkhead::BulkheadLayer::builder()
        .max_concurrent_calls(PERMITS)
        .build()
        .expect("bulkhead config");
    let mut svc = ServiceBuilder::new().layer(layer).service_fn(direct);
    group.bench_function("tower-resilience Bulkhead", |b| {
        b.iter(|| now(ready_call(&mut svc, black_box(1))))
    });
    group.finish();

    let mut group = c.benchmark_group("tower/rate_limiter");
    group.bench_function("resilience RateLimiter::call (no tower)", |b| {
        b.iter(|| now(RATE_LIMITER.call(direct(black_box(1)))))
    });
    let mut svc = ServiceBuilder::new()
        .layer(RateLimiterLayer::new(&RATE_LIMITER))
        .service_fn(direct);
    group.bench_function("resilience RateLimiterLayer", |b| {
        b.iter(|| now(ready_call(&mut svc, black_box(1))))
    });
    let mut svc = ServiceBuilder::new()
        .rate_limit(RATE, Duration::from_secs(1))
        .service_fn(direct);
    group.bench_function("tower RateLimit", |b| {
        b.iter(|| now(ready_call(&mut svc, black_box(1))))
    });
    group.finish();

    let mut group = c.benchmark_group("tower/retry");
    let mut svc = ServiceBuilder::new()
        .layer(RetryLayer::new(&RETRY))
        .service_fn(direct);
    group.bench_function("resilience RetryLayer", |b| {
        b.iter(|| now(ready_call(&mut svc, black_box(1))))
    });
    let mut svc = ServiceBuilder::new()
        .retry(ExpAttempts::default())
        .service_fn(direct);
    group.bench_function("tower Retry", |b| {
        b.iter(|| now(ready_call(&mut svc, black_box(1))))
    });
    group.finish();
}

fn four_layer_stack(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let _context = runtime.enter();

    // The order tower's own stack needs: its `RateLimit` is not `Clone`
    // and its `Retry` clones the service below it, so the rate limit sits
    // outermost. Ours take the same order.
    let mut group = c.benchmark_group("tower/four_layers");
    let mut svc = tower::service_fn(direct);
    group.bench_function("direct", |b| {
        b.iter(|| now(ready_call(&mut svc, black_box(1))))
    });
    group.bench_function("resilience four attributes", |b| {
        b.iter(|| now(four_layers(black_box(1))))
    });
    let mut svc = ServiceBuilder::new()
        .layer(RateLimiterLayer::new(&RATE_LIMITER))
        .layer(RetryLayer::new(&RETRY))
        .layer(TimeoutLayer::new(&TIMEOUT))
        .layer(BulkheadLayer::new(&BULKHEAD))
        .service_fn(direct);
    group.bench_function("resilience ServiceBuilder", |b| {
        b.iter(|| now(ready_call(&mut svc, black_box(1))))
    });
    let mut svc = ServiceBuilder::new()
        .rate_limit(RATE, Duration::from_secs(1))
        .retry(ExpAttempts::default())
        .timeout(LIMIT)
        .concurrency_limit(PERMITS)
        .service_fn(direct);
    group.bench_function("tower ServiceBuilder", |b| {
        b.iter(|| now(ready_call(&mut svc, black_box(1))))
    });
    let mut svc = ServiceBuilder::new()
        .rate_limit(RATE, Duration::from_secs(1))
        .retry(ExpAttempts::default())
        .timeout(LIMIT)
        .layer(
            tower_resilience::bulkhead::BulkheadLayer::builder()
                .max_concurrent_calls(PERMITS)
                .build()
                .expect("bulkhead config"),
        )
        .service_fn(direct);
    group.bench_function("tower + tower-resilience Bulkhead", |b| {
        b.iter(|| now(ready_call(&mut svc, black_box(1))))
    });
    group.finish();
}

criterion_group!(benches, per_layer, four_layer_stack);
criterion_main!(benches);
