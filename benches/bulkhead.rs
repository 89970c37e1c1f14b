//! Bulkhead acquire + release on the uncontended path, side by side with
//! the direct call (the floor), tokio's `Semaphore`, tower's
//! `ConcurrencyLimit` and tower-resilience's `Bulkhead`.
//!
//! `cargo bench --bench bulkhead`

use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use resilience::{Bulkhead, Rejection, bulkhead};
use tower::{Service, ServiceExt};

const PERMITS: usize = 1024;

#[inline(never)]
async fn direct(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

#[bulkhead(max_concurrent = 1024)]
#[inline(never)]
async fn via_macro(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

static BULKHEAD: Bulkhead = Bulkhead::new("bench", PERMITS);
static SEMAPHORE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(PERMITS);

/// Times `iters` sequential awaits of `call` on one current-thread runtime,
/// taking each value out as a caller's `?` would (not black-boxing the
/// whole `Result`: see `benches/notes.md`).
fn run<F, Fut, T, E>(rt: &tokio::runtime::Runtime, iters: u64, mut call: F) -> Duration
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    rt.block_on(async {
        let start = Instant::now();
        for i in 0..iters {
            black_box(call(black_box(i)).await.ok());
        }
        start.elapsed()
    })
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();

    let mut group = c.benchmark_group("bulkhead");
    group.bench_function("direct call (floor)", |b| {
        b.iter_custom(|n| run(&rt, n, direct))
    });
    group.bench_function("resilience #[bulkhead]", |b| {
        b.iter_custom(|n| run(&rt, n, via_macro))
    });
    group.bench_function("resilience Bulkhead::call", |b| {
        b.iter_custom(|n| run(&rt, n, |x| BULKHEAD.call(direct(x))))
    });
    group.bench_function("tokio Semaphore::acquire + call", |b| {
        b.iter_custom(|n| {
            run(&rt, n, |x| async move {
                let _permit = SEMAPHORE.acquire().await.unwrap();
                direct(x).await
            })
        })
    });
    group.bench_function("tower ConcurrencyLimit ready + call", |b| {
        b.iter_custom(|n| {
            rt.block_on(async {
                let mut svc =
                    tower::limit::ConcurrencyLimit::new(tower::service_fn(direct), PERMITS);
                let start = Instant::now();
                for i in 0..n {
                    let ready = svc.ready().await.unwrap();
                    black_box(ready.call(black_box(i)).await.unwrap());
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("tower-resilience Bulkhead ready + call", |b| {
        b.iter_custom(|n| {
            rt.block_on(async {
                let layer = tower_resilience::bulkhead::BulkheadLayer::builder()
                    .max_concurrent_calls(PERMITS)
                    .build()
                    .expect("bulkhead config");
                let mut svc = tower::ServiceBuilder::new().layer(layer).service_fn(direct);
                let start = Instant::now();
                for i in 0..n {
                    let ready = svc.ready().await.expect("ready");
                    black_box(ready.call(black_box(i)).await.ok());
                }
                start.elapsed()
            })
        })
    });
    group.finish();

    // The permit alone, without a future around it.
    let mut group = c.benchmark_group("permit try_acquire + drop");
    group.bench_function("resilience Bulkhead::try_acquire", |b| {
        b.iter(|| drop(black_box(BULKHEAD.try_acquire())))
    });
    group.bench_function("tokio Semaphore::try_acquire", |b| {
        b.iter(|| drop(black_box(SEMAPHORE.try_acquire())))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
