//! `#[retry]`: which errors are retried, how often, and when. Time runs on
//! tokio's paused clock; jitter is drawn from a seeded generator.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience::{Classify, Outcome, Rejection, retry, rng, timeout};
use tokio::time::Instant;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[derive(Debug, Clone, PartialEq)]
enum ApiError {
    Unavailable,
    Throttled(Duration),
    Internal,
    BadRequest,
    Rejected(String),
}

impl Classify for ApiError {
    fn classify(&self) -> Outcome {
        match self {
            ApiError::Unavailable | ApiError::Rejected(_) => Outcome::TRANSIENT,
            ApiError::Throttled(after) => Outcome::Transient {
                retry_after: Some(*after),
            },
            ApiError::Internal => Outcome::Fault,
            ApiError::BadRequest => Outcome::Permanent,
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        ApiError::Rejected(r.to_string())
    }
}

/// Records when each attempt started, relative to the first.
#[derive(Default)]
struct Log(Mutex<Vec<Instant>>);

impl Log {
    fn record(&self) -> usize {
        let mut starts = self.0.lock().unwrap();
        starts.push(Instant::now());
        starts.len()
    }

    fn attempts(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// The gaps between attempt starts.
    fn delays(&self) -> Vec<Duration> {
        let starts = self.0.lock().unwrap();
        starts.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

#[retry(max_attempts = 5, backoff = "fixed", base = "100ms", jitter = "none")]
async fn fixed(log: &Log) -> Result<(), ApiError> {
    log.record();
    Err(ApiError::Unavailable)
}

#[retry(max_attempts = 5, backoff = "linear", base = "100ms")]
async fn linear(log: &Log) -> Result<(), ApiError> {
    log.record();
    Err(ApiError::Unavailable)
}

#[retry(max_attempts = 6, backoff = "exp", base = "100ms", max_delay = "1s")]
async fn exponential(log: &Log) -> Result<(), ApiError> {
    log.record();
    Err(ApiError::Unavailable)
}

#[retry(
    max_attempts = 8,
    backoff = "decorrelated",
    base = "100ms",
    max_delay = "2s"
)]
async fn decorrelated(log: &Log) -> Result<(), ApiError> {
    log.record();
    Err(ApiError::Unavailable)
}

#[tokio::test(start_paused = true)]
async fn exact_delay_sequences_without_jitter() {
    let log = Log::default();
    assert_eq!(fixed(&log).await, Err(ApiError::Unavailable));
    assert_eq!(log.delays(), [100, 100, 100, 100].map(ms));

    let log = Log::default();
    linear(&log).await.unwrap_err();
    assert_eq!(log.delays(), [100, 200, 300, 400].map(ms));

    let log = Log::default();
    exponential(&log).await.unwrap_err();
    assert_eq!(log.delays(), [100, 200, 400, 800, 1000].map(ms));
}

#[tokio::test(start_paused = true)]
async fn decorrelated_delays_grow_from_the_previous_one() {
    let log = Log::default();
    rng::with_seed(11, decorrelated(&log)).await.unwrap_err();
    let delays = log.delays();
    assert_eq!(delays.len(), 7);
    let mut previous = ms(100);
    for d in delays {
        assert!(d >= ms(100), "{d:?} below base");
        assert!(
            d <= (previous * 3).min(ms(2000)),
            "{d:?} above 3 × {previous:?}"
        );
        previous = d;
    }
}

#[retry(
    max_attempts = 4,
    backoff = "exp",
    base = "100ms",
    max_delay = "300ms",
    jitter
)]
async fn full_jitter(log: &Log) -> Result<(), ApiError> {
    log.record();
    Err(ApiError::Unavailable)
}

#[retry(
    max_attempts = 4,
    backoff = "exp",
    base = "100ms",
    max_delay = "300ms",
    jitter = "equal"
)]
async fn equal_jitter(log: &Log) -> Result<(), ApiError> {
    log.record();
    Err(ApiError::Unavailable)
}

