//! The fleet rate limiter on loopback Redis: per-call cost with leases vs
//! one round trip per call, side by side with the in-process limiter, and
//! Redis round trips per 1,000 admitted calls.
//!
//! Starts a `redis-server` of its own on a free port (see
//! `resilience-runtime/src/redis/test_server.rs`).
//!
//! `cargo bench --bench redis --features redis`

#[path = "../resilience-runtime/src/redis/test_server.rs"]
mod test_server;

use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use resilience::redis::{FleetRateLimiter, RedisStore};
use resilience::{RateLimiter, Rejection};

/// The most a fleet limiter admits: one call per microsecond.
const RATE: u32 = 1_000_000;

#[inline(never)]
async fn direct(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

/// At its own largest useful rate, as in `benches/rate_limiter.rs`: the
/// in-process limiter admits far more than a million calls a second.
static IN_PROCESS: RateLimiter = RateLimiter::new("bench", 1_000_000_000, Duration::from_secs(1));

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
    let server = test_server::RedisServer::start().expect("the bench needs redis-server");
    // A service's runtime: the calls run on the bench's thread
    // (`block_on`), the connection's driver and the lease prefetch on a
    // worker, as they would on any multi-threaded runtime.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let store = rt.block_on(async {
        RedisStore::open(&server.url())
            .unwrap()
            .store_timeout(Duration::from_secs(1))
            .key_prefix("bench")
    });
    // A fresh key (a fresh burst of a million cells) for each sample, so
    // that no sample is refused: a sample is far fewer calls than that.
    let sample = std::sync::atomic::AtomicU64::new(0);
    let fleet = |name: &str| {
        let _guard = rt.enter();
        let n = sample.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        FleetRateLimiter::new(&store, format!("{name}-{n}"), RATE, Duration::from_secs(1))
    };

    let mut group = c.benchmark_group("fleet rate_limiter");
    group.bench_function("in-process RateLimiter::call", |b| {
        b.iter_custom(|n| run(&rt, n, |x| IN_PROCESS.call(direct(x))))
    });
    group.bench_function(
        "FleetRateLimiter::call, leases (max_lease 4096, the default)",
        |b| {
            b.iter_custom(|n| {
                let leased = fleet("leases");
                run(&rt, n, |x| leased.call(direct(x)))
            })
        },
    );
    group.bench_function("FleetRateLimiter::call, leases (max_lease 256)", |b| {
        b.iter_custom(|n| {
            let leased = fleet("leases-256").max_lease(256);
            run(&rt, n, |x| leased.call(direct(x)))
        })
    });
    group.bench_function(
        "FleetRateLimiter::call, one round trip a call (max_lease 1)",
        |b| {
            b.iter_custom(|n| {
                let round_trip = fleet("round-trip").max_lease(1);
                run(&rt, n, |x| round_trip.call(direct(x)))
            })
        },
    );
    group.finish();

    // Round trips per 1,000 admitted calls, on fresh limiters.
    for max_lease in [1, 16, 64, 256, 1024, 4096] {
        let limiter = fleet("trips").max_lease(max_lease);
        let calls = 10_000u64;
        let start = Instant::now();
        run(&rt, calls, |x| limiter.call(direct(x)));
        let per_call = start.elapsed() / calls as u32;
        let s = limiter.snapshot();
        println!(
            "max_lease {max_lease:>4}: {:.1} round trips per 1,000 admitted calls ({} of {} prefetched), {per_call:?} a call",
            s.round_trips as f64 * 1_000.0 / calls as f64,
            s.prefetches,
            s.round_trips,
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
