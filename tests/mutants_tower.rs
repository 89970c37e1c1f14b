//! The tower layers without a stack around them (issue 22, mutation
//! testing): each passes on the readiness of the service it wraps, so a
//! caller (or `ServiceBuilder`'s next layer) that polls the stack ready
//! waits for, or sees the error of, the service below; how many hedges
//! the hedge layer sends and which answer it returns; which HTTP statuses
//! count as failures; the instance a timed-out call is logged under. Time
//! runs paused.
#![cfg(feature = "tower")]

#[path = "support/tracing_capture.rs"]
mod tracing_capture;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use resilience::breaker::{BreakerPolicy, CircuitBreaker};
use resilience::tower::{
    AdaptiveTimeoutLayer, BoxError, CircuitBreakerLayer, ClassifyResponse, HedgeLayer,
    HttpResponses, RetryLayer, TimeoutLayer,
};
use resilience::{AdaptiveTimeout, Hedge, Outcome, Retry, RetryPolicy, Timeout};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt, service_fn};
use tracing_capture::Capture;

const READY: u8 = 0;
const BUSY: u8 = 1;
const BROKEN: u8 = 2;

/// A downstream whose readiness the test sets: ready, busy (`Pending`),
/// or broken (`poll_ready` fails).
#[derive(Clone, Default)]
struct Gate(Arc<AtomicU8>);

impl Gate {
    fn set(&self, state: u8) {
        self.0.store(state, Ordering::Relaxed);
    }
}

impl Service<u32> for Gate {
    type Response = u32;
    type Error = io::Error;
    type Future = std::future::Ready<io::Result<u32>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.0.load(Ordering::Relaxed) {
            READY => Poll::Ready(Ok(())),
            BUSY => Poll::Pending,
            _ => Poll::Ready(Err(io::Error::other("downstream gone"))),
        }
    }

    fn call(&mut self, n: u32) -> Self::Future {
        std::future::ready(Ok(n))
    }
}

/// What `poll_ready` of `service` says, as the gate below is ready, busy,
/// then broken.
fn readiness<S>(gate: &Gate, service: &mut S) -> Vec<String>
where
    S: Service<u32, Error = BoxError>,
{
    let mut cx = Context::from_waker(Waker::noop());
    [READY, BUSY, BROKEN]
        .into_iter()
        .map(|state| {
            gate.set(state);
            match service.poll_ready(&mut cx) {
                Poll::Ready(Ok(())) => "ready".to_owned(),
                Poll::Pending => "pending".to_owned(),
                Poll::Ready(Err(error)) => format!("error: {error}"),
            }
        })
        .collect()
}

const PASSED_ON: [&str; 3] = ["ready", "pending", "error: downstream gone"];

#[tokio::test(start_paused = true)]
async fn the_breaker_layer_is_ready_when_the_service_below_is() {
    let gate = Gate::default();
    let breaker = Arc::new(CircuitBreaker::new("mtw-breaker", BreakerPolicy::new()));
    let mut service = CircuitBreakerLayer::new(breaker).layer(gate.clone());
    assert_eq!(readiness(&gate, &mut service), PASSED_ON);
}

#[tokio::test(start_paused = true)]
async fn the_timeout_layers_are_ready_when_the_service_below_is() {
    let gate = Gate::default();
    let timeout = Arc::new(Timeout::new("mtw-timeout", Duration::from_millis(50)));
    let mut service = TimeoutLayer::new(timeout).layer(gate.clone());
    assert_eq!(readiness(&gate, &mut service), PASSED_ON);

    let adaptive = Arc::new(AdaptiveTimeout::new(
        "mtw-adaptive-timeout",
        0.99,
        2.0,
        Duration::from_millis(10),
        Duration::from_secs(5),
    ));
    let mut service = AdaptiveTimeoutLayer::new(adaptive).layer(gate.clone());
    assert_eq!(readiness(&gate, &mut service), PASSED_ON);
}

#[tokio::test(start_paused = true)]
async fn the_retry_layer_is_ready_when_the_service_below_is() {
    let gate = Gate::default();
    let retry = Arc::new(Retry::new("mtw-retry", RetryPolicy::new()));
    let mut service = RetryLayer::new(retry).layer(gate.clone());
    assert_eq!(readiness(&gate, &mut service), PASSED_ON);
}

