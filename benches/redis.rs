//! The fleet rate limiter on loopback Redis: per-call cost with leases vs
//! one round trip per call, side by side with the in-process limiter, and
//! Redis round trips per 1,000 admitted calls.
//!
//! Starts a `redis-server` of its own on a free port (see
//! `resilience-runtime/src/redis/test_server.rs`).
//!
//! `cargo bench --bench redis --features redis`
//!
//! Each lease row times a limiter that has already made
//! [`WARM_CALLS`] calls, as a service's limiter made once at start-up
//! has: its leases have grown to their largest and the prefetch runs.
//! The ramp-up from one cell is in the round-trips table printed last.
//!
//! Instructions per call (callgrind, repeatable on a loaded machine): with
//! `FLEET_INSTRUCTIONS="<in-process|fleet> <calls>"` the binary makes that
//! many calls after the same warm-up and exits, so that
//! `(I(2N) - I(N)) / N` is one call's cost:
//!
//! ```text
//! bin=$(ls -t target/release/deps/redis-* | grep -v '\.d$' | head -1)
//! FLEET_INSTRUCTIONS="fleet 100000" valgrind --tool=callgrind \
//!     --callgrind-out-file=/dev/null $bin 2>&1 | grep Collected
//! ```

#[path = "../resilience-runtime/src/redis/test_server.rs"]
mod test_server;

use std::future::Future;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// Calls a lease row's limiter makes before it is timed: enough for its
/// leases to grow from one cell to 4,096 (13 doublings) and prefetch.
const WARM_CALLS: u64 = 20_000;

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

/// Calls, calls that waited for Redis and round trips over every sample
/// of one row, printed after the group: a call that waits (its lease and
/// the prefetched one both spent) is what makes the lease rows slow.
#[derive(Default)]
struct Waits {
    calls: AtomicU64,
    waited: AtomicU64,
    round_trips: AtomicU64,
    prefetches: AtomicU64,
}

impl Waits {
    /// Times `calls` calls of a warm `limiter`, adding up its counters.
    fn run(
        &self,
        rt: &tokio::runtime::Runtime,
        calls: u64,
        limiter: &FleetRateLimiter,
    ) -> Duration {
        let before = limiter.snapshot();
        let took = run(rt, calls, |x| limiter.call(direct(x)));
        let after = limiter.snapshot();
        self.calls.fetch_add(calls, Ordering::Relaxed);
        let count =
            |counter: &AtomicU64, a: u64, b: u64| counter.fetch_add(a - b, Ordering::Relaxed);
        count(&self.waited, after.waited, before.waited);
        count(&self.round_trips, after.round_trips, before.round_trips);
        count(&self.prefetches, after.prefetches, before.prefetches);
        took
    }

    fn print(&self, row: &str) {
        let calls = self.calls.load(Ordering::Relaxed);
        println!(
            "{row}: {} of {calls} calls waited for Redis; {} round trips, {} prefetched",
            self.waited.load(Ordering::Relaxed),
            self.round_trips.load(Ordering::Relaxed),
            self.prefetches.load(Ordering::Relaxed),
        );
    }
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
    let sample = AtomicU64::new(0);
    let fleet = |name: &str| {
        let _guard = rt.enter();
        let n = sample.fetch_add(1, Ordering::Relaxed);
        FleetRateLimiter::new(&store, format!("{name}-{n}"), RATE, Duration::from_secs(1))
    };
    // A limiter in its steady state: `WARM_CALLS` made, their counters
    // left out of the row's.
    let warm = |limiter: FleetRateLimiter| {
        run(&rt, WARM_CALLS, |x| limiter.call(direct(x)));
        limiter
    };

    if let Ok(case) = std::env::var("FLEET_INSTRUCTIONS") {
        let (case, calls) = case
            .split_once(' ')
            .expect("FLEET_INSTRUCTIONS=\"<case> <calls>\"");
        let calls: u64 = calls.parse().expect("a number of calls");
        match case {
            "in-process" => {
                run(&rt, WARM_CALLS, |x| IN_PROCESS.call(direct(x)));
                run(&rt, calls, |x| IN_PROCESS.call(direct(x)));
            }
            "fleet" => {
                let limiter = warm(fleet("instructions"));
                let before = limiter.snapshot();
                run(&rt, calls, |x| limiter.call(direct(x)));
                let after = limiter.snapshot();
                eprintln!(
                    "{calls} calls: {} round trips, {} prefetched, {} calls waited",
                    after.round_trips - before.round_trips,
                    after.prefetches - before.prefetches,
                    after.waited - before.waited,
                );
            }
            other => panic!("no case {other}: in-process or fleet"),
        }
        std::process::exit(0);
    }

    let (default_waits, small_waits) = (Waits::default(), Waits::default());
    let mut group = c.benchmark_group("fleet rate_limiter");
    group.bench_function("in-process RateLimiter::call", |b| {
        b.iter_custom(|n| run(&rt, n, |x| IN_PROCESS.call(direct(x))))
    });
    group.bench_function(
        "FleetRateLimiter::call, leases (max_lease 4096, the default)",
        |b| {
            b.iter_custom(|n| {
                let leased = warm(fleet("leases"));
                default_waits.run(&rt, n, &leased)
            })
        },
    );
    group.bench_function("FleetRateLimiter::call, leases (max_lease 256)", |b| {
        b.iter_custom(|n| {
            let leased = warm(fleet("leases-256").max_lease(256));
            small_waits.run(&rt, n, &leased)
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
    default_waits.print("leases (max_lease 4096, the default)");
    small_waits.print("leases (max_lease 256)");

    // Round trips per 1,000 admitted calls, on fresh limiters.
    for max_lease in [1, 16, 64, 256, 1024, 4096] {
        let limiter = fleet("trips").max_lease(max_lease);
        let calls = 10_000u64;
        let start = Instant::now();
        run(&rt, calls, |x| limiter.call(direct(x)));
        let per_call = start.elapsed() / calls as u32;
        let s = limiter.snapshot();
        println!(
            "max_lease {max_lease:>4}: {:.1} round trips per 1,000 admitted calls ({} of {} prefetched), {} calls waited, {per_call:?} a call",
            s.round_trips as f64 * 1_000.0 / calls as f64,
            s.prefetches,
            s.round_trips,
            s.waited,
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
