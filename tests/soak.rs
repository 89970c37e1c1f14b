//! The chaos soak: 100,000 calls from many concurrent tasks through the
//! whole stack (fallback, circuit breaker, retry, timeout, bulkhead, rate
//! limiter) against a dependency that fails, stalls, hangs, panics and
//! then recovers, at random but reproducibly (every draw comes from the
//! call's own seed). Paused time: it runs in seconds.
//!
//! Asserted at the end: every call is accounted for exactly once; no
//! attempt beyond `max_attempts`; every bulkhead permit returned; no
//! half-open trial outstanding; the breaker closed once the dependency
//! recovered. The tally is printed (`cargo test --test soak -- --nocapture`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use resilience::breaker::State;
use resilience::{
    BreakerPolicy, Bulkhead, CircuitBreaker, RateLimiter, Rejection, bulkhead, circuit_breaker,
    fallback, rate_limiter, retry, timeout,
};

const TASKS: u64 = 200;
const CALLS_PER_TASK: u64 = 500;
const MAX_ATTEMPTS: u32 = 3;

static BREAKER: LazyLock<CircuitBreaker> = LazyLock::new(|| {
    CircuitBreaker::named(
        "soak-breaker",
        BreakerPolicy::new()
            .failure_threshold(40)
            .open_for(Duration::from_millis(500))
            .half_open_max_calls(2),
    )
});
static BULKHEAD: LazyLock<Bulkhead> =
    LazyLock::new(|| Bulkhead::named("soak-bulkhead", 120).max_wait(Duration::from_millis(20)));
static LIMITER: LazyLock<RateLimiter> = LazyLock::new(|| {
    RateLimiter::named("soak-limiter", 20_000, Duration::from_secs(1))
        .burst(400)
        .max_wait(Duration::from_millis(5))
});

/// While set, the dependency misbehaves at random; cleared, it is healthy.
static TROUBLE: AtomicBool = AtomicBool::new(true);
/// While set, the dependency is down: every attempt fails at once.
static DOWN: AtomicBool = AtomicBool::new(false);

#[derive(Debug)]
enum SoakError {
    Rejected(Rejection),
    Dependency,
}

impl From<Rejection> for SoakError {
    fn from(r: Rejection) -> Self {
        SoakError::Rejected(r)
    }
}

#[derive(Debug, PartialEq)]
enum Answer {
    Fresh,
    /// Served by the fallback while the circuit was open.
    Degraded,
}

/// SplitMix64: a reproducible draw per (call, attempt).
fn draw(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[fallback(match err {
    SoakError::Rejected(Rejection::CircuitOpen { .. }) => Ok(Answer::Degraded),
    other => Err(other),
})]
#[circuit_breaker(with = *BREAKER)]
#[retry(
    max_attempts = 3,
    backoff = "exp",
    base = "10ms",
    max_delay = "80ms",
    jitter = "equal"
)]
#[timeout("200ms")]
#[bulkhead(with = *BULKHEAD)]
#[rate_limiter(with = *LIMITER)]
async fn dependency(call: u64, attempts: Arc<AtomicU32>) -> Result<Answer, SoakError> {
    let attempt = attempts.fetch_add(1, Ordering::SeqCst);
    if DOWN.load(Ordering::SeqCst) {
        return Err(SoakError::Dependency);
    }
    if !TROUBLE.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(2)).await;
        return Ok(Answer::Fresh);
    }
    match draw(call * 8 + u64::from(attempt)) % 1000 {
        0..=149 => Err(SoakError::Dependency),
        150..=229 => {
            // Stalls past the timeout.
            tokio::time::sleep(Duration::from_millis(400)).await;
            Ok(Answer::Fresh)
        }
        230..=249 => std::future::pending().await,
        250..=254 => panic!("the dependency crashed (call {call}, attempt {attempt})"),
        _ => {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(Answer::Fresh)
        }
    }
}

#[derive(Default)]
struct Tally {
    outcomes: BTreeMap<&'static str, u64>,
    max_attempts_seen: u32,
}

impl Tally {
    fn add(&mut self, outcome: &'static str) {
        *self.outcomes.entry(outcome).or_default() += 1;
    }

    fn total(&self) -> u64 {
        self.outcomes.values().sum()
    }
}

