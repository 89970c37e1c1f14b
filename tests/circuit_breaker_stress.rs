//! Many tasks on a multi-thread runtime hammer one breaker through every
//! state; the invariants must hold throughout. Real time (a multi-thread
//! runtime cannot pause it), but no sleeps: `open_for` is 20 µs and the
//! calls themselves take long enough.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::task::Poll;
use std::time::Duration;

use resilience::breaker::State;
use resilience::{BreakerPolicy, CircuitBreaker, Rejection, circuit_breaker};

const TASKS: u64 = 32;
const CALLS_PER_TASK: u64 = 2_000;
const MAX_TRIALS: u32 = 3;

static B: CircuitBreaker = CircuitBreaker::new(
    "stress",
    BreakerPolicy::new()
        .failure_threshold(3)
        .open_for(Duration::from_micros(20))
        .half_open_max_calls(MAX_TRIALS)
        .success_threshold(2),
);

static ADMITTED: AtomicU64 = AtomicU64::new(0);
static BODY_RAN: AtomicU64 = AtomicU64::new(0);
static REJECTED: AtomicU64 = AtomicU64::new(0);
static RESOLVED: AtomicU64 = AtomicU64::new(0);
static TRIALS_HELD: AtomicU32 = AtomicU32::new(0);
static TRIALS_SEEN: AtomicU64 = AtomicU64::new(0);

#[circuit_breaker(with = B)]
async fn call(fail: bool) -> Result<(), Rejection> {
    BODY_RAN.fetch_add(1, SeqCst);
    tokio::task::yield_now().await;
    if fail {
        Err(Rejection::injected("stress-service"))
    } else {
        Ok(())
    }
}

/// A small deterministic generator per task.
fn next(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *fut).poll(cx))).await
}

async fn caller(task: u64) {
    let mut seed = task + 1;
    for _ in 0..CALLS_PER_TASK {
        let roll = next(&mut seed) % 100;
        let fail = roll < 20;
        match roll % 4 {
            // Through the macro; a few calls are cancelled mid-flight.
            0 | 1 => {
                let mut fut = Box::pin(call(fail));
                let result = if roll.is_multiple_of(10) {
                    match poll_once(&mut fut).await {
                        Poll::Ready(result) => Some(result),
                        Poll::Pending => None, // dropped below: cancelled
                    }
                } else {
                    Some(fut.await)
                };
                match result {
                    Some(Err(Rejection::CircuitOpen { .. })) => {
                        REJECTED.fetch_add(1, SeqCst);
                    }
                    _ => {
                        ADMITTED.fetch_add(1, SeqCst);
                    }
                }
            }
            // By hand with a permit, checking trial permits directly.
            _ => match B.try_acquire() {
                Ok(permit) => {
                    ADMITTED.fetch_add(1, SeqCst);
                    BODY_RAN.fetch_add(1, SeqCst);
                    let trial = permit.is_trial();
                    if trial {
                        TRIALS_HELD.fetch_add(1, SeqCst);
                        TRIALS_SEEN.fetch_add(1, SeqCst);
                    }
                    tokio::task::yield_now().await;
                    if trial {
                        TRIALS_HELD.fetch_sub(1, SeqCst);
                    }
                    match roll % 7 {
                        0 => drop(permit), // cancelled: neither verdict
                        _ if fail => permit.failure(),
                        _ => permit.success(),
                    }
                }
                Err(rejection) => {
                    assert!(
                        matches!(rejection, Rejection::CircuitOpen { .. }),
                        "{rejection:?}"
                    );
                    REJECTED.fetch_add(1, SeqCst);
                }
            },
        }
        RESOLVED.fetch_add(1, SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invariants_hold_under_many_concurrent_callers() {
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let monitor = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let (mut samples, mut states) = (0u64, std::collections::HashSet::new());
            while !stop.load(SeqCst) {
                let s = B.snapshot();
                assert!(
                    s.trials_in_flight <= MAX_TRIALS,
                    "{} trials at once",
                    s.trials_in_flight
                );
                if s.state != State::HalfOpen {
                    assert_eq!(s.trials_in_flight, 0);
                }
                states.insert(format!("{:?}", s.state));
                samples += 1;
                tokio::task::yield_now().await;
            }
            (samples, states)
        })
    };

    let callers: Vec<_> = (0..TASKS).map(|t| tokio::spawn(caller(t))).collect();
    for c in callers {
        c.await.expect("a caller panicked");
    }
    stop.store(true, SeqCst);
    let (samples, states) = monitor.await.expect("an invariant broke");

    let total = TASKS * CALLS_PER_TASK;
    assert_eq!(RESOLVED.load(SeqCst), total, "every call came back");
    assert_eq!(
        ADMITTED.load(SeqCst) + REJECTED.load(SeqCst),
        total,
        "admitted + rejected = calls"
    );
    assert_eq!(
        BODY_RAN.load(SeqCst),
        ADMITTED.load(SeqCst),
        "the body ran for every admitted call and for no rejected one"
    );
    assert_eq!(
        B.snapshot().rejections,
        REJECTED.load(SeqCst),
        "the breaker counted every rejection"
    );
    assert_eq!(TRIALS_HELD.load(SeqCst), 0);
    assert!(
        REJECTED.load(SeqCst) > 0 && ADMITTED.load(SeqCst) > 0,
        "the breaker went through its states"
    );
    assert!(TRIALS_SEEN.load(SeqCst) > 0, "half-open trials ran");
    assert!(samples > 0, "{states:?}");
    eprintln!(
        "admitted {}, rejected {}, trials seen {}, monitor samples {samples}, states seen {states:?}",
        ADMITTED.load(SeqCst),
        REJECTED.load(SeqCst),
        TRIALS_SEEN.load(SeqCst)
    );

    // Nothing is left holding a permit: with the callers gone, the breaker
    // must recover to closed on successes alone.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while B.state() != State::Closed {
        assert!(
            std::time::Instant::now() < deadline,
            "stuck in {:?}: {:?}",
            B.state(),
            B.snapshot()
        );
        if let Ok(permit) = B.try_acquire() {
            permit.success();
        }
        tokio::task::yield_now().await;
    }
}

/// A time window counts every call exactly once while threads race to
/// record into the same buckets (it used to halve them past 4,095 per
/// bucket, and may now never lose or double one).
#[test]
fn a_time_window_counts_every_concurrent_call_exactly_once() {
    const THREADS: u32 = 4;
    const CALLS: u32 = 50_000;
    let b = CircuitBreaker::new(
        "stress-window",
        BreakerPolicy::new()
            .failure_rate(
                1.0,
                resilience::breaker::WindowSize::Time(Duration::from_secs(3600)),
            )
            .min_calls(u32::MAX),
    );
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let b = &b;
            s.spawn(move || {
                for i in 0..CALLS {
                    let permit = b.try_acquire().expect("never trips");
                    if (i + t) % 3 == 0 {
                        permit.failure();
                    } else {
                        permit.success();
                    }
                }
            });
        }
    });
    let snapshot = b.snapshot();
    let failures = (0..THREADS)
        .map(|t| (0..CALLS).filter(|i| (i + t) % 3 == 0).count() as u32)
        .sum::<u32>();
    assert_eq!(
        (snapshot.calls_in_window, snapshot.failures_in_window),
        (THREADS * CALLS, failures)
    );
}
