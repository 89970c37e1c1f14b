//! `#[hedge]`: a second attempt after `delay`, first `Ok` wins, losers
//! dropped. Time runs on tokio's paused clock.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience::{Hedge, hedge};
use tokio::time::Instant;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[derive(Debug, PartialEq)]
enum Error {
    Failed(u32),
}

/// One scripted backend: attempt `n` (0-based) takes `latencies[n]` and then
/// answers `Ok(n)`, or `Err(n)` if listed in `failing`. Attempts record when
/// they started and set a flag when dropped before finishing.
struct Backend {
    latencies: Vec<Duration>,
    failing: Vec<u32>,
    attempts: AtomicU32,
    started: Mutex<Vec<Duration>>,
    dropped: Mutex<Vec<u32>>,
    origin: Instant,
}

struct Unfinished<'a>(&'a Backend, u32, Arc<AtomicBool>);

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if !self.2.load(Ordering::SeqCst) {
            self.0.dropped.lock().unwrap().push(self.1);
        }
    }
}

impl Backend {
    fn new(latencies: &[u64], failing: &[u32]) -> Self {
        Backend {
            latencies: latencies.iter().copied().map(ms).collect(),
            failing: failing.to_vec(),
            attempts: AtomicU32::new(0),
            started: Mutex::new(Vec::new()),
            dropped: Mutex::new(Vec::new()),
            origin: Instant::now(),
        }
    }

    #[hedge(delay = "50ms", max_hedges = 2)]
    async fn call(&self) -> Result<u32, Error> {
        let n = self.attempts.fetch_add(1, Ordering::SeqCst);
        self.started.lock().unwrap().push(self.origin.elapsed());
        let finished = Arc::new(AtomicBool::new(false));
        let _guard = Unfinished(self, n, finished.clone());
        tokio::time::sleep(self.latencies[n as usize]).await;
        finished.store(true, Ordering::SeqCst);
        if self.failing.contains(&n) {
            Err(Error::Failed(n))
        } else {
            Ok(n)
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_fast_answer_sends_no_hedge() {
    let backend = Backend::new(&[40], &[]);
    assert_eq!(backend.call().await, Ok(0));
    assert_eq!(*backend.started.lock().unwrap(), [ms(0)]);
}

#[tokio::test(start_paused = true)]
async fn hedges_start_only_after_the_delay_and_the_first_ok_wins() {
    // Attempt 0 answers at 120 ms; the hedges start at 50 and 100 ms and
    // would answer at 250 and 300 ms.
    let backend = Backend::new(&[120, 200, 200], &[]);
    let start = Instant::now();
    assert_eq!(backend.call().await, Ok(0));
    assert_eq!(start.elapsed(), ms(120));
    assert_eq!(*backend.started.lock().unwrap(), [ms(0), ms(50), ms(100)]);
    let mut dropped = backend.dropped.lock().unwrap().clone();
    dropped.sort();
    assert_eq!(dropped, [1, 2], "the losing hedges were dropped");
}

#[tokio::test(start_paused = true)]
async fn a_hedge_can_win_and_the_stuck_attempt_is_dropped() {
    let backend = Backend::new(&[10_000, 20, 10_000], &[]);
    let start = Instant::now();
    assert_eq!(backend.call().await, Ok(1));
    assert_eq!(start.elapsed(), ms(70));
    assert_eq!(*backend.dropped.lock().unwrap(), [0]);
}

#[tokio::test(start_paused = true)]
async fn a_failure_waits_for_the_attempts_still_in_flight() {
    // Attempt 0 fails at 60 ms while hedge 1 (started at 50) is running.
    let backend = Backend::new(&[60, 30, 200], &[0]);
    assert_eq!(backend.call().await, Ok(1));
}

#[tokio::test(start_paused = true)]
async fn when_every_attempt_fails_the_last_error_is_returned() {
    let backend = Backend::new(&[80, 90, 10], &[0, 1, 2]);
    // Attempts start at 0, 50, 100 and fail at 80, 140, 110 ms.
    assert_eq!(backend.call().await, Err(Error::Failed(1)));
    assert_eq!(backend.attempts.load(Ordering::SeqCst), 3);
}

static ADAPTIVE: Hedge = Hedge::adaptive("adaptive-hedge", 1);

#[hedge(with = ADAPTIVE)]
async fn adaptive(latency: Duration, attempts: &AtomicU32) -> Result<(), Error> {
    attempts.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(latency).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn an_adaptive_delay_follows_the_observed_p95() {
    let attempts = AtomicU32::new(0);
    // No hedge before the delay is known.
    adaptive(ms(500), &attempts).await.unwrap();
    assert_eq!(attempts.swap(0, Ordering::SeqCst), 1);
    for _ in 0..100 {
        adaptive(ms(10), &attempts).await.unwrap();
    }
    assert_eq!(
        attempts.swap(0, Ordering::SeqCst),
        100,
        "fast calls are never hedged"
    );
    let delay = ADAPTIVE.current_delay().expect("enough samples");
    assert!(delay >= ms(10) && delay <= ms(12), "{delay:?}");
    let start = Instant::now();
    adaptive(ms(500), &attempts).await.unwrap();
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        2,
        "a slow call is hedged after the P95"
    );
    assert_eq!(
        start.elapsed(),
        ms(500),
        "the hedge started at ~11 ms and answered at ~511 ms"
    );
}

// Issue 12, item 6 (the hedge's share): the runtime constructor checks
// what `#[hedge]` checks, at construction, with the same sentence.
#[test]
#[should_panic(expected = "`max_hedges` of 0 would never hedge")]
fn hedge_refuses_zero_hedges_at_construction() {
    let _ = Hedge::new(
        "zero-hedges",
        Duration::from_millis(5),
        std::hint::black_box(0),
    );
}

#[test]
#[should_panic(expected = "`max_hedges` of 0 would never hedge")]
fn adaptive_hedge_refuses_zero_hedges_at_construction() {
    let _ = Hedge::adaptive("zero-adaptive-hedges", std::hint::black_box(0));
}

#[test]
#[should_panic(expected = "a `delay` of zero would send every hedge at once")]
fn hedge_refuses_a_zero_delay_at_construction() {
    let _ = Hedge::new("zero-delay", std::hint::black_box(Duration::ZERO), 1);
}
