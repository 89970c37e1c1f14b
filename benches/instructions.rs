//! Hot paths as repeatable instruction counts, for a shared, noisy machine
//! where wall-clock numbers drift: `scripts/instructions.sh` runs this
//! binary under `valgrind --tool=callgrind` with `N` and `2N` calls of one
//! case and reports `(I(2N) - I(N)) / N`, the instructions one call costs
//! (start-up and the first call's lazy initialisation cancel out).
//!
//! `cargo bench --bench instructions -- <case> <calls>`; with no arguments
//! it lists the cases. Each call is polled once with a no-op waker, as in
//! the criterion groups (every case completes on its first poll).

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use resilience::breaker::WindowSize;
mod common;
use common::awaited;
use resilience::{
    AdaptiveConcurrency, BreakerPolicy, Bulkhead, CircuitBreaker, LimitAlgorithm, RateLimiter,
    Rejection, Retry, RetryPolicy, Timeout, adaptive_concurrency, bulkhead, circuit_breaker,
    rate_limiter, retry, timeout,
};

#[inline(never)]
async fn direct(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

#[circuit_breaker(failure_threshold = 5, open_for = "60s")]
#[inline(never)]
async fn breaker_macro(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

#[circuit_breaker(failure_rate = 0.5, window = 100)]
#[inline(never)]
async fn breaker_rate_macro(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

#[circuit_breaker(failure_rate = 0.5, window = "10s")]
#[inline(never)]
async fn breaker_time_window_macro(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

#[retry(max_attempts = 3, backoff = "exp", base = "100ms")]
#[inline(never)]
async fn retry_macro(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

#[timeout("1s")]
#[inline(never)]
async fn timeout_macro(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

#[bulkhead(max_concurrent = 1024)]
#[inline(never)]
async fn bulkhead_macro(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

#[rate_limiter(rate = 1_000_000_000, per = "1s")]
#[inline(never)]
async fn rate_limiter_macro(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

#[retry(max_attempts = 3, backoff = "exp", base = "100ms")]
#[timeout("1s")]
#[bulkhead(max_concurrent = 1024)]
#[inline(never)]
async fn three_layers(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

// With and without a deadline in force (issue 20): `retry_macro` has
// none; here the timeout above sets one for the retry under it.
#[timeout("1s")]
#[retry(max_attempts = 3, backoff = "exp", base = "100ms")]
#[inline(never)]
async fn timeout_retry(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}

/// The time left, as a body reads it.
#[inline(never)]
async fn remaining(x: u64) -> Result<u64, Rejection> {
    let left = resilience::deadline::remaining().map_or(0, |d| d.as_nanos() as u64);
    Ok(black_box(x ^ left))
}

static BREAKER: CircuitBreaker =
    CircuitBreaker::new("instructions", BreakerPolicy::new().failure_threshold(5));
static RATE_BREAKER: CircuitBreaker = CircuitBreaker::new(
    "instructions-rate",
    BreakerPolicy::new().failure_rate(0.5, WindowSize::Calls(100)),
);
static RETRY: Retry = Retry::new(
    "instructions",
    RetryPolicy::new()
        .max_attempts(3)
        .base(Duration::from_millis(100)),
);
static TIMEOUT: Timeout = Timeout::new("instructions", Duration::from_secs(1));
static BULKHEAD: Bulkhead = Bulkhead::new("instructions", 1024);
static ADAPTIVE: AdaptiveConcurrency =
    AdaptiveConcurrency::new("instructions", LimitAlgorithm::Gradient2).initial(64);

#[adaptive_concurrency(max = 1000)]
#[inline(never)]
async fn adaptive_concurrency_macro(x: u64) -> Result<u64, Rejection> {
    Ok(black_box(x))
}
static LIMITER: RateLimiter =
    RateLimiter::new("instructions", 1_000_000_000, Duration::from_secs(1));

/// Polls `fut` once and takes the value out, as a caller's `?` would.
#[inline(always)]
fn now<T, E, F: Future<Output = Result<T, E>>>(fut: F) -> Option<T> {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out.ok(),
        Poll::Pending => unreachable!("every case completes on its first poll"),
    }
}

type Case = (&'static str, fn(u64) -> Option<u64>);

const CASES: &[Case] = &[
    ("direct", |x| now(direct(x))),
    ("circuit_breaker_macro", |x| now(breaker_macro(x))),
    ("circuit_breaker_runtime", |x| now(BREAKER.call(direct(x)))),
    ("circuit_breaker_rate_window_macro", |x| {
        now(breaker_rate_macro(x))
    }),
    ("circuit_breaker_rate_window_runtime", |x| {
        now(RATE_BREAKER.call(direct(x)))
    }),
    ("circuit_breaker_time_window_macro", |x| {
        now(breaker_time_window_macro(x))
    }),
    ("retry_macro", |x| now(retry_macro(x))),
    ("retry_runtime", |x| now(RETRY.call(|| direct(x)))),
    ("timeout_macro", |x| now(timeout_macro(x))),
    ("timeout_runtime", |x| now(TIMEOUT.call(direct(x)))),
    ("bulkhead_macro", |x| now(bulkhead_macro(x))),
    ("bulkhead_runtime", |x| now(BULKHEAD.call(direct(x)))),
    ("adaptive_concurrency_macro", |x| {
        now(adaptive_concurrency_macro(x))
    }),
    ("adaptive_concurrency_runtime", |x| {
        now(ADAPTIVE.call(0, direct(x)))
    }),
    ("rate_limiter_macro", |x| now(rate_limiter_macro(x))),
    ("rate_limiter_runtime", |x| now(LIMITER.call(direct(x)))),
    ("retry_timeout_bulkhead_macro", |x| now(three_layers(x))),
    ("timeout_retry_macro", |x| now(timeout_retry(x))),
    ("deadline_remaining_without_timeout", |x| now(remaining(x))),
    ("deadline_remaining_under_timeout", |x| {
        now(TIMEOUT.call(remaining(x)))
    }),
];

/// The awaited harness (issue 23, `benches/common/awaited.rs`): `calls`
/// calls awaited in a loop inside one current-thread runtime, each
/// returning the user's error enum. The runtime's start-up is the same for
/// N and 2N calls, so it cancels out of the per-call count.
type AwaitedCase = (&'static str, fn(u64) -> u64);

const AWAITED_CASES: &[AwaitedCase] = &[
    ("awaited_direct", |n| awaited(n, awaited::plain)),
    ("awaited_retry_macro", |n| awaited(n, awaited::with_retry)),
    ("awaited_timeout_macro", |n| {
        awaited(n, awaited::with_timeout)
    }),
    ("awaited_timeout_runtime", |n| {
        awaited(n, |x| TIMEOUT.call(awaited::plain(x)))
    }),
    ("awaited_circuit_breaker_macro", |n| {
        awaited(n, awaited::with_breaker)
    }),
    ("awaited_circuit_breaker_runtime", |n| {
        awaited(n, |x| BREAKER.call(awaited::plain(x)))
    }),
    ("awaited_circuit_breaker_rate_window_macro", |n| {
        awaited(n, awaited::with_rate_breaker)
    }),
    ("awaited_bulkhead_macro", |n| {
        awaited(n, awaited::with_bulkhead)
    }),
    ("awaited_rate_limiter_macro", |n| {
        awaited(n, awaited::with_rate_limiter)
    }),
    ("awaited_retry_timeout_bulkhead_macro", |n| {
        awaited(n, awaited::three_layers)
    }),
    ("awaited_clock_tokio", |n| {
        awaited(n, |x| async move {
            black_box(tokio::time::Instant::now());
            awaited::plain(x).await
        })
    }),
    ("awaited_clock_std", |n| {
        awaited(n, |x| async move {
            black_box(std::time::Instant::now());
            awaited::plain(x).await
        })
    }),
    ("awaited_breaker_crate", |n| {
        static PEER: std::sync::LazyLock<breaker::CircuitBreaker> =
            std::sync::LazyLock::new(|| {
                breaker::CircuitBreaker::new(breaker::CircuitBreakerConfig::standard())
            });
        awaited(n, |x| PEER.call(move || awaited::plain(x)))
    }),
    ("awaited_tokio_retry", |n| {
        awaited(n, |x| {
            let backoff = tokio_retry::strategy::ExponentialBackoff::from_millis(100).take(2);
            tokio_retry::Retry::start(backoff, move || awaited::plain(x))
        })
    }),
];

fn awaited<F, Fut, E>(calls: u64, call: F) -> u64
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Result<u64, E>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut sum = 0u64;
        for i in 0..calls {
            sum = sum.wrapping_add(call(black_box(i)).await.unwrap_or(0));
        }
        sum
    })
}

/// `instructions sizes`: the awaited cases' future sizes, deterministic
/// like the instruction counts.
fn print_future_sizes() {
    let sizes = [
        ("plain", size_of_val(&awaited::plain(1))),
        ("#[retry]", size_of_val(&awaited::with_retry(1))),
        ("#[timeout]", size_of_val(&awaited::with_timeout(1))),
        ("#[circuit_breaker]", size_of_val(&awaited::with_breaker(1))),
        (
            "#[circuit_breaker] rate window",
            size_of_val(&awaited::with_rate_breaker(1)),
        ),
        ("#[bulkhead]", size_of_val(&awaited::with_bulkhead(1))),
        (
            "#[rate_limiter]",
            size_of_val(&awaited::with_rate_limiter(1)),
        ),
        (
            "#[retry] #[timeout] #[bulkhead]",
            size_of_val(&awaited::three_layers(1)),
        ),
        (
            "Timeout::call",
            size_of_val(&TIMEOUT.call(awaited::plain(1))),
        ),
        (
            "CircuitBreaker::call",
            size_of_val(&BREAKER.call(awaited::plain(1))),
        ),
    ];
    for (name, bytes) in sizes {
        println!("future size: {name:<34} {bytes:>4} bytes");
    }
}

/// One counter bump as a layer makes it, for `time`: a `Relaxed`
/// `fetch_add` (a locked `xadd` on x86) against a plain load and store of
/// the same atomic (what a counter written by one thread needs).
static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[inline(never)]
fn counter_fetch_add(x: u64) -> Option<u64> {
    COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Some(black_box(x))
}

#[inline(never)]
fn counter_load_store(x: u64) -> Option<u64> {
    let c = COUNTER.load(std::sync::atomic::Ordering::Relaxed);
    COUNTER.store(c + 1, std::sync::atomic::Ordering::Relaxed);
    Some(black_box(x))
}

#[inline(never)]
fn counter_none(x: u64) -> Option<u64> {
    Some(black_box(x))
}

/// The rate limiter's clock reading (`scripts/cycles.sh clock_…`): tokio's
/// clock, which is what the limiter reads, against `std`'s, which is what
/// tokio's reads in a build without tokio's `test-util` feature. Benches
/// and tests build with it (a dev-dependency), so inside a runtime every
/// reading also takes the test clock's mutex to see whether it is paused;
/// a user's release build has no test clock and reads `std`'s.
#[inline(never)]
fn clock_std(x: u64) -> Option<u64> {
    black_box(std::time::Instant::now());
    Some(black_box(x))
}

#[inline(never)]
fn clock_tokio(x: u64) -> Option<u64> {
    black_box(tokio::time::Instant::now());
    Some(black_box(x))
}

const TIMED_ONLY: &[Case] = &[
    ("clock_std", clock_std),
    ("clock_tokio_outside_runtime", clock_tokio),
    ("counter_none", counter_none),
    ("counter_fetch_add", counter_fetch_add),
    ("counter_load_store", counter_load_store),
];

/// `instructions time <case> <calls>`: wall-clock nanoseconds per call,
/// the fastest of `REPS` (default 200) runs of `calls` calls
/// (`scripts/cycles.sh`). On a shared machine the fastest run is the one
/// nobody interrupted, so keep runs short (a few milliseconds); compare
/// cases of one invocation, not across invocations.
fn time(case: &str, calls: u64) {
    let run: Box<dyn Fn()> = if let Some((_, run)) = AWAITED_CASES.iter().find(|(n, _)| *n == case)
    {
        Box::new(move || {
            black_box(run(calls));
        })
    } else if let Some((_, run)) = CASES.iter().chain(TIMED_ONLY).find(|(n, _)| *n == case) {
        Box::new(move || {
            let mut sum = 0u64;
            for i in 0..calls {
                sum = sum.wrapping_add(run(black_box(i)).unwrap_or(0));
            }
            black_box(sum);
        })
    } else {
        panic!("no case {case}");
    };
    run();
    let reps: u32 = std::env::var("REPS").map_or(200, |r| r.parse().expect("REPS"));
    let best = (0..reps)
        .map(|_| {
            let start = std::time::Instant::now();
            run();
            start.elapsed()
        })
        .min()
        .expect("runs");
    println!("{case:<40} {:.2}", best.as_nanos() as f64 / calls as f64);
}

fn main() {
    // `cargo bench` passes flags (`--bench`, criterion's `--warm-up-time 1`
    // when every bench runs): anything but `<case> <calls>` lists the cases.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if args[..] == ["sizes"] {
        print_future_sizes();
        return;
    }
    if let ["time", case, calls] = args[..] {
        time(case, calls.parse().expect("calls"));
        return;
    }
    let found = match args[..] {
        [case, calls] => CASES
            .iter()
            .find(|(name, _)| *name == case)
            .zip(calls.parse::<u64>().ok()),
        _ => None,
    };
    if let [case, calls] = args[..]
        && let Some((_, run)) = AWAITED_CASES.iter().find(|(name, _)| *name == case)
        && let Ok(calls) = calls.parse::<u64>()
    {
        black_box(run(calls));
        return;
    }
    let Some(((_, run), calls)) = found else {
        let names = CASES.iter().map(|(name, _)| name);
        for name in names.chain(AWAITED_CASES.iter().map(|(name, _)| name)) {
            println!("{name}");
        }
        return;
    };
    let mut sum = 0u64;
    for i in 0..calls {
        sum = sum.wrapping_add(run(black_box(i)).unwrap_or(0));
    }
    black_box(sum);
}