#[tokio::test(start_paused = true)]
async fn the_hedge_layer_is_ready_when_the_service_below_is() {
    let gate = Gate::default();
    let hedge = Arc::new(Hedge::new("mtw-hedge", Duration::from_millis(20), 1));
    let mut service = HedgeLayer::new(hedge).layer(gate.clone());
    assert_eq!(readiness(&gate, &mut service), PASSED_ON);
}

/// What `HttpResponses` calls a response of `status`.
fn judged(status: u16) -> Option<Outcome> {
    let response = axum::http::Response::builder()
        .status(status)
        .body(())
        .unwrap();
    HttpResponses.classify_response(&response)
}

#[test]
fn http_responses_fail_on_5xx_429_and_408_and_pass_the_rest() {
    let transient = Some(Outcome::Transient { retry_after: None });
    assert_eq!(judged(408), transient, "408 Request Timeout: try again");
    assert_eq!(judged(429), transient);
    assert_eq!(judged(503), transient);
    assert_eq!(judged(500), Some(Outcome::Fault));
    for passed in [200, 201, 204, 301, 304, 400, 401, 404, 409] {
        assert_eq!(judged(passed), None, "{passed} is an answer, not a failure");
    }
}

/// A downstream whose n-th call (from 0) answers after `latency(n)`,
/// with `Ok(n)` or, where `fails(n)`, an error.
fn scripted(
    calls: &Arc<AtomicU32>,
    latency: fn(u32) -> Duration,
    fails: fn(u32) -> bool,
) -> impl Service<(), Response = u32, Error = io::Error, Future: Send> + Clone {
    let calls = calls.clone();
    service_fn(move |()| {
        let n = calls.fetch_add(1, Ordering::Relaxed);
        async move {
            tokio::time::sleep(latency(n)).await;
            if fails(n) {
                Err(io::Error::other(format!("attempt {n} failed")))
            } else {
                Ok(n)
            }
        }
    })
}

#[tokio::test(start_paused = true)]
async fn the_hedge_layer_sends_no_more_than_max_hedges() {
    let calls = Arc::new(AtomicU32::new(0));
    // Every attempt takes a second: one hedge goes out at 20 ms, and no
    // more however long the caller waits.
    let hedge = Arc::new(Hedge::new("mtw-hedge-max", Duration::from_millis(20), 1));
    let service =
        HedgeLayer::new(hedge).layer(scripted(&calls, |_| Duration::from_secs(1), |_| false));
    let started = Instant::now();
    assert_eq!(
        service.oneshot(()).await.unwrap(),
        0,
        "the first attempt answered first"
    );
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert_eq!(calls.load(Ordering::Relaxed), 2, "the call and one hedge");
}

#[tokio::test(start_paused = true)]
async fn a_failed_first_attempt_waits_for_the_hedge_in_flight() {
    let calls = Arc::new(AtomicU32::new(0));
    // The call fails at 30 ms; the hedge sent at 20 ms answers at 70 ms.
    let hedge = Arc::new(Hedge::new("mtw-hedge-wait", Duration::from_millis(20), 1));
    let service = HedgeLayer::new(hedge).layer(scripted(
        &calls,
        |n| Duration::from_millis(if n == 0 { 30 } else { 50 }),
        |n| n == 0,
    ));
    let started = Instant::now();
    assert_eq!(service.oneshot(()).await.unwrap(), 1, "the hedge's answer");
    assert_eq!(started.elapsed(), Duration::from_millis(70));
    assert_eq!(calls.load(Ordering::Relaxed), 2);
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_call_through_the_layers_is_logged_under_the_instance_name() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let slow = || {
        service_fn(|()| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, io::Error>(())
        })
    };
    let timeout = Arc::new(Timeout::new("mtw-timeout-log", Duration::from_millis(50)));
    let adaptive = Arc::new(AdaptiveTimeout::new(
        "mtw-adaptive-log",
        0.99,
        2.0,
        Duration::from_millis(10),
        Duration::from_millis(50),
    ));
    assert!(
        TimeoutLayer::new(timeout)
            .layer(slow())
            .oneshot(())
            .await
            .is_err()
    );
    assert!(
        AdaptiveTimeoutLayer::new(adaptive)
            .layer(slow())
            .oneshot(())
            .await
            .is_err()
    );
    for name in ["mtw-timeout-log", "mtw-adaptive-log"] {
        let events = capture.take(name);
        assert!(
            events
                .iter()
                .any(|f| f.get("message").map(String::as_str) == Some("resilience: call timed out")),
            "{name}: {events:?}"
        );
    }
}