#[tokio::test(start_paused = true)]
async fn jitter_stays_within_its_bounds_over_many_seeded_draws() {
    // Before jitter the delays are 100, 200, 300 (capped) ms.
    let caps = [100, 200, 300].map(ms);
    let mut full_spread = Vec::new();
    for seed in 0..200 {
        let log = Log::default();
        rng::with_seed(seed, full_jitter(&log)).await.unwrap_err();
        for (d, cap) in log.delays().into_iter().zip(caps) {
            assert!(d <= cap, "full jitter {d:?} above {cap:?}");
            full_spread.push(d);
        }
        let log = Log::default();
        rng::with_seed(seed, equal_jitter(&log)).await.unwrap_err();
        for (d, cap) in log.delays().into_iter().zip(caps) {
            assert!(
                d >= cap / 2 && d <= cap,
                "equal jitter {d:?} outside [{:?}, {cap:?}]",
                cap / 2
            );
        }
    }
    // Full jitter really spreads: some draws fall in the lower half.
    assert!(
        full_spread
            .iter()
            .zip(caps.iter().cycle())
            .any(|(d, cap)| *d < *cap / 2)
    );
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_gives_the_same_delays() {
    let a = Log::default();
    let b = Log::default();
    rng::with_seed(5, full_jitter(&a)).await.unwrap_err();
    rng::with_seed(5, full_jitter(&b)).await.unwrap_err();
    assert_eq!(a.delays(), b.delays());
}

#[retry(max_attempts = 3, backoff = "fixed", base = "10ms")]
async fn fails_with(log: &Log, error: ApiError) -> Result<u32, ApiError> {
    log.record();
    Err(error)
}

#[retry(max_attempts = 3, backoff = "fixed", base = "10ms", idempotent = true)]
async fn idempotent_fails_with(log: &Log, error: ApiError) -> Result<u32, ApiError> {
    log.record();
    Err(error)
}

#[tokio::test(start_paused = true)]
async fn which_outcomes_are_retried() {
    let cases = [
        (ApiError::Unavailable, 3, 3),
        (ApiError::Internal, 1, 3),
        (ApiError::BadRequest, 1, 1),
    ];
    for (error, plain, idempotent) in cases {
        let log = Log::default();
        assert_eq!(fails_with(&log, error.clone()).await, Err(error.clone()));
        assert_eq!(log.attempts(), plain, "{error:?} without idempotent");
        let log = Log::default();
        idempotent_fails_with(&log, error.clone())
            .await
            .unwrap_err();
        assert_eq!(log.attempts(), idempotent, "{error:?} with idempotent");
    }
}

#[retry(max_attempts = 4, backoff = "fixed", base = "1ms")]
async fn succeeds_on(log: &Log, attempt: usize) -> Result<usize, ApiError> {
    let n = log.record();
    if n < attempt {
        Err(ApiError::Unavailable)
    } else {
        Ok(n)
    }
}

#[tokio::test(start_paused = true)]
async fn stops_at_the_first_success() {
    let log = Log::default();
    assert_eq!(succeeds_on(&log, 3).await, Ok(3));
    assert_eq!(log.attempts(), 3);
    let log = Log::default();
    assert_eq!(succeeds_on(&log, 5).await, Err(ApiError::Unavailable));
    assert_eq!(log.attempts(), 4, "max_attempts counts every call");
}

/// An error type with no `Classify` impl.
#[derive(Debug, PartialEq)]
struct Opaque;

#[retry(max_attempts = 3, backoff = "fixed", base = "1ms")]
async fn unclassified(log: &Log) -> Result<(), Opaque> {
    log.record();
    Err(Opaque)
}

#[tokio::test(start_paused = true)]
async fn errors_without_classify_are_transient() {
    let log = Log::default();
    assert_eq!(unclassified(&log).await, Err(Opaque));
    assert_eq!(log.attempts(), 3);
}

#[retry(max_attempts = 3, backoff = "fixed", base = "1ms")]
async fn generic_unbounded<E: std::fmt::Debug>(log: &Log, make: fn() -> E) -> Result<(), E> {
    log.record();
    Err(make())
}

#[retry(max_attempts = 3, backoff = "fixed", base = "1ms")]
async fn generic_bounded<E: Classify>(log: &Log, make: fn() -> E) -> Result<(), E> {
    log.record();
    Err(make())
}

#[tokio::test(start_paused = true)]
async fn generic_code_uses_classify_only_when_bounded() {
    let log = Log::default();
    generic_unbounded(&log, || ApiError::BadRequest)
        .await
        .unwrap_err();
    assert_eq!(
        log.attempts(),
        3,
        "without `E: Classify` every error is transient"
    );
    let log = Log::default();
    generic_bounded(&log, || ApiError::BadRequest)
        .await
        .unwrap_err();
    assert_eq!(log.attempts(), 1, "with `E: Classify` the impl decides");
}

#[retry(max_attempts = 3, backoff = "fixed", base = "10ms", max_delay = "1s")]
async fn throttled(log: &Log, after: Duration) -> Result<(), ApiError> {
    log.record();
    Err(ApiError::Throttled(after))
}

#[tokio::test(start_paused = true)]
async fn retry_after_replaces_a_shorter_delay() {
    let log = Log::default();
    throttled(&log, ms(300)).await.unwrap_err();
    assert_eq!(log.delays(), [300, 300].map(ms));
    // A hint shorter than the computed delay does not shorten it.
    let log = Log::default();
    throttled(&log, ms(2)).await.unwrap_err();
    assert_eq!(log.delays(), [10, 10].map(ms));
}

#[tokio::test(start_paused = true)]
async fn retry_after_beyond_max_delay_stops() {
    let log = Log::default();
    let start = Instant::now();
    assert_eq!(
        throttled(&log, ms(1500)).await,
        Err(ApiError::Throttled(ms(1500)))
    );
    assert_eq!(log.attempts(), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[retry(
    max_attempts = 10,
    backoff = "fixed",
    base = "100ms",
    max_elapsed = "250ms"
)]
async fn bounded_by_elapsed(log: &Log) -> Result<(), ApiError> {
    log.record();
    tokio::time::sleep(ms(5)).await;
    Err(ApiError::Unavailable)
}

#[tokio::test(start_paused = true)]
async fn no_attempt_starts_after_max_elapsed() {
    let log = Log::default();
    let start = Instant::now();
    bounded_by_elapsed(&log).await.unwrap_err();
    // Attempts start at 0, 105 and 210 ms; the next would start at 315 ms.
    assert_eq!(log.attempts(), 3);
    assert_eq!(start.elapsed(), ms(215));
}

#[retry(
    max_attempts = 10,
    backoff = "fixed",
    base = "10ms",
    max_elapsed = "1s",
    max_delay = "5s"
)]
async fn hint_past_the_deadline(log: &Log) -> Result<(), ApiError> {
    log.record();
    Err(ApiError::Throttled(ms(2000)))
}

#[tokio::test(start_paused = true)]
async fn retry_after_beyond_the_time_left_stops() {
    let log = Log::default();
    hint_past_the_deadline(&log).await.unwrap_err();
    assert_eq!(log.attempts(), 1);
}

fn only_bad_request(error: &ApiError) -> bool {
    *error == ApiError::BadRequest
}

#[retry(max_attempts = 3, backoff = "fixed", base = "1ms", retry_if = only_bad_request)]
async fn custom_predicate(log: &Log, error: ApiError) -> Result<(), ApiError> {
    log.record();
    Err(error)
}

#[tokio::test(start_paused = true)]
async fn retry_if_replaces_the_classification() {
    let log = Log::default();
    custom_predicate(&log, ApiError::BadRequest)
        .await
        .unwrap_err();
    assert_eq!(log.attempts(), 3, "permanent, but the predicate says retry");
    let log = Log::default();
    custom_predicate(&log, ApiError::Unavailable)
        .await
        .unwrap_err();
    assert_eq!(log.attempts(), 1, "transient, but the predicate says stop");
}

/// Counts its clones, to show one copy per attempt.
#[derive(Debug)]
struct Payload<'a>(&'a AtomicU32);