fn classify(result: Result<Result<Answer, SoakError>, tokio::task::JoinError>) -> &'static str {
    match result {
        Ok(Ok(Answer::Fresh)) => "ok",
        Ok(Ok(Answer::Degraded)) => "ok (fallback)",
        Ok(Err(SoakError::Dependency)) => "error: dependency",
        Ok(Err(SoakError::Rejected(Rejection::Timeout { .. }))) => "error: timeout",
        Ok(Err(SoakError::Rejected(Rejection::BulkheadFull { .. }))) => "error: bulkhead full",
        Ok(Err(SoakError::Rejected(Rejection::RateLimited { .. }))) => "error: rate limited",
        Ok(Err(SoakError::Rejected(other))) => panic!("unexpected rejection {other:?}"),
        Err(join) if join.is_panic() => "panicked",
        Err(join) => panic!("call task failed: {join}"),
    }
}

#[tokio::test(start_paused = true)]
async fn soak_loses_nothing() {
    // Silence the expected panics of the crashing dependency.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.to_string().contains("the dependency crashed") {
            default_hook(info);
        }
    }));

    let issued = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for task in 0..TASKS {
        let issued = issued.clone();
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            for n in 0..CALLS_PER_TASK {
                let call = task * CALLS_PER_TASK + n;
                // Think time between a worker's calls, so the clock moves
                // and the breaker cycles through open and half-open.
                tokio::time::sleep(Duration::from_millis(2 + draw(call) % 6)).await;
                // Phases by calls issued: random trouble, down (40–50 %),
                // random trouble again, healthy (the last tenth).
                match issued.fetch_add(1, Ordering::SeqCst) * 10 / (TASKS * CALLS_PER_TASK) {
                    4 => DOWN.store(true, Ordering::SeqCst),
                    9 => TROUBLE.store(false, Ordering::SeqCst),
                    _ => DOWN.store(false, Ordering::SeqCst),
                }
                let attempts = Arc::new(AtomicU32::new(0));
                // Each call in its own task, so a panic is one outcome.
                let outcome = tokio::spawn(dependency(call, attempts.clone())).await;
                tally.add(classify(outcome));
                tally.max_attempts_seen =
                    tally.max_attempts_seen.max(attempts.load(Ordering::SeqCst));
            }
            tally
        }));
    }
    let mut tally = Tally::default();
    for worker in workers {
        let part = worker.await.expect("worker");
        for (outcome, n) in part.outcomes {
            *tally.outcomes.entry(outcome).or_default() += n;
        }
        tally.max_attempts_seen = tally.max_attempts_seen.max(part.max_attempts_seen);
    }

    // Recovery: past `open_for`, a few healthy calls close the breaker.
    TROUBLE.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(1)).await;
    for call in 0..10 {
        let attempts = Arc::new(AtomicU32::new(0));
        assert_eq!(
            dependency(u64::MAX - call, attempts).await.ok(),
            Some(Answer::Fresh)
        );
    }

    println!("soak tally ({} calls):", tally.total());
    for (outcome, n) in &tally.outcomes {
        println!("  {outcome:<22} {n:>7}");
    }
    println!("  max attempts per call  {:>7}", tally.max_attempts_seen);
    let bulkhead = BULKHEAD.snapshot();
    let breaker = BREAKER.snapshot();
    println!("  bulkhead               {bulkhead:?}");
    println!("  breaker                {breaker:?}");

    let expected = TASKS * CALLS_PER_TASK;
    assert_eq!(issued.load(Ordering::SeqCst), expected);
    assert_eq!(
        tally.total(),
        expected,
        "every call is accounted for exactly once"
    );
    for outcome in [
        "ok",
        "ok (fallback)",
        "error: dependency",
        "error: timeout",
        "panicked",
    ] {
        assert!(
            tally.outcomes.get(outcome).is_some_and(|n| *n > 0),
            "the soak never saw {outcome:?}"
        );
    }
    assert!(
        tally.max_attempts_seen <= MAX_ATTEMPTS,
        "a call made {} attempts",
        tally.max_attempts_seen
    );
    assert_eq!(bulkhead.in_use, 0, "bulkhead permits leaked");
    assert_eq!(bulkhead.waiting, 0, "bulkhead waiters leaked");
    assert_eq!(
        breaker.trials_in_flight, 0,
        "a half-open trial is outstanding"
    );
    assert_eq!(
        BREAKER.state(),
        State::Closed,
        "the breaker closed after recovery"
    );
}
