//! The instances as tower layers (feature `tower`): stacks in any order,
//! `poll_ready` reservations, cancellation, HTTP response classification.
//! Time runs paused.
#![cfg(feature = "tower")]

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use resilience::breaker::{BreakerPolicy, CircuitBreaker, State};
use resilience::tower::{
    AdaptiveTimeoutLayer, BoxError, BulkheadLayer, CircuitBreakerLayer, HedgeLayer,
    RateLimiterLayer, RetryLayer, TimeoutLayer,
};
use resilience::{
    AdaptiveTimeout, Backoff, Bulkhead, Hedge, Jitter, RateLimiter, Rejection, Retry, RetryPolicy,
    Timeout, bulkhead, circuit_breaker, rate_limiter, retry, timeout,
};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Polls `f` once; `Some` if it was ready.
fn poll_once<F: Future>(f: std::pin::Pin<&mut F>) -> Option<F::Output> {
    let waker = std::task::Waker::noop();
    match f.poll(&mut Context::from_waker(waker)) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

// ---------------------------------------------------------------------
// Five layers in many orders behave as the annotated stack in that order.
// ---------------------------------------------------------------------

/// The downstream both stacks call: the n-th call fails, is slow, or
/// answers, in a fixed pattern.
#[derive(Clone, Default)]
struct Script(Arc<AtomicU32>);

impl Script {
    async fn step(&self) -> io::Result<u32> {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        match n % 7 {
            0 | 3 | 4 | 5 => Err(io::ErrorKind::ConnectionReset.into()),
            1 => {
                tokio::time::sleep(ms(200)).await;
                Ok(n)
            }
            _ => Ok(n),
        }
    }

    fn calls(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What a caller observes of one call.
fn observed_io(out: io::Result<u32>) -> String {
    match out {
        Ok(n) => format!("ok {n}"),
        Err(e) => match e.get_ref().and_then(|e| e.downcast_ref::<Rejection>()) {
            Some(rejection) => rejection_kind(rejection),
            None => format!("{:?}", e.kind()),
        },
    }
}

fn observed_boxed(out: Result<u32, BoxError>) -> String {
    match out {
        Ok(n) => format!("ok {n}"),
        Err(e) => match e.downcast_ref::<Rejection>() {
            Some(rejection) => rejection_kind(rejection),
            None => format!(
                "{:?}",
                e.downcast_ref::<io::Error>().expect("an io::Error").kind()
            ),
        },
    }
}

fn rejection_kind(rejection: &Rejection) -> String {
    match rejection {
        Rejection::Timeout { .. } => "timeout".into(),
        Rejection::CircuitOpen { .. } => "circuit open".into(),
        Rejection::BulkheadFull { .. } => "bulkhead full".into(),
        Rejection::RateLimited { .. } => "rate limited".into(),
        other => format!("{other:?}"),
    }
}

/// Twelve calls 50 ms apart: what each returned, how many downstream
/// calls it took, and when it ended.
async fn run_script<F, Fut>(mut call: F, script: &Script) -> Vec<(String, u32, u128)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = String>,
{
    let start = Instant::now();
    let mut seen = Vec::new();
    for _ in 0..12 {
        let out = call().await;
        seen.push((out, script.calls(), start.elapsed().as_millis()));
        tokio::time::sleep(ms(50)).await;
    }
    seen
}

fn breaker() -> CircuitBreakerLayer<Arc<CircuitBreaker>> {
    let policy = BreakerPolicy::new()
        .failure_threshold(3)
        .open_for(Duration::from_secs(1));
    CircuitBreakerLayer::new(Arc::new(CircuitBreaker::named("order-breaker", policy)))
}

fn retry() -> RetryLayer<Arc<Retry>> {
    let policy = RetryPolicy::new()
        .max_attempts(3)
        .backoff(Backoff::Fixed)
        .base(ms(10))
        .jitter(Jitter::None);
    RetryLayer::new(Arc::new(Retry::named("order-retry", policy)))
}

fn timeout() -> TimeoutLayer<Arc<Timeout>> {
    TimeoutLayer::new(Arc::new(Timeout::named("order-timeout", ms(100))))
}

fn bulkhead() -> BulkheadLayer<Arc<Bulkhead>> {
    BulkheadLayer::new(Arc::new(Bulkhead::named("order-bulkhead", 2)))
}

fn rate_limiter() -> RateLimiterLayer<Arc<RateLimiter>> {
    let limiter = RateLimiter::named("order-rate", 20, Duration::from_secs(1)).burst(3);
    RateLimiterLayer::new(Arc::new(limiter))
}

/// Builds the annotated function with the attributes in the order given,
/// and the tower stack with the layers in the same order (outermost
/// first), and checks that a caller sees the same from both.
macro_rules! same_as_annotated {
    ($test:ident: $($layer:ident),+) => {
        #[tokio::test(start_paused = true)]
        async fn $test() {
            same_as_annotated!(@attrs [] $($layer),+);

            let script = Script::default();
            let s = script.clone();
            let annotated = run_script(|| { let s = s.clone(); async move { observed_io(annotated(s).await) } }, &script).await;

            let script = Script::default();
            let s = script.clone();
            let stack = ServiceBuilder::new()
                $(.layer($layer()))+
                .service_fn(move |()| { let s = s.clone(); async move { s.step().await } });
            let layered = run_script(|| { let stack = stack.clone(); async move { observed_boxed(stack.oneshot(()).await) } }, &script).await;

            assert_eq!(layered, annotated, "order {}", stringify!($($layer),+));
            // The script goes through every layer's refusals and retries.
            assert!(annotated.iter().any(|(out, ..)| out.starts_with("ok")));
            assert!(annotated.iter().any(|(out, ..)| !out.starts_with("ok")));
        }
    };
    (@attrs [$($attrs:tt)*] breaker $(, $rest:ident)*) => {
        same_as_annotated!(@attrs [$($attrs)* #[circuit_breaker(failure_threshold = 3, open_for = "1s")]] $($rest),*);
    };
    (@attrs [$($attrs:tt)*] retry $(, $rest:ident)*) => {
        same_as_annotated!(@attrs [$($attrs)* #[retry(max_attempts = 3, backoff = "fixed", base = "10ms", jitter = "none")]] $($rest),*);
    };
    (@attrs [$($attrs:tt)*] timeout $(, $rest:ident)*) => {
        same_as_annotated!(@attrs [$($attrs)* #[timeout("100ms")]] $($rest),*);
    };
    (@attrs [$($attrs:tt)*] bulkhead $(, $rest:ident)*) => {
        same_as_annotated!(@attrs [$($attrs)* #[bulkhead(max_concurrent = 2)]] $($rest),*);
    };
    (@attrs [$($attrs:tt)*] rate_limiter $(, $rest:ident)*) => {
        same_as_annotated!(@attrs [$($attrs)* #[rate_limiter(rate = 20, per = "1s", burst = 3)]] $($rest),*);
    };
    (@attrs [$($attrs:tt)*]) => {
        $($attrs)*
        async fn annotated(script: Script) -> io::Result<u32> {
            script.step().await
        }
    };
}

// A representative set of the 120 orders: each layer outermost and
// innermost at least once, the retry above and below the timeout and the
// breaker, and the reverse of the first.
same_as_annotated!(order_breaker_retry_timeout_bulkhead_rate: breaker, retry, timeout, bulkhead, rate_limiter);
same_as_annotated!(order_rate_bulkhead_timeout_retry_breaker: rate_limiter, bulkhead, timeout, retry, breaker);
same_as_annotated!(order_retry_breaker_timeout_rate_bulkhead: retry, breaker, timeout, rate_limiter, bulkhead);
same_as_annotated!(order_timeout_retry_breaker_bulkhead_rate: timeout, retry, breaker, bulkhead, rate_limiter);
same_as_annotated!(order_bulkhead_rate_retry_timeout_breaker: bulkhead, rate_limiter, retry, timeout, breaker);
same_as_annotated!(order_retry_timeout_rate_bulkhead_breaker: retry, timeout, rate_limiter, bulkhead, breaker);
same_as_annotated!(order_breaker_timeout_retry_rate_bulkhead: breaker, timeout, retry, rate_limiter, bulkhead);
same_as_annotated!(order_rate_retry_bulkhead_breaker_timeout: rate_limiter, retry, bulkhead, breaker, timeout);
same_as_annotated!(order_bulkhead_breaker_rate_timeout_retry: bulkhead, breaker, rate_limiter, timeout, retry);
same_as_annotated!(order_timeout_bulkhead_breaker_retry_rate: timeout, bulkhead, breaker, retry, rate_limiter);

#[tokio::test(start_paused = true)]
async fn our_layers_mix_with_towers_own_in_any_order() {
    let stack = ServiceBuilder::new()
        .layer(tower::timeout::TimeoutLayer::new(ms(500)))
        .layer(retry())
        .layer(tower::limit::ConcurrencyLimitLayer::new(4))
        .layer(breaker())
        .service_fn(|()| async { Ok::<_, io::Error>(5) });
    assert_eq!(stack.oneshot(()).await.unwrap(), 5);
}

// ---------------------------------------------------------------------
// poll_ready without call, and cancellation.
// ---------------------------------------------------------------------

fn echo()
-> impl Service<u32, Response = u32, Error = io::Error, Future: Send> + Clone + Send + Sync + 'static
{
    service_fn(|x: u32| async move { Ok::<_, io::Error>(x) })
}

#[tokio::test(start_paused = true)]
async fn a_bulkhead_permit_reserved_by_poll_ready_goes_back_without_a_call() {
    static POOL: Bulkhead = Bulkhead::new("tower-reserve", 1);
    let mut service = BulkheadLayer::new(&POOL).layer(echo());
    service.ready().await.unwrap();
    assert_eq!(POOL.snapshot().in_use, 1, "poll_ready reserved the permit");
    // Polling ready again reserves nothing more.
    service.ready().await.unwrap();
    assert_eq!(POOL.snapshot().in_use, 1);
    drop(service);
    assert_eq!(
        POOL.snapshot().in_use,
        0,
        "dropped without a call: given back"
    );

    // A clone does not take its original's reservation along.
    let mut service = BulkheadLayer::new(&POOL).layer(echo());
    service.ready().await.unwrap();
    let clone = service.clone();
    drop(clone);
    assert_eq!(POOL.snapshot().in_use, 1);
    assert_eq!(service.call(7).await.unwrap(), 7);
    assert_eq!(POOL.snapshot().in_use, 0, "released when the call ended");
}

#[tokio::test(start_paused = true)]
async fn a_bulkhead_waiter_in_poll_ready_that_is_dropped_leaves_the_queue() {
    static POOL: Bulkhead = Bulkhead::new("tower-waiter", 1).max_wait(Duration::from_secs(1));
    let held = POOL.try_acquire().unwrap();
    let mut waiting = BulkheadLayer::new(&POOL).layer(echo());
    {
        let ready = pin!(waiting.ready());
        assert!(poll_once(ready).is_none(), "waits for the permit");
    }
    assert_eq!(POOL.snapshot().waiting, 1);
    drop(waiting);
    assert_eq!(
        POOL.snapshot().waiting,
        0,
        "the dropped service left the queue"
    );
    drop(held);
    assert_eq!(POOL.snapshot().in_use, 0, "and holds no permit");

    // A waiter refused after max_wait answers the rejection from `call`.
    let held = POOL.try_acquire().unwrap();
    let started = Instant::now();
    let refused = BulkheadLayer::new(&POOL)
        .layer(echo())
        .oneshot(1)
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert!(matches!(
        refused.downcast_ref::<Rejection>(),
        Some(Rejection::BulkheadFull { .. })
    ));
    drop(held);
}

#[tokio::test(start_paused = true)]
async fn a_rate_limiter_turn_taken_by_poll_ready_goes_back_without_a_call() {
    static LIMIT: RateLimiter = RateLimiter::new("tower-turn", 1, Duration::from_secs(10)).burst(1);
    let mut service = RateLimiterLayer::new(&LIMIT).layer(echo());
    service.ready().await.unwrap();
    assert_eq!(LIMIT.snapshot().available, 0);
    drop(service);
    assert_eq!(
        LIMIT.snapshot().available,
        1,
        "the unused turn was given back"
    );
    let service = RateLimiterLayer::new(&LIMIT).layer(echo());
    assert_eq!(service.clone().oneshot(3).await.unwrap(), 3);
    let refused = service.oneshot(4).await.unwrap_err();
    let rejection = refused.downcast_ref::<Rejection>().unwrap();
    assert_eq!(rejection.retry_after(), Some(Duration::from_secs(10)));
}

#[tokio::test(start_paused = true)]
async fn a_call_dropped_mid_flight_releases_its_bulkhead_permit_and_breaker_trial() {
    static POOL: Bulkhead = Bulkhead::new("tower-cancel-pool", 1);
    static BREAKER: CircuitBreaker = CircuitBreaker::new(
        "tower-cancel-breaker",
        BreakerPolicy::new()
            .failure_threshold(1)
            .open_for(Duration::from_secs(5)),
    );
    let stack = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(&BREAKER))
        .layer(BulkheadLayer::new(&POOL))
        .service_fn(|()| std::future::pending::<Result<(), io::Error>>());

    // Half-open: the one trial is the call we are about to cancel.
    BREAKER.try_acquire().unwrap().failure();
    tokio::time::advance(Duration::from_secs(5)).await;
    {
        let call = pin!(stack.clone().oneshot(()));
        assert!(poll_once(call).is_none());
        assert_eq!(POOL.snapshot().in_use, 1);
        assert_eq!(BREAKER.snapshot().trials_in_flight, 1);
    }
    assert_eq!(POOL.snapshot().in_use, 0, "permit released on cancellation");
    assert_eq!(BREAKER.snapshot().trials_in_flight, 0, "trial given back");
    assert_eq!(
        BREAKER.state(),
        State::HalfOpen,
        "a cancelled trial is no verdict"
    );
    assert!(BREAKER.try_acquire().is_ok(), "the next trial is admitted");

    // Same for a future made but never polled.
    let mut service = stack.clone();
    let future = service.ready().await.unwrap().call(());
    drop(future);
    assert_eq!(POOL.snapshot().in_use, 0);
}

// ---------------------------------------------------------------------
// One breaker for an annotated fn and a tower stack.
// ---------------------------------------------------------------------

static SHARED: CircuitBreaker = CircuitBreaker::new(
    "tower-shared",
    BreakerPolicy::new()
        .failure_threshold(2)
        .open_for(Duration::from_secs(30)),
);

#[circuit_breaker(with = &SHARED)]
async fn annotated_lookup(fail: bool) -> io::Result<u32> {
    if fail {
        Err(io::ErrorKind::ConnectionRefused.into())
    } else {
        Ok(1)
    }
}

#[tokio::test(start_paused = true)]
async fn one_breaker_opened_through_the_annotated_fn_rejects_the_stack_and_back() {
    SHARED.reset();
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let stack = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(&SHARED))
        .service_fn(move |fail: bool| {
            counted.fetch_add(1, Ordering::Relaxed);
            async move { annotated_body(fail) }
        });
    fn annotated_body(fail: bool) -> io::Result<u32> {
        if fail {
            Err(io::ErrorKind::ConnectionRefused.into())
        } else {
            Ok(2)
        }
    }

    for _ in 0..2 {
        assert!(annotated_lookup(true).await.is_err());
    }
    let refused = stack.clone().oneshot(false).await.unwrap_err();
    assert!(matches!(
        refused.downcast_ref::<Rejection>(),
        Some(Rejection::CircuitOpen { .. })
    ));
    assert_eq!(
        calls.load(Ordering::Relaxed),
        0,
        "the stack's service was not called"
    );

    SHARED.reset();
    for _ in 0..2 {
        assert!(stack.clone().oneshot(true).await.is_err());
    }
    let refused = annotated_lookup(false).await.unwrap_err();
    let rejection = refused
        .get_ref()
        .and_then(|e| e.downcast_ref::<Rejection>())
        .unwrap();
    assert_eq!(rejection.retry_after(), Some(Duration::from_secs(30)));
}

// ---------------------------------------------------------------------
// HTTP responses: 5xx and 429 fail, Retry-After is honoured.
// ---------------------------------------------------------------------

fn status(code: u16, retry_after: Option<&str>) -> axum::http::Response<()> {
    let mut response = axum::http::Response::builder().status(code);
    if let Some(after) = retry_after {
        response = response.header("retry-after", after);
    }
    response.body(()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_breaker_counts_5xx_and_429_responses_with_http() {
    let breaker = Arc::new(CircuitBreaker::named(
        "tower-http-breaker",
        BreakerPolicy::new().failure_threshold(2),
    ));
    let answers = Arc::new(AtomicU32::new(0));
    let a = answers.clone();
    let stack = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(breaker.clone()).http())
        .service_fn(move |code: u16| {
            a.fetch_add(1, Ordering::Relaxed);
            async move { Ok::<_, io::Error>(status(code, None)) }
        });
    // 404 is the caller's problem; 200 a success.
    for code in [404, 200, 404] {
        assert_eq!(stack.clone().oneshot(code).await.unwrap().status(), code);
    }
    assert_eq!(breaker.state(), State::Closed);
    // The failing responses are still returned to the caller.
    assert_eq!(stack.clone().oneshot(500).await.unwrap().status(), 500);
    assert_eq!(stack.clone().oneshot(429).await.unwrap().status(), 429);
    assert_eq!(breaker.state(), State::Open);
    assert!(stack.oneshot(200).await.is_err());
    assert_eq!(answers.load(Ordering::Relaxed), 5);

    // Without `.http()` responses are successes.
    let plain = Arc::new(CircuitBreaker::named(
        "tower-plain",
        BreakerPolicy::new().failure_threshold(1),
    ));
    let stack = CircuitBreakerLayer::new(plain.clone()).layer(service_fn(|code: u16| async move {
        Ok::<_, io::Error>(status(code, None))
    }));
    assert_eq!(stack.oneshot(503).await.unwrap().status(), 503);
    assert_eq!(plain.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_retry_waits_the_retry_after_of_a_503_then_returns_the_answer() {
    static R: Retry = Retry::new(
        "tower-http-retry",
        RetryPolicy::new()
            .max_attempts(3)
            .base(Duration::from_millis(10))
            .jitter(Jitter::None),
    );
    let answers = Arc::new(AtomicU32::new(0));
    let a = answers.clone();
    let stack = ServiceBuilder::new()
        .layer(RetryLayer::new(&R).http())
        .service_fn(move |()| {
            let n = a.fetch_add(1, Ordering::Relaxed);
            async move {
                Ok::<_, io::Error>(match n {
                    0 => status(503, Some("3")),
                    1 => status(429, Some("1")),
                    _ => status(200, None),
                })
            }
        });
    let started = Instant::now();
    assert_eq!(stack.clone().oneshot(()).await.unwrap().status(), 200);
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(4),
        "3 s, then 1 s, as the server asked"
    );

    // A 500 is a fault, not retried by a policy that is not idempotent; a 404 never.
    for code in [500, 404] {
        let a = Arc::new(AtomicU32::new(0));
        let counted = a.clone();
        let stack = RetryLayer::new(&R).http().layer(service_fn(move |()| {
            counted.fetch_add(1, Ordering::Relaxed);
            async move { Ok::<_, io::Error>(status(code, None)) }
        }));
        assert_eq!(stack.oneshot(()).await.unwrap().status(), code);
        assert_eq!(a.load(Ordering::Relaxed), 1, "{code} not retried");
    }
}

// ---------------------------------------------------------------------
// Timeout, adaptive timeout and hedge layers.
// ---------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_timeout_layer_drops_a_slow_call_at_its_deadline() {
    static T: Timeout = Timeout::new("tower-timeout", Duration::from_millis(250));
    let stack = TimeoutLayer::new(&T).layer(service_fn(|wait: u64| async move {
        tokio::time::sleep(ms(wait)).await;
        Ok::<_, io::Error>(wait)
    }));
    assert_eq!(stack.clone().oneshot(249).await.unwrap(), 249);
    let started = Instant::now();
    let error = stack.oneshot(1_000).await.unwrap_err();
    assert_eq!(started.elapsed(), ms(250));
    assert_eq!(
        error.downcast_ref::<Rejection>(),
        Some(&Rejection::timeout("tower-timeout", ms(250)))
    );
}

#[tokio::test(start_paused = true)]
async fn the_adaptive_timeout_layer_learns_from_its_calls() {
    let t = Arc::new(AdaptiveTimeout::new(
        "tower-adaptive",
        0.99,
        2.0,
        ms(10),
        Duration::from_secs(5),
    ));
    let stack = AdaptiveTimeoutLayer::new(t.clone()).layer(service_fn(|wait: u64| async move {
        tokio::time::sleep(ms(wait)).await;
        Ok::<_, io::Error>(wait)
    }));
    for _ in 0..40 {
        stack.clone().oneshot(20).await.unwrap();
    }
    let learned = t.current();
    assert!(
        learned < Duration::from_secs(5) && learned >= ms(20),
        "{learned:?}"
    );
    let started = Instant::now();
    let error = stack.oneshot(10_000).await.unwrap_err();
    assert!(matches!(
        error.downcast_ref::<Rejection>(),
        Some(Rejection::Timeout { .. })
    ));
    assert_eq!(started.elapsed(), learned);
}

#[tokio::test(start_paused = true)]
async fn the_hedge_layer_sends_a_second_request_when_the_first_is_slow() {
    static H: Hedge = Hedge::new("tower-hedge", Duration::from_millis(30), 1);
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let stack = HedgeLayer::new(&H).layer(service_fn(move |()| {
        let n = c.fetch_add(1, Ordering::Relaxed);
        async move {
            tokio::time::sleep(if n == 0 {
                Duration::from_secs(5)
            } else {
                ms(10)
            })
            .await;
            Ok::<_, io::Error>(n)
        }
    }));
    let started = Instant::now();
    assert_eq!(stack.clone().oneshot(()).await.unwrap(), 1);
    assert_eq!(
        started.elapsed(),
        ms(40),
        "hedged at 30 ms, answered 10 ms later"
    );
    // A fast first answer sends no hedge.
    calls.store(1, Ordering::Relaxed);
    assert_eq!(stack.oneshot(()).await.unwrap(), 1);
    assert_eq!(calls.load(Ordering::Relaxed), 2);
}

#[test]
fn services_and_futures_are_send_and_sync_for_axum() {
    fn send_sync<T: Send + Sync + 'static>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    static B: Bulkhead = Bulkhead::new("tower-bounds", 1);
    let mut stack = ServiceBuilder::new()
        .layer(breaker())
        .layer(retry())
        .layer(timeout())
        .layer(BulkheadLayer::new(&B))
        .layer(rate_limiter())
        .layer(HedgeLayer::new(Arc::new(Hedge::new(
            "tower-bounds-hedge",
            ms(10),
            1,
        ))))
        .service(echo());
    send_sync(&stack);
    let future = stack.call(1);
    send(&future);
}

#[tokio::test(start_paused = true)]
async fn a_rate_limiter_with_max_wait_waits_in_poll_ready_for_its_turn() {
    static PACED: RateLimiter = RateLimiter::new("tower-paced", 10, Duration::from_secs(1))
        .burst(1)
        .max_wait(Duration::from_secs(1));
    let service = RateLimiterLayer::new(&PACED).layer(echo());
    let started = Instant::now();
    for i in 0..3 {
        assert_eq!(service.clone().oneshot(i).await.unwrap(), i);
    }
    assert_eq!(started.elapsed(), ms(200), "one call per 100 ms");
}

#[circuit_breaker(name = "tower-named", failure_threshold = 1, open_for = "10s")]
async fn named_lookup() -> io::Result<u32> {
    Err(io::ErrorKind::ConnectionReset.into())
}

#[tokio::test(start_paused = true)]
async fn a_named_instance_from_the_registry_is_the_annotated_fns() {
    let breaker: Arc<CircuitBreaker> = resilience::registry::get_or_register("tower-named", || {
        CircuitBreaker::named(
            "tower-named",
            BreakerPolicy::new()
                .failure_threshold(1)
                .open_for(Duration::from_secs(10)),
        )
    });
    breaker.reset();
    let stack = CircuitBreakerLayer::new(breaker.clone()).layer(echo());
    assert_eq!(stack.clone().oneshot(1).await.unwrap(), 1);
    assert!(named_lookup().await.is_err());
    assert_eq!(breaker.state(), State::Open, "one instance");
    let refused = stack.oneshot(2).await.unwrap_err();
    assert!(matches!(
        refused.downcast_ref::<Rejection>(),
        Some(Rejection::CircuitOpen { .. })
    ));
}