impl Clone for Payload<'_> {
    fn clone(&self) -> Self {
        self.0.fetch_add(1, Ordering::SeqCst);
        Payload(self.0)
    }
}

#[retry(max_attempts = 3, backoff = "fixed", base = "1ms")]
async fn consumes(log: &Log, payload: Payload<'_>) -> Result<(), ApiError> {
    log.record();
    let Payload(_) = payload; // consumed: the next attempt needs its own copy
    Err(ApiError::Unavailable)
}

#[tokio::test(start_paused = true)]
async fn by_value_arguments_are_cloned_for_each_attempt() {
    let clones = AtomicU32::new(0);
    let log = Log::default();
    consumes(&log, Payload(&clones)).await.unwrap_err();
    assert_eq!(log.attempts(), 3);
    assert_eq!(clones.load(Ordering::SeqCst), 3);
}

#[retry(max_attempts = 3, backoff = "fixed", base = "10ms")]
#[timeout("100ms")]
async fn per_attempt_timeout(log: &Log) -> Result<(), ApiError> {
    log.record();
    tokio::time::sleep(Duration::from_secs(10)).await;
    Ok(())
}

#[timeout("250ms")]
#[retry(max_attempts = 5, backoff = "fixed", base = "10ms")]
async fn overall_deadline(log: &Log) -> Result<(), ApiError> {
    log.record();
    tokio::time::sleep(ms(100)).await;
    Err(ApiError::Unavailable)
}

