//! `#[circuit_breaker]` as a user sees it, on paused time: every
//! transition, every trip rule, cancellation and panics.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::task::Poll;
use std::time::Duration;

use resilience::breaker::{State, WindowSize};
use resilience::{
    BreakerPolicy, CircuitBreaker, Classify, Outcome, Rejection, circuit_breaker, registry,
};
use tokio::time::advance;

#[derive(Debug, Clone, PartialEq)]
enum ApiError {
    /// 503: transient, counts against the service.
    Unavailable,
    /// 400: the caller's mistake, never held against the service.
    BadRequest,
    Rejected(Rejection),
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        ApiError::Rejected(r)
    }
}

impl Classify for ApiError {
    fn classify(&self) -> Outcome {
        match self {
            ApiError::Unavailable => Outcome::TRANSIENT,
            ApiError::BadRequest => Outcome::Permanent,
            ApiError::Rejected(r) => r.classify(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Reply {
    Ok,
    Down,
    Bad,
    /// Never answers.
    Hang,
    /// Answers after two seconds.
    Slow,
    Panic,
    /// Panics after waiting a second (so while the breaker's future holds
    /// its permit between polls).
    PanicLater,
}

async fn service(calls: &AtomicU32, reply: Reply) -> Result<u32, ApiError> {
    let n = calls.fetch_add(1, SeqCst) + 1;
    match reply {
        Reply::Ok => Ok(n),
        Reply::Down => Err(ApiError::Unavailable),
        Reply::Bad => Err(ApiError::BadRequest),
        Reply::Hang => std::future::pending().await,
        Reply::Slow => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok(n)
        }
        Reply::Panic => panic!("the service blew up"),
        Reply::PanicLater => {
            tokio::time::sleep(Duration::from_secs(1)).await;
            panic!("the service blew up after a while")
        }
    }
}

fn open_for(result: Result<u32, ApiError>) -> Duration {
    match result {
        Err(ApiError::Rejected(Rejection::CircuitOpen { retry_after, .. })) => retry_after,
        other => panic!("expected an open circuit, got {other:?}"),
    }
}

/// Polls `fut` once, leaving it in place.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *fut).poll(cx))).await
}

#[tokio::test(start_paused = true)]
async fn trips_after_the_failure_threshold_and_rejects_without_calling() {
    #[circuit_breaker(failure_threshold = 3, open_for = "10s")]
    async fn call(calls: &AtomicU32, reply: Reply) -> Result<u32, ApiError> {
        service(calls, reply).await
    }

    let calls = AtomicU32::new(0);
    for _ in 0..2 {
        assert_eq!(call(&calls, Reply::Down).await, Err(ApiError::Unavailable));
    }
    assert_eq!(
        call(&calls, Reply::Ok).await,
        Ok(3),
        "still closed after 2 of 3"
    );
    for _ in 0..3 {
        assert_eq!(call(&calls, Reply::Down).await, Err(ApiError::Unavailable));
    }
    assert_eq!(calls.load(SeqCst), 6);
    assert_eq!(
        open_for(call(&calls, Reply::Ok).await),
        Duration::from_secs(10)
    );
    assert_eq!(
        calls.load(SeqCst),
        6,
        "an open circuit does not call the body"
    );

    advance(Duration::from_secs(4)).await;
    assert_eq!(
        open_for(call(&calls, Reply::Ok).await),
        Duration::from_secs(6)
    );
}

#[tokio::test(start_paused = true)]
async fn a_success_resets_the_consecutive_count() {
    static B: CircuitBreaker =
        CircuitBreaker::new("reset-count", BreakerPolicy::new().failure_threshold(2));
    #[circuit_breaker(with = B)]
    async fn call(calls: &AtomicU32, reply: Reply) -> Result<u32, ApiError> {
        service(calls, reply).await
    }

    let calls = AtomicU32::new(0);
    for _ in 0..5 {
        call(&calls, Reply::Down).await.unwrap_err();
        call(&calls, Reply::Ok).await.unwrap();
    }
    assert_eq!(B.state(), State::Closed);
    call(&calls, Reply::Down).await.unwrap_err();
    call(&calls, Reply::Down).await.unwrap_err();
    assert_eq!(B.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn half_opens_after_open_for_then_closes_after_success_threshold() {
    static B: CircuitBreaker = CircuitBreaker::new(
        "half-open-close",
        BreakerPolicy::new()
            .failure_threshold(1)
            .open_for(Duration::from_secs(30))
            .success_threshold(2),
    );
    #[circuit_breaker(with = B)]
    async fn call(calls: &AtomicU32, reply: Reply) -> Result<u32, ApiError> {
        service(calls, reply).await
    }

    let calls = AtomicU32::new(0);
    call(&calls, Reply::Down).await.unwrap_err();
    assert_eq!(B.state(), State::Open);
    advance(Duration::from_millis(29_999)).await;
    assert_eq!(
        open_for(call(&calls, Reply::Ok).await),
        Duration::from_millis(1)
    );
    advance(Duration::from_millis(1)).await;
    assert_eq!(call(&calls, Reply::Ok).await, Ok(2), "first trial");
    assert_eq!(B.state(), State::HalfOpen);
    assert_eq!(call(&calls, Reply::Ok).await, Ok(3), "second trial");
    assert_eq!(B.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_failed_trial_reopens_and_restarts_open_for() {
    static B: CircuitBreaker = CircuitBreaker::new(
        "trial-fails",
        BreakerPolicy::new()
            .failure_threshold(1)
            .open_for(Duration::from_secs(5)),
    );
    #[circuit_breaker(with = B)]
    async fn call(calls: &AtomicU32, reply: Reply) -> Result<u32, ApiError> {
        service(calls, reply).await
    }

    let calls = AtomicU32::new(0);
    call(&calls, Reply::Down).await.unwrap_err();
    advance(Duration::from_secs(5)).await;
    assert_eq!(call(&calls, Reply::Down).await, Err(ApiError::Unavailable));
    assert_eq!(B.state(), State::Open);
    assert_eq!(
        open_for(call(&calls, Reply::Ok).await),
        Duration::from_secs(5),
        "open_for restarted"
    );
    assert_eq!(calls.load(SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_only_half_open_max_calls_trials() {
    static B: CircuitBreaker = CircuitBreaker::new(
        "trial-permits",
        BreakerPolicy::new()
            .failure_threshold(1)
            .open_for(Duration::from_secs(1))
            .half_open_max_calls(2)
            .success_threshold(2),
    );
    #[circuit_breaker(with = B)]
    async fn call(calls: &AtomicU32, reply: Reply) -> Result<u32, ApiError> {
        service(calls, reply).await
    }

    let calls = AtomicU32::new(0);
    call(&calls, Reply::Down).await.unwrap_err();
    advance(Duration::from_secs(1)).await;
    let mut first = Box::pin(call(&calls, Reply::Hang));
    let mut second = Box::pin(call(&calls, Reply::Hang));
    assert!(poll_once(&mut first).await.is_pending());
    assert!(poll_once(&mut second).await.is_pending());
    assert_eq!(B.snapshot().trials_in_flight, 2);
    open_for(call(&calls, Reply::Ok).await);
    assert_eq!(calls.load(SeqCst), 3, "the third caller was turned away");
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_trial_gives_its_permit_back_and_counts_for_nothing() {
    static B: CircuitBreaker = CircuitBreaker::new(
        "trial-cancelled",
        BreakerPolicy::new()
            .failure_threshold(1)
            .open_for(Duration::from_secs(1)),
    );
    #[circuit_breaker(with = B)]
    async fn call(calls: &AtomicU32, reply: Reply) -> Result<u32, ApiError> {
        service(calls, reply).await
    }

    let calls = AtomicU32::new(0);
    call(&calls, Reply::Down).await.unwrap_err();
    advance(Duration::from_secs(1)).await;
    let mut trial = Box::pin(call(&calls, Reply::Hang));
    assert!(poll_once(&mut trial).await.is_pending());
    open_for(call(&calls, Reply::Ok).await);
    drop(trial);
    assert_eq!(B.state(), State::HalfOpen, "neither success nor failure");
    assert_eq!(B.snapshot().trials_in_flight, 0);
    assert_eq!(
        call(&calls, Reply::Ok).await,
        Ok(3),
        "the permit is free again"
    );
    assert_eq!(B.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_trial_gives_its_permit_back_and_counts_as_a_failure() {
    static B: CircuitBreaker = CircuitBreaker::new(
        "trial-panics",
        BreakerPolicy::new()
            .failure_threshold(1)
            .open_for(Duration::from_secs(1)),
    );
    #[circuit_breaker(with = B)]
    async fn call(calls: &'static AtomicU32, reply: Reply) -> Result<u32, ApiError> {
        service(calls, reply).await
    }
    static CALLS: AtomicU32 = AtomicU32::new(0);

    call(&CALLS, Reply::Down).await.unwrap_err();
    advance(Duration::from_secs(1)).await;
    let panicked = tokio::spawn(call(&CALLS, Reply::Panic)).await.unwrap_err();
    assert!(panicked.is_panic());
    assert_eq!(B.state(), State::Open, "a panic is a failed trial");
    assert_eq!(B.snapshot().trials_in_flight, 0);
    assert_eq!(
        open_for(call(&CALLS, Reply::Ok).await),
        Duration::from_secs(1)
    );

    // Again with a trial that is pending first, so that the breaker's
    // future holds its permit between polls when the panic comes.
    advance(Duration::from_secs(1)).await;
    let panicked = tokio::spawn(call(&CALLS, Reply::PanicLater))
        .await
        .unwrap_err();
    assert!(panicked.is_panic());
    assert_eq!(B.state(), State::Open, "a late panic is a failed trial too");
    assert_eq!(B.snapshot().trials_in_flight, 0);

    advance(Duration::from_secs(1)).await;
    assert_eq!(call(&CALLS, Reply::Ok).await, Ok(4));
}

#[tokio::test(start_paused = true)]
async fn half_open_max_wait_reclaims_a_stuck_trial() {
    static B: CircuitBreaker = CircuitBreaker::new(
        "trial-stuck",
        BreakerPolicy::new()
            .failure_threshold(1)
            .open_for(Duration::from_secs(10))
            .half_open_max_wait(Duration::from_secs(5)),
    );
    #[circuit_breaker(with = B)]
    async fn call(calls: &AtomicU32, reply: Reply) -> Result<u32, ApiError> {
        service(calls, reply).await
    }

    let calls = AtomicU32::new(0);
    call(&calls, Reply::Down).await.unwrap_err();
    advance(Duration::from_secs(10)).await;
    let mut stuck = Box::pin(call(&calls, Reply::Hang));
    assert!(poll_once(&mut stuck).await.is_pending());
    advance(Duration::from_secs(2)).await;
    assert_eq!(
        open_for(call(&calls, Reply::Ok).await),
        Duration::from_secs(3),
        "waits for the trial"
    );
    advance(Duration::from_secs(3)).await;
    assert_eq!(
        open_for(call(&calls, Reply::Ok).await),
        Duration::from_secs(10),
        "no verdict for 5 s: re-opened"
    );
    assert_eq!(B.state(), State::Open);
    advance(Duration::from_secs(10)).await;
    assert_eq!(call(&calls, Reply::Ok).await, Ok(3));
    assert_eq!(B.state(), State::Closed);
    drop(stuck);
    assert_eq!(B.state(), State::Closed, "the stale trial changes nothing");
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_never_trip_it() {
    static B: CircuitBreaker =
        CircuitBreaker::new("permanent", BreakerPolicy::new().failure_threshold(1));
    #[circuit_breaker(with = B)]
    async fn call(calls: &AtomicU32, reply: Reply) -> Result<u32, ApiError> {
        service(calls, reply).await
    }

    let calls = AtomicU32::new(0);
    for _ in 0..20 {
        assert_eq!(call(&calls, Reply::Bad).await, Err(ApiError::BadRequest));
    }
    assert_eq!(calls.load(SeqCst), 20);
    assert_eq!(B.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_permanent_error_in_half_open_releases_the_trial() {
    static B: CircuitBreaker = CircuitBreaker::new(
        "permanent-trial",
        BreakerPolicy::new()
            .failure_threshold(1)
            .open_for(Duration::from_secs(1)),
    );
    #[circuit_breaker(with = B)]
    async fn call(calls: &AtomicU32, reply: Reply) -> Result<u32, ApiError> {
        service(calls, reply).await
    }

    let calls = AtomicU32::new(0);
    call(&calls, Reply::Down).await.unwrap_err();
    advance(Duration::from_secs(1)).await;
    assert_eq!(call(&calls, Reply::Bad).await, Err(ApiError::BadRequest));
    assert_eq!(B.state(), State::HalfOpen);
    assert_eq!(call(&calls, Reply::Ok).await, Ok(3));
    assert_eq!(B.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn failure_if_replaces_the_classification() {
    static B: CircuitBreaker =
        CircuitBreaker::new("failure-if", BreakerPolicy::new().failure_threshold(2));
    fn counts(e: &ApiError) -> bool {
        // Here a bad request means the service broke its own contract.
        matches!(e, ApiError::BadRequest)
    }
    #[circuit_breaker(with = B, failure_if = counts)]
    async fn call(calls: &AtomicU32, reply: Reply) -> Result<u32, ApiError> {
        service(calls, reply).await
    }

    let calls = AtomicU32::new(0);
    for _ in 0..5 {
        call(&calls, Reply::Down).await.unwrap_err();
    }
    assert_eq!(B.state(), State::Closed, "`Unavailable` no longer counts");
    call(&calls, Reply::Bad).await.unwrap_err();
    call(&calls, Reply::Bad).await.unwrap_err();
    assert_eq!(B.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn rate_mode_trips_only_after_min_calls() {
    static B: CircuitBreaker = CircuitBreaker::new(
        "rate-min-calls",
        BreakerPolicy::new()
            .failure_rate(0.5, WindowSize::Calls(10))
            .min_calls(4),
    );
    #[circuit_breaker(with = B)]
    async fn call(calls: &AtomicU32, reply: Reply) -> Result<u32, ApiError> {
        service(calls, reply).await
    }

    let calls = AtomicU32::new(0);
    for _ in 0..3 {
        call(&calls, Reply::Down).await.unwrap_err();
    }
    assert_eq!(
        B.state(),
        State::Closed,
        "3 failures, but only 3 of min 4 calls"
    );
    assert_eq!(B.snapshot().failure_rate, Some(1.0));
    call(&calls, Reply::Ok).await.unwrap();
    assert_eq!(B.state(), State::Open, "3 of 4 calls failed");
}

#[tokio::test(start_paused = true)]
async fn rate_mode_through_the_macro_options() {
    #[circuit_breaker(
        name = "cb-test-rate-macro",
        failure_rate = 0.5,
        window = 4,
        min_calls = 4
    )]
    async fn call(calls: &AtomicU32, reply: Reply) -> Result<u32, ApiError> {
        service(calls, reply).await
    }

    let calls = AtomicU32::new(0);
    for reply in [Reply::Ok, Reply::Ok, Reply::Ok, Reply::Down, Reply::Ok] {
        call(&calls, reply).await.unwrap_or_default();
    }
    let b = registry::get_or_register("cb-test-rate-macro", || {
        CircuitBreaker::named(
            "cb-test-rate-macro",
            BreakerPolicy::new()
                .failure_rate(0.5, WindowSize::Calls(4))
                .min_calls(4),
        )
    });
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.calls_in_window, s.failures_in_window),
        (State::Closed, 4, 1)
    );
    call(&calls, Reply::Down).await.unwrap_err();
    assert_eq!(b.state(), State::Open, "2 of the last 4 calls failed");
    assert_eq!(
        registry::entries()
            .iter()
            .find(|e| e.name == "cb-test-rate-macro")
            .map(|e| e.conflicts),
        Some(0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_time_window_forgets_old_calls() {
    static B: CircuitBreaker = CircuitBreaker::new(
        "rate-time-window",
        BreakerPolicy::new()
            .failure_rate(0.5, WindowSize::Time(Duration::from_secs(10)))
            .min_calls(3),
    );
    #[circuit_breaker(with = B)]
    async fn call(calls: &AtomicU32, reply: Reply) -> Result<u32, ApiError> {
        service(calls, reply).await
    }

    let calls = AtomicU32::new(0);
    call(&calls, Reply::Down).await.unwrap_err();
    call(&calls, Reply::Down).await.unwrap_err();
    advance(Duration::from_secs(11)).await;
    assert_eq!(
        B.snapshot().calls_in_window,
        0,
        "both failures left the window"
    );
    call(&calls, Reply::Down).await.unwrap_err();
    call(&calls, Reply::Ok).await.unwrap();
    assert_eq!(
        B.state(),
        State::Closed,
        "2 calls in the window, min_calls is 3"
    );
    call(&calls, Reply::Down).await.unwrap_err();
    assert_eq!(
        B.state(),
        State::Open,
        "2 of 3 calls in the last 10 s failed"
    );
}

#[tokio::test(start_paused = true)]
async fn slow_calls_trip_in_rate_mode() {
    #[circuit_breaker(
        slow_call = "1s",
        slow_call_rate = 0.5,
        window = 4,
        min_calls = 2,
        failure_rate = 1
    )]
    async fn call(calls: &AtomicU32, reply: Reply) -> Result<u32, ApiError> {
        service(calls, reply).await
    }

    let calls = AtomicU32::new(0);
    assert_eq!(call(&calls, Reply::Ok).await, Ok(1));
    assert_eq!(
        call(&calls, Reply::Slow).await,
        Ok(2),
        "a slow success still returns its value"
    );
    open_for(call(&calls, Reply::Ok).await);
    assert_eq!(calls.load(SeqCst), 2, "1 of 2 calls slow: open");
}

#[tokio::test(start_paused = true)]
async fn slow_successes_count_as_failures_in_consecutive_mode() {
    #[circuit_breaker(failure_threshold = 2, slow_call = "1s")]
    async fn call(calls: &AtomicU32, reply: Reply) -> Result<u32, ApiError> {
        service(calls, reply).await
    }

    let calls = AtomicU32::new(0);
    call(&calls, Reply::Slow).await.unwrap();
    call(&calls, Reply::Slow).await.unwrap();
    open_for(call(&calls, Reply::Ok).await);
}

#[tokio::test(start_paused = true)]
async fn a_named_breaker_is_shared_by_every_function_naming_it() {
    #[circuit_breaker(name = "cb-test-payments", failure_threshold = 2)]
    async fn charge(calls: &AtomicU32, reply: Reply) -> Result<u32, ApiError> {
        service(calls, reply).await
    }
    #[circuit_breaker(name = "cb-test-payments", failure_threshold = 2)]
    async fn refund(calls: &AtomicU32, reply: Reply) -> Result<u32, ApiError> {
        service(calls, reply).await
    }

    let calls = AtomicU32::new(0);
    charge(&calls, Reply::Down).await.unwrap_err();
    refund(&calls, Reply::Down).await.unwrap_err();
    open_for(charge(&calls, Reply::Ok).await);
    open_for(refund(&calls, Reply::Ok).await);
    assert!(
        registry::entries()
            .iter()
            .any(|e| e.kind == "circuit_breaker"
                && e.name == "cb-test-payments"
                && e.conflicts == 0)
    );
}

#[test]
fn a_rate_breaker_takes_a_new_rate_but_keeps_its_window() {
    let b = CircuitBreaker::new(
        "cb-test-reconfigure-window",
        BreakerPolicy::new()
            .failure_rate(0.5, WindowSize::Calls(4))
            .min_calls(4),
    );
    let stricter = BreakerPolicy::new()
        .failure_rate(0.25, WindowSize::Calls(4))
        .min_calls(4)
        .slow_call(Duration::from_millis(1500))
        .half_open_max_wait(Duration::from_secs(10));
    assert_eq!(b.reconfigure(stricter), Ok(()));
    assert_eq!(b.policy(), stricter);
    for window in [
        WindowSize::Calls(8),
        WindowSize::Time(Duration::from_secs(4)),
    ] {
        let other = BreakerPolicy::new().failure_rate(0.25, window).min_calls(4);
        assert_eq!(b.reconfigure(other), Err(other), "{window:?}");
    }
    assert_eq!(b.policy(), stricter, "a refused policy changes nothing");
    // One failure in four calls now opens it.
    for _ in 0..3 {
        b.try_acquire().unwrap().success();
    }
    b.try_acquire().unwrap().failure();
    assert_eq!(b.state(), State::Open);
}

#[test]
fn a_named_breaker_configured_differently_counts_a_conflict_and_keeps_the_first_policy() {
    let name = "cb-test-conflict";
    let first = BreakerPolicy::new().failure_threshold(3);
    let conflicts = || {
        registry::entries()
            .iter()
            .find(|e| e.kind == "circuit_breaker" && e.name == name)
            .map(|e| e.conflicts)
    };
    let a = registry::get_or_register(name, || CircuitBreaker::named(name, first));
    let b = registry::get_or_register(name, || CircuitBreaker::named(name, first));
    assert!(std::sync::Arc::ptr_eq(&a, &b));
    assert_eq!(conflicts(), Some(0), "the same policy is no conflict");
    let c = registry::get_or_register(name, || {
        CircuitBreaker::named(name, BreakerPolicy::new().failure_threshold(4))
    });
    assert!(std::sync::Arc::ptr_eq(&a, &c));
    assert_eq!(conflicts(), Some(1), "another threshold is a conflict");
    assert_eq!(
        c.policy().get_failure_threshold(),
        Some(3),
        "the first wins"
    );
}

#[tokio::test(start_paused = true)]
async fn with_takes_a_breaker_per_instance() {
    struct Client {
        breaker: CircuitBreaker,
        calls: AtomicU32,
    }
    impl Client {
        fn new(host: &str) -> Self {
            Client {
                breaker: CircuitBreaker::named(
                    format!("api@{host}"),
                    BreakerPolicy::new().failure_threshold(1),
                ),
                calls: AtomicU32::new(0),
            }
        }

        #[circuit_breaker(with = self.breaker)]
        async fn get(&self, reply: Reply) -> Result<u32, ApiError> {
            service(&self.calls, reply).await
        }
    }

    let (eu, us) = (Client::new("eu"), Client::new("us"));
    eu.get(Reply::Down).await.unwrap_err();
    match eu.get(Reply::Ok).await {
        Err(ApiError::Rejected(r)) => assert_eq!(r.name(), "api@eu"),
        other => panic!("{other:?}"),
    }
    assert_eq!(us.get(Reply::Ok).await, Ok(1), "one breaker per host");
}

#[tokio::test(start_paused = true)]
async fn force_open_disable_and_reset_at_run_time() {
    static B: CircuitBreaker =
        CircuitBreaker::new("manual", BreakerPolicy::new().failure_threshold(1));
    #[circuit_breaker(with = B)]
    async fn call(calls: &AtomicU32, reply: Reply) -> Result<u32, ApiError> {
        service(calls, reply).await
    }

    let calls = AtomicU32::new(0);
    B.force_open();
    open_for(call(&calls, Reply::Ok).await);
    advance(Duration::from_secs(3600)).await;
    open_for(call(&calls, Reply::Ok).await);
    assert_eq!(B.state(), State::ForcedOpen, "forced open ignores open_for");
    B.disable();
    for _ in 0..3 {
        call(&calls, Reply::Down).await.unwrap_err();
    }
    assert_eq!(
        B.state(),
        State::Disabled,
        "a disabled breaker records nothing"
    );
    B.reset();
    assert_eq!(call(&calls, Reply::Ok).await, Ok(4));
    assert_eq!(B.snapshot().rejections, 2);
}

#[tokio::test(start_paused = true)]
async fn works_with_io_result_and_anyhow() {
    #[circuit_breaker(failure_threshold = 1)]
    async fn io_call(fail: bool) -> std::io::Result<u8> {
        if fail {
            Err(std::io::ErrorKind::ConnectionReset.into())
        } else {
            Ok(1)
        }
    }
    #[circuit_breaker(failure_threshold = 1)]
    async fn anyhow_call(fail: bool) -> anyhow::Result<u8> {
        if fail { anyhow::bail!("down") } else { Ok(1) }
    }

    io_call(true).await.unwrap_err();
    let err = io_call(false).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ResourceBusy);
    anyhow_call(true).await.unwrap_err();
    let err = anyhow_call(false).await.unwrap_err();
    assert!(matches!(
        err.downcast_ref::<Rejection>(),
        Some(Rejection::CircuitOpen { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn the_future_is_send_when_the_body_is() {
    #[circuit_breaker]
    async fn call(calls: &AtomicU32, reply: Reply) -> Result<u32, ApiError> {
        service(calls, reply).await
    }
    fn assert_send<T: Send>(t: T) -> T {
        t
    }
    let calls = AtomicU32::new(0);
    assert_eq!(assert_send(call(&calls, Reply::Ok)).await, Ok(1));
}

#[tokio::test(start_paused = true)]
async fn stacks_with_retry_which_sees_the_open_circuit_hint() {
    static B: CircuitBreaker = CircuitBreaker::new(
        "stack-retry",
        BreakerPolicy::new()
            .failure_threshold(2)
            .open_for(Duration::from_millis(300)),
    );
    #[resilience::retry(max_attempts = 4, backoff = "fixed", base = "10ms", max_delay = "1s")]
    #[circuit_breaker(with = B)]
    async fn call(calls: &AtomicU32) -> Result<u32, ApiError> {
        let n = calls.fetch_add(1, SeqCst) + 1;
        if n <= 2 {
            Err(ApiError::Unavailable)
        } else {
            Ok(n)
        }
    }

    let calls = AtomicU32::new(0);
    let start = tokio::time::Instant::now();
    // Two failures open the circuit (at 10 ms); the third attempt, 10 ms
    // later, is rejected with a 290 ms hint, which retry waits out instead
    // of its 10 ms backoff; the fourth attempt is the trial.
    assert_eq!(call(&calls).await, Ok(3));
    assert_eq!(start.elapsed(), Duration::from_millis(10 + 10 + 290));
    assert_eq!(B.state(), State::Closed);
}
