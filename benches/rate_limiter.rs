//! Rate limiter admission on the path that admits, side by side with the
//! direct call (the floor) and `governor`.
//!
//! Both limiters are set to 10⁹ calls per second with a burst of 10⁹, so
//! neither ever refuses during the run (checked after each sample).
//!
//! `cargo bench --bench rate_limiter`

use std::future::Future;
use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use governor::Quota;
use resilience::{RateLimiter, Rejection, rate_limiter};

const RATE: u32 = 1_000_000_000;

#[inline(never)]
async fn direct(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

#[rate_limiter(rate = 1_000_000_000, per = "1s")]
#[inline(never)]
async fn via_macro(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

static LIMITER: RateLimiter = RateLimiter::new("bench", RATE, Duration::from_secs(1));

/// governor on tokio's clock, as it would have to run to follow
/// `tokio::time::pause()`: the same algorithm on the same clock as ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct TokioInstant(tokio::time::Instant);

impl std::ops::Add<governor::nanos::Nanos> for TokioInstant {
    type Output = Self;
    fn add(self, other: governor::nanos::Nanos) -> Self {
        TokioInstant(self.0 + Duration::from(other))
    }
}

impl governor::clock::Reference for TokioInstant {
    fn duration_since(&self, earlier: Self) -> governor::nanos::Nanos {
        self.0.saturating_duration_since(earlier.0).into()
    }
    fn saturating_sub(&self, duration: governor::nanos::Nanos) -> Self {
        TokioInstant(self.0.checked_sub(duration.into()).unwrap_or(self.0))
    }
}

#[derive(Debug, Clone, Default)]
struct TokioClock;

impl governor::clock::Clock for TokioClock {
    type Instant = TokioInstant;
    fn now(&self) -> TokioInstant {
        TokioInstant(tokio::time::Instant::now())
    }
}

/// Times `iters` sequential awaits of `call`, counting refusals.
fn run<F, Fut, T, E>(rt: &tokio::runtime::Runtime, iters: u64, mut call: F) -> Duration
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let (elapsed, refused) = rt.block_on(async {
        let mut refused = 0u64;
        let start = Instant::now();
        for i in 0..iters {
            // The value, as a caller's `?` takes it (see `benches/notes.md`).
            refused += u64::from(black_box(call(black_box(i)).await.ok()).is_none());
        }
        (start.elapsed(), refused)
    });
    assert_eq!(
        refused, 0,
        "the limiter refused calls: the bench measured the wrong path"
    );
    elapsed
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let governor = governor::RateLimiter::direct(Quota::per_second(NonZeroU32::new(RATE).unwrap()));

    let mut group = c.benchmark_group("rate_limiter");
    group.bench_function("direct call (floor)", |b| {
        b.iter_custom(|n| run(&rt, n, direct))
    });
    group.bench_function("resilience #[rate_limiter]", |b| {
        b.iter_custom(|n| run(&rt, n, via_macro))
    });
    group.bench_function("resilience RateLimiter::call", |b| {
        b.iter_custom(|n| run(&rt, n, |x| LIMITER.call(direct(x))))
    });
    group.bench_function("governor check + call", |b| {
        b.iter_custom(|n| {
            run(&rt, n, |x| {
                let admitted = governor.check();
                async move {
                    admitted.map_err(|_| ())?;
                    direct(x).await.map_err(|_| ())
                }
            })
        })
    });
    group.finish();

    // The admission decision alone, inside a runtime (tokio's clock).
    let mut group = c.benchmark_group("admission check");
    let _guard = rt.enter();
    group.bench_function("resilience RateLimiter::check", |b| {
        b.iter(|| black_box(LIMITER.check()).unwrap())
    });
    group.bench_function("governor RateLimiter::check", |b| {
        b.iter(|| black_box(governor.check()).unwrap())
    });
    let on_tokio_clock = governor::RateLimiter::direct_with_clock(
        Quota::per_second(NonZeroU32::new(RATE).unwrap()),
        TokioClock,
    );
    group.bench_function("governor RateLimiter::check on tokio's clock", |b| {
        b.iter(|| black_box(on_tokio_clock.check()).unwrap())
    });
    // What reading each clock costs: our limiter reads tokio's (so that
    // `tokio::time::pause()` drives it), governor reads quanta's TSC clock.
    // Benches share the dev-dependencies, which turn on tokio's
    // `test-util`, under which tokio's clock is behind a mutex.
    group.bench_function("clock: tokio::time::Instant::now", |b| {
        b.iter(|| black_box(tokio::time::Instant::now()))
    });
    group.bench_function("clock: std::time::Instant::now", |b| {
        b.iter(|| black_box(std::time::Instant::now()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