#[tokio::test(start_paused = true)]
async fn layer_order_decides_what_the_timeout_covers() {
    // retry outside: each attempt gets its own 100 ms.
    let log = Log::default();
    let start = Instant::now();
    let err = per_attempt_timeout(&log).await.unwrap_err();
    assert!(
        matches!(err, ApiError::Rejected(ref m) if m.contains("timed out after 100ms")),
        "{err:?}"
    );
    assert_eq!(log.attempts(), 3);
    assert_eq!(start.elapsed(), ms(3 * 100 + 2 * 10));

    // timeout outside: one 250 ms deadline over all attempts.
    let log = Log::default();
    let start = Instant::now();
    let err = overall_deadline(&log).await.unwrap_err();
    assert!(
        matches!(err, ApiError::Rejected(ref m) if m.contains("timed out after 250ms")),
        "{err:?}"
    );
    assert_eq!(log.attempts(), 3, "attempts start at 0, 110 and 220 ms");
    assert_eq!(start.elapsed(), ms(250));
}

#[tokio::test(start_paused = true)]
async fn cancelling_between_attempts_starts_no_more() {
    let log: &'static Log = Box::leak(Box::default());
    let call = tokio::spawn(fixed(log));
    tokio::time::sleep(ms(150)).await;
    call.abort();
    let _ = call.await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(log.attempts(), 2);
}

static OUTAGE_CALLS: AtomicU32 = AtomicU32::new(0);
static SERVICE_DOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

#[retry(
    max_attempts = 3,
    backoff = "fixed",
    base = "1ms",
    budget = 0.2,
    min_retries_per_sec = 1
)]
async fn budgeted() -> Result<(), ApiError> {
    OUTAGE_CALLS.fetch_add(1, Ordering::SeqCst);
    if SERVICE_DOWN.load(Ordering::SeqCst) {
        Err(ApiError::Unavailable)
    } else {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn the_budget_caps_retries_under_an_outage_and_recovers() {
    // Total outage: 100 logical calls within one second. Without a budget
    // they would make 300 attempts; the budget allows 20 % of the calls
    // plus a floor of 1 per second over the 10 s window.
    for _ in 0..100 {
        budgeted().await.unwrap_err();
    }
    let attempts = OUTAGE_CALLS.swap(0, Ordering::SeqCst);
    let retries = attempts - 100;
    assert!(
        (20..=30).contains(&retries),
        "{retries} retries for 100 calls"
    );

    // The window forgets the outage; the service recovers but is flaky:
    // the first attempt fails, the retry succeeds, and retries are
    // allowed again.
    tokio::time::advance(Duration::from_secs(11)).await;
    SERVICE_DOWN.store(false, Ordering::SeqCst);
    for _ in 0..10 {
        budgeted().await.unwrap();
    }
    assert_eq!(OUTAGE_CALLS.swap(0, Ordering::SeqCst), 10);
    SERVICE_DOWN.store(true, Ordering::SeqCst);
    budgeted().await.unwrap_err();
    assert_eq!(
        OUTAGE_CALLS.swap(0, Ordering::SeqCst),
        3,
        "retries are allowed again after recovery"
    );
}

/// Appends its attempt number, and fails until the third attempt.
#[retry(max_attempts = 3, backoff = "fixed", base = "1ms")]
#[timeout("1s")]
async fn append_attempt(log: &mut Vec<u8>, tag: u8) -> Result<usize, Rejection> {
    log.push(tag + log.len() as u8);
    if log.len() < 3 {
        Err(Rejection::timeout("append", Duration::ZERO))
    } else {
        Ok(log.len())
    }
}

/// Each attempt reborrows the caller's `&mut` argument in turn, so the
/// caller sees what every attempt wrote.
#[tokio::test(start_paused = true)]
async fn mut_reference_arguments_are_reborrowed_per_attempt() {
    let mut log = Vec::new();
    assert_eq!(append_attempt(&mut log, 10).await, Ok(3));
    assert_eq!(log, [10, 11, 12]);
}
