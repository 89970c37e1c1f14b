//! Overhead as users meet it (issue 23): every call is *awaited* inside a
//! current-thread tokio runtime, and every function returns the user's own
//! error enum that holds a `Rejection`, its body `Ok(call(x).await?)` over
//! an out-of-line `call`. The other benches poll once with a no-op waker
//! and return `Result<u64, Rejection>`, which measures the layer alone;
//! this one adds what a real caller pays: the future moved into the
//! awaiting task's state, the error converted at each `?`, and the result
//! rebuilt on the way out.
//!
//! Each group: the plain `async fn` with the same error type (the floor,
//! named `direct`), ours (`resilience …`), and the peers a user would pick
//! (rows named after the crate), all in the same run. Criterion's
//! `to_async` awaits the calls in a loop inside one `block_on`, as a
//! task's loop would.
//!
//! Before the groups it prints the size of each future (the bytes an
//! awaiting task reserves for the call).
//!
//! `cargo bench --bench awaited -- --warm-up-time 1 --measurement-time 2`

use std::hint::black_box;
use std::sync::LazyLock;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use resilience::{BreakerPolicy, CircuitBreaker, Rejection, Timeout};
use tower::{Service, ServiceExt};

mod common;
use common::ExpAttempts;
use common::awaited::*;

static TIMEOUT: Timeout = Timeout::new("awaited", Duration::from_secs(1));
static BREAKER: CircuitBreaker =
    CircuitBreaker::new("awaited", BreakerPolicy::new().failure_threshold(5));

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

fn print_future_sizes() {
    let sizes = [
        ("plain", size_of_val(&plain(1))),
        ("#[retry]", size_of_val(&with_retry(1))),
        ("#[timeout]", size_of_val(&with_timeout(1))),
        ("#[circuit_breaker]", size_of_val(&with_breaker(1))),
        ("#[bulkhead]", size_of_val(&with_bulkhead(1))),
        ("#[rate_limiter]", size_of_val(&with_rate_limiter(1))),
        (
            "#[retry] #[timeout] #[bulkhead]",
            size_of_val(&three_layers(1)),
        ),
    ];
    for (name, bytes) in sizes {
        eprintln!("future size: {name:<34} {bytes:>4} bytes");
    }
}

fn bench(c: &mut Criterion) {
    print_future_sizes();
    let rt = runtime();
    // Timers need the runtime's context when a layer's future is built.
    let _context = rt.enter();

    let mut group = c.benchmark_group("awaited/retry");
    group.bench_function("direct", |b| b.to_async(&rt).iter(|| plain(black_box(7))));
    group.bench_function("resilience #[retry]", |b| {
        b.to_async(&rt).iter(|| with_retry(black_box(7)))
    });
    group.bench_function("tokio-retry Retry::start", |b| {
        b.to_async(&rt).iter(|| {
            let backoff = tokio_retry::strategy::ExponentialBackoff::from_millis(100).take(2);
            tokio_retry::Retry::start(backoff, || plain(black_box(7)))
        })
    });
    group.bench_function("tower retry ready + call", |b| {
        let svc = tower::retry::Retry::new(ExpAttempts::default(), tower::service_fn(plain));
        b.to_async(&rt).iter(|| {
            let mut svc = svc.clone();
            async move { svc.ready().await?.call(black_box(7)).await }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("awaited/timeout");
    group.bench_function("direct", |b| b.to_async(&rt).iter(|| plain(black_box(7))));
    group.bench_function("resilience #[timeout]", |b| {
        b.to_async(&rt).iter(|| with_timeout(black_box(7)))
    });
    group.bench_function("resilience Timeout::call", |b| {
        b.to_async(&rt).iter(|| TIMEOUT.call(plain(black_box(7))))
    });
    group.bench_function("tokio::time::timeout", |b| {
        b.to_async(&rt)
            .iter(|| tokio::time::timeout(Duration::from_secs(1), plain(black_box(7))))
    });
    group.finish();

    let mut group = c.benchmark_group("awaited/circuit_breaker");
    group.bench_function("direct", |b| b.to_async(&rt).iter(|| plain(black_box(7))));
    group.bench_function("resilience #[circuit_breaker]", |b| {
        b.to_async(&rt).iter(|| with_breaker(black_box(7)))
    });
    group.bench_function("resilience CircuitBreaker::call", |b| {
        b.to_async(&rt).iter(|| BREAKER.call(plain(black_box(7))))
    });
    group.bench_function("resilience #[circuit_breaker] rate window 100", |b| {
        b.to_async(&rt).iter(|| with_rate_breaker(black_box(7)))
    });
    static PEER_BREAKER: LazyLock<breaker::CircuitBreaker> =
        LazyLock::new(|| breaker::CircuitBreaker::new(breaker::CircuitBreakerConfig::standard()));
    group.bench_function("breaker", |b| {
        b.to_async(&rt)
            .iter(|| PEER_BREAKER.call(|| plain(black_box(7))))
    });
    static RECLOSER: LazyLock<recloser::AsyncRecloser> =
        LazyLock::new(|| recloser::AsyncRecloser::from(recloser::Recloser::default()));
    group.bench_function("recloser", |b| {
        b.to_async(&rt).iter(|| RECLOSER.call(plain(black_box(7))))
    });
    group.finish();

    let mut group = c.benchmark_group("awaited/bulkhead");
    group.bench_function("direct", |b| b.to_async(&rt).iter(|| plain(black_box(7))));
    group.bench_function("resilience #[bulkhead]", |b| {
        b.to_async(&rt).iter(|| with_bulkhead(black_box(7)))
    });
    static SEMAPHORE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1024);
    group.bench_function("tokio Semaphore acquire + call", |b| {
        b.to_async(&rt).iter(|| async {
            let _permit = SEMAPHORE.acquire().await.expect("never closed");
            plain(black_box(7)).await
        })
    });
    group.finish();

    let mut group = c.benchmark_group("awaited/rate_limiter");
    group.bench_function("direct", |b| b.to_async(&rt).iter(|| plain(black_box(7))));
    group.bench_function("resilience #[rate_limiter]", |b| {
        b.to_async(&rt).iter(|| with_rate_limiter(black_box(7)))
    });
    static GOVERNOR: LazyLock<governor::DefaultDirectRateLimiter> = LazyLock::new(|| {
        governor::RateLimiter::direct(governor::Quota::per_second(
            std::num::NonZeroU32::new(1_000_000_000).expect("non-zero"),
        ))
    });
    group.bench_function("governor check + call", |b| {
        b.to_async(&rt).iter(|| async {
            match GOVERNOR.check() {
                Ok(()) => plain(black_box(7)).await,
                Err(_) => Err(UserError::Rejected(Rejection::rate_limited(
                    "governor",
                    Duration::ZERO,
                ))),
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("awaited/retry_timeout_bulkhead");
    group.bench_function("direct", |b| b.to_async(&rt).iter(|| plain(black_box(7))));
    group.bench_function("resilience #[retry] #[timeout] #[bulkhead]", |b| {
        b.to_async(&rt).iter(|| three_layers(black_box(7)))
    });
    group.bench_function("tower retry + timeout + concurrency limit", |b| {
        let svc = tower::ServiceBuilder::new()
            .layer(tower::retry::RetryLayer::new(ExpAttempts::default()))
            .timeout(Duration::from_secs(1))
            .concurrency_limit(1024)
            .service_fn(plain);
        b.to_async(&rt).iter(|| {
            let mut svc = svc.clone();
            async move { svc.ready().await?.call(black_box(7)).await }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
