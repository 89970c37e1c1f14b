//! Deadlines that flow through the stack: an outer `#[timeout]` bounds
//! the retries, hedges and inner timeouts under it, and the body reads
//! what is left. Time runs paused.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience::{Rejection, deadline, hedge, retry, timeout};
use tokio::time::Instant;

/// The messages of the `tracing` events emitted on this thread while it
/// is installed.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<String>>>);

impl Events {
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        tracing::subscriber::set_default(self.clone())
    }

    fn any(&self, text: &str) -> bool {
        self.0.lock().unwrap().iter().any(|m| m.contains(text))
    }
}

impl tracing::Subscriber for Events {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        self.0.lock().unwrap().push(message.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[derive(Debug, Clone, PartialEq)]
enum ApiError {
    Down,
    Rejected(Rejection),
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        ApiError::Rejected(r)
    }
}

static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);

#[timeout("1s")]
#[retry(max_attempts = 10, backoff = "fixed", base = "400ms")]
async fn flaky() -> Result<u32, ApiError> {
    FLAKY_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn a_retry_stops_before_the_outer_deadline_instead_of_being_cut_mid_sleep() {
    let events = Events::default();
    let _installed = events.install();
    let start = Instant::now();
    // Attempts at 0, 400 and 800 ms; a fourth would start at 1200 ms, past
    // the deadline: the last error comes back at 800 ms, not a timeout at
    // 1 s.
    assert_eq!(flaky().await, Err(ApiError::Down));
    assert_eq!(start.elapsed(), ms(800));
    assert_eq!(FLAKY_CALLS.load(Ordering::SeqCst), 3);
    // And it says why.
    assert!(events.any("past the deadline of an outer timeout"));
}

#[retry(max_attempts = 10, backoff = "fixed", base = "400ms")]
async fn flaky_without_deadline(calls: &AtomicU32) -> Result<u32, ApiError> {
    calls.fetch_add(1, Ordering::SeqCst);
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn without_a_timeout_a_retry_uses_all_its_attempts() {
    let calls = AtomicU32::new(0);
    assert_eq!(flaky_without_deadline(&calls).await, Err(ApiError::Down));
    assert_eq!(calls.load(Ordering::SeqCst), 10);
}

#[timeout("1s")]
async fn outer(seen: &std::sync::Mutex<Vec<Option<Duration>>>) -> Result<u32, ApiError> {
    seen.lock().unwrap().push(deadline::remaining());
    tokio::time::sleep(ms(700)).await;
    inner(seen).await
}

#[timeout("2s")]
async fn inner(seen: &std::sync::Mutex<Vec<Option<Duration>>>) -> Result<u32, ApiError> {
    seen.lock().unwrap().push(deadline::remaining());
    tokio::time::sleep(ms(10_000)).await;
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn nested_annotated_functions_share_the_deadline() {
    let seen = std::sync::Mutex::new(Vec::new());
    let start = Instant::now();
    let out = outer(&seen).await;
    // The inner function runs under min(2 s, the 300 ms left).
    assert_eq!(start.elapsed(), ms(1000));
    assert_eq!(*seen.lock().unwrap(), [Some(ms(1000)), Some(ms(300))]);
    match out {
        Err(ApiError::Rejected(Rejection::Timeout { name, elapsed, .. })) => {
            assert!(name.ends_with("inner"), "{name}");
            assert_eq!(elapsed, ms(300));
        }
        other => panic!("expected the inner timeout, cut by the outer deadline: {other:?}"),
    }
    // Inner alone: its own 2 s.
    let seen = std::sync::Mutex::new(Vec::new());
    let start = Instant::now();
    assert!(inner(&seen).await.is_err());
    assert_eq!(start.elapsed(), ms(2000));
}

#[timeout("2s")]
async fn search() -> Result<(Option<Duration>, Option<Duration>), Rejection> {
    let at_start = deadline::remaining();
    tokio::time::sleep(ms(500)).await;
    Ok((at_start, deadline::remaining()))
}

#[tokio::test(start_paused = true)]
async fn remaining_inside_the_body() {
    assert_eq!(search().await, Ok((Some(ms(2000)), Some(ms(1500)))));
    assert_eq!(deadline::remaining(), None);
}

#[timeout("2s")]
async fn deadline_at() -> Result<(Option<Instant>, Option<Instant>), Rejection> {
    let at_start = deadline::at();
    tokio::time::sleep(ms(500)).await;
    Ok((at_start, deadline::at()))
}

#[tokio::test(start_paused = true)]
async fn at_is_the_instant_the_timeout_fires_and_stays_put() {
    let start = Instant::now();
    let due = Some(start + ms(2000));
    assert_eq!(deadline_at().await, Ok((due, due)));
    assert_eq!(deadline::at(), None, "no deadline outside a timeout");
}

#[tokio::test(start_paused = true)]
async fn the_deadline_does_not_leak_into_later_calls() {
    assert!(search().await.is_ok());
    async fn plain() -> Option<Duration> {
        deadline::remaining()
    }
    assert_eq!(plain().await, None);
}

static HEDGE_ATTEMPTS: AtomicU32 = AtomicU32::new(0);

#[timeout("100ms")]
#[hedge(delay = "100ms")]
async fn hedged() -> Result<u32, ApiError> {
    HEDGE_ATTEMPTS.fetch_add(1, Ordering::SeqCst);
    std::future::pending::<()>().await;
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn no_hedge_starts_at_or_after_the_deadline() {
    let events = Events::default();
    let _installed = events.install();
    let out = hedged().await;
    assert!(
        matches!(out, Err(ApiError::Rejected(Rejection::Timeout { .. }))),
        "{out:?}"
    );
    // The hedge was due at 100 ms, when the deadline falls: not sent.
    assert_eq!(HEDGE_ATTEMPTS.load(Ordering::SeqCst), 1);
    assert!(events.any("no hedge: it would start past the deadline"));
}

static EARLY_HEDGE_ATTEMPTS: AtomicU32 = AtomicU32::new(0);

#[timeout("100ms")]
#[hedge(delay = "50ms")]
async fn hedged_early() -> Result<u32, ApiError> {
    EARLY_HEDGE_ATTEMPTS.fetch_add(1, Ordering::SeqCst);
    std::future::pending::<()>().await;
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn a_hedge_due_before_the_deadline_is_sent() {
    assert!(hedged_early().await.is_err());
    assert_eq!(EARLY_HEDGE_ATTEMPTS.load(Ordering::SeqCst), 2);
}

#[timeout("1s")]
#[retry(max_attempts = 5, backoff = "fixed", base = "100ms")]
async fn per_attempt(calls: &AtomicU32) -> Result<u32, ApiError> {
    attempt(calls).await
}

#[timeout("5s")]
async fn attempt(calls: &AtomicU32) -> Result<u32, ApiError> {
    calls.fetch_add(1, Ordering::SeqCst);
    std::future::pending::<()>().await;
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn a_per_attempt_timeout_runs_under_the_overall_deadline() {
    let calls = AtomicU32::new(0);
    let start = Instant::now();
    let out = per_attempt(&calls).await;
    // The first attempt's 5 s is cut to the 1 s left; no retry fits.
    assert_eq!(start.elapsed(), ms(1000));
    assert!(
        matches!(out, Err(ApiError::Rejected(Rejection::Timeout { .. }))),
        "{out:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
