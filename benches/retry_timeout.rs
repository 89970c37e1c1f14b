//! Overhead of `#[retry]` and `#[timeout]` on a call that succeeds at once,
//! against the direct call and `tokio::time::timeout`, in the same run.
//!
//! `cargo bench --bench retry_timeout`

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use resilience::{Rejection, retry, timeout};

/// Polls a future that is ready at once (every call here is).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
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

fn first_try_success(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let _context = runtime.enter();
    let mut group = c.benchmark_group("first_try_success");
    group.bench_function("direct call", |b| b.iter(|| ready(direct(black_box(7)))));
    group.bench_function("#[retry]", |b| b.iter(|| ready(with_retry(black_box(7)))));
    group.bench_function("#[timeout]", |b| b.iter(|| ready(with_timeout(black_box(7)))));
    group.bench_function("#[retry] #[timeout]", |b| b.iter(|| ready(with_both(black_box(7)))));
    group.bench_function("tokio::time::timeout", |b| {
        b.iter(|| ready(tokio::time::timeout(Duration::from_secs(1), direct(black_box(7)))))
    });
    group.finish();
}

criterion_group!(benches, first_try_success);
criterion_main!(benches);

