//! A closed circuit breaker on the success path, side by side with the
//! direct call (the floor) and the breakers a user would pick instead:
//! `breaker`, `recloser`, `failsafe` and tower-resilience's
//! `CircuitBreaker`, all in one run.
//!
//! Every call completes on its first poll, so each iteration polls once
//! with a no-op waker: what is measured is the breaker's own overhead, not
//! an executor's.
//!
//! `cargo bench --bench circuit_breaker`

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use criterion::{Criterion, criterion_group, criterion_main};
use failsafe::futures::CircuitBreaker as _;
use resilience::breaker::WindowSize;
use resilience::{BreakerPolicy, CircuitBreaker, Rejection, circuit_breaker};
mod common;
use common::{ready_call, tower_resilience_breaker};

#[inline(never)]
async fn direct(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

#[circuit_breaker(failure_threshold = 5, open_for = "60s")]
#[inline(never)]
async fn via_macro(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

#[circuit_breaker(failure_rate = 0.5, window = 100)]
#[inline(never)]
async fn via_macro_rate(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

static BREAKER: CircuitBreaker =
    CircuitBreaker::new("bench", BreakerPolicy::new().failure_threshold(5));
static RATE_BREAKER: CircuitBreaker = CircuitBreaker::new(
    "bench-rate",
    BreakerPolicy::new().failure_rate(0.5, WindowSize::Calls(100)),
);

/// Polls `fut` once (every call here is ready at once) and takes the
/// value out, as a caller's `?` would.
///
/// Not the whole `Result`: black-boxing a 48-byte `Result<u64, Rejection>`
/// copies it through memory in 16-byte chunks, and when the future's poll
/// is not inlined (ours or a peer's; the compiler decides by size) those
/// loads wait on the narrower stores that wrote the result, a
/// store-forwarding stall of several nanoseconds that measures the
/// harness, not the layer.
#[inline(always)]
fn now<T, E, F: Future<Output = Result<T, E>>>(fut: F) -> Option<T> {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out.ok(),
        Poll::Pending => unreachable!("a closed-state call completes on its first poll"),
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("circuit_breaker/closed_success");

    group.bench_function("direct", |b| b.iter(|| now(direct(black_box(1)))));
    group.bench_function("resilience_macro", |b| {
        b.iter(|| now(via_macro(black_box(1))))
    });
    group.bench_function("resilience_runtime", |b| {
        b.iter(|| now(BREAKER.call(direct(black_box(1)))))
    });
    group.bench_function("resilience_macro_rate_window", |b| {
        b.iter(|| now(via_macro_rate(black_box(1))))
    });
    group.bench_function("resilience_runtime_rate_window", |b| {
        b.iter(|| now(RATE_BREAKER.call(direct(black_box(1)))))
    });

    let peer = breaker::CircuitBreaker::new(breaker::CircuitBreakerConfig::standard());
    group.bench_function("breaker", |b| {
        b.iter(|| now(peer.call(|| direct(black_box(1)))))
    });

    let peer = recloser::AsyncRecloser::from(recloser::Recloser::default());
    group.bench_function("recloser", |b| {
        b.iter(|| now(peer.call(direct(black_box(1)))))
    });

    let peer = failsafe::Config::new().build();
    group.bench_function("failsafe", |b| {
        b.iter(|| now(peer.call(direct(black_box(1)))))
    });

    let layer = tower_resilience_breaker();
    let mut svc = tower::ServiceBuilder::new().layer(layer).service_fn(direct);
    group.bench_function("tower-resilience CircuitBreaker ready + call", |b| {
        b.iter(|| now(ready_call(&mut svc, black_box(1))))
    });

    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
