//! Outcome predicates: `retry_on_ok`, `failure_on_ok`, `fallback_if`, and
//! `stale_cache` leaving `Permanent` errors alone. Time runs paused.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience::breaker::{BreakerPolicy, CircuitBreaker, State};
use resilience::{Classify, Outcome, Rejection, circuit_breaker, fallback, hedge, retry};
use tokio::time::Instant;

/// What an HTTP client hands back for a 503: an `Ok`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Response {
    status: u16,
}

fn unavailable(response: &Response) -> bool {
    response.status == 503
}

#[derive(Debug, Clone, PartialEq)]
enum ApiError {
    NotFound,
    Down,
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
            ApiError::NotFound => Outcome::Permanent,
            ApiError::Down => Outcome::TRANSIENT,
            ApiError::Rejected(r) => r.classify(),
        }
    }
}

/// Answers the statuses in order, then the last one again.
struct Server {
    statuses: Mutex<Vec<u16>>,
    calls: AtomicU32,
}

impl Server {
    fn new(statuses: &[u16]) -> Self {
        Server {
            statuses: Mutex::new(statuses.iter().rev().copied().collect()),
            calls: AtomicU32::new(0),
        }
    }

    fn answer(&self) -> Response {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut statuses = self.statuses.lock().unwrap();
        let status = if statuses.len() > 1 {
            statuses.pop().unwrap()
        } else {
            statuses[0]
        };
        Response { status }
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

#[retry(max_attempts = 3, backoff = "fixed", base = "100ms", retry_on_ok = unavailable)]
async fn get_status(server: &Server) -> Result<Response, ApiError> {
    Ok(server.answer())
}

#[tokio::test(start_paused = true)]
async fn an_ok_503_is_retried_until_the_service_answers() {
    let server = Server::new(&[503, 503, 200]);
    let start = Instant::now();
    assert_eq!(get_status(&server).await, Ok(Response { status: 200 }));
    assert_eq!(server.calls(), 3);
    assert_eq!(start.elapsed(), Duration::from_millis(200));
}

#[tokio::test(start_paused = true)]
async fn used_up_retries_on_a_rejected_ok_return_the_last_ok() {
    let server = Server::new(&[503]);
    assert_eq!(get_status(&server).await, Ok(Response { status: 503 }));
    assert_eq!(server.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn an_accepted_ok_is_not_retried() {
    let server = Server::new(&[404]);
    assert_eq!(get_status(&server).await, Ok(Response { status: 404 }));
    assert_eq!(server.calls(), 1);
}

static STATUS_BREAKER: CircuitBreaker =
    CircuitBreaker::new("status", BreakerPolicy::new().failure_threshold(3));

#[retry(max_attempts = 3, backoff = "fixed", base = "100ms", retry_on_ok = unavailable)]
#[circuit_breaker(with = &STATUS_BREAKER, failure_on_ok = unavailable)]
async fn guarded_status(server: &Server) -> Result<Response, ApiError> {
    Ok(server.answer())
}

#[tokio::test(start_paused = true)]
async fn an_ok_503_is_retried_and_counted_as_a_breaker_failure() {
    let server = Server::new(&[503]);
    // Three attempts, three 503s: the last `Ok` comes back, and the
    // breaker counted each one.
    assert_eq!(guarded_status(&server).await, Ok(Response { status: 503 }));
    assert_eq!(server.calls(), 3);
    assert_eq!(STATUS_BREAKER.state(), State::Open);
    // Open: the next call does not reach the server.
    let rejected = guarded_status(&server).await;
    assert!(
        matches!(
            rejected,
            Err(ApiError::Rejected(Rejection::CircuitOpen { .. }))
        ),
        "{rejected:?}"
    );
    assert_eq!(server.calls(), 3);
}

#[circuit_breaker(failure_threshold = 2, failure_on_ok = unavailable)]
async fn counted_status(server: &Server) -> Result<Response, ApiError> {
    Ok(server.answer())
}

#[tokio::test(start_paused = true)]
async fn an_accepted_ok_is_a_success_of_the_breaker() {
    let server = Server::new(&[503, 200, 503, 200]);
    for _ in 0..4 {
        // 503 and 200 alternate: never two failures in a row.
        assert!(counted_status(&server).await.is_ok());
    }
    assert_eq!(server.calls(), 4);
    let server = Server::new(&[503]);
    for _ in 0..2 {
        assert_eq!(counted_status(&server).await, Ok(Response { status: 503 }));
    }
    assert!(matches!(
        counted_status(&server).await,
        Err(ApiError::Rejected(Rejection::CircuitOpen { .. }))
    ));
}

#[hedge(delay = "50ms", retry_on_ok = unavailable)]
async fn hedged_status(server: &Server) -> Result<Response, ApiError> {
    let first = server.calls() == 0;
    let response = server.answer();
    if first {
        // Slow, and then a 503: it answers first, and must not win.
        tokio::time::sleep(Duration::from_millis(60)).await;
    } else {
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    Ok(response)
}

#[tokio::test(start_paused = true)]
async fn a_hedge_does_not_take_a_rejected_ok() {
    let server = Server::new(&[503, 200]);
    let start = Instant::now();
    assert_eq!(hedged_status(&server).await, Ok(Response { status: 200 }));
    assert_eq!(start.elapsed(), Duration::from_millis(80));
    assert_eq!(server.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_hedge_returns_the_last_rejected_ok_when_none_wins() {
    let server = Server::new(&[503]);
    assert_eq!(hedged_status(&server).await, Ok(Response { status: 503 }));
    assert_eq!(server.calls(), 2);
}

fn is_outage(error: &ApiError) -> bool {
    !matches!(error, ApiError::NotFound)
}

#[fallback(fallback_if = is_outage, Ok(Response { status: 299 }))]
async fn with_default(error: ApiError) -> Result<Response, ApiError> {
    Err(error)
}

#[tokio::test(start_paused = true)]
async fn fallback_if_leaves_a_permanent_error_alone() {
    assert_eq!(
        with_default(ApiError::NotFound).await,
        Err(ApiError::NotFound)
    );
    assert_eq!(
        with_default(ApiError::Down).await,
        Ok(Response { status: 299 })
    );
}

static ITEMS: Mutex<Vec<Result<u32, ApiError>>> = Mutex::new(Vec::new());

fn next_item() -> Result<u32, ApiError> {
    ITEMS.lock().unwrap().remove(0)
}

#[fallback(stale_cache(ttl = "10m"))]
async fn item(id: u32) -> Result<u32, ApiError> {
    let _ = id;
    next_item()
}

#[fallback(fallback_if = always, stale_cache(ttl = "10m"))]
async fn item_whatever_the_error(id: u32) -> Result<u32, ApiError> {
    let _ = id;
    next_item()
}

fn always(_: &ApiError) -> bool {
    true
}

#[tokio::test(start_paused = true)]
async fn stale_cache_does_not_answer_a_permanent_error_by_default() {
    // One test for both functions: they share the queue of answers.
    *ITEMS.lock().unwrap() = vec![
        Ok(7),
        Err(ApiError::Down),
        Err(ApiError::NotFound),
        Ok(8),
        Err(ApiError::NotFound),
    ];
    assert_eq!(item(1).await, Ok(7));
    // A passing failure: the last good answer.
    assert_eq!(item(1).await, Ok(7));
    // The item is gone: stale data would be wrong.
    assert_eq!(item(1).await, Err(ApiError::NotFound));
    // `fallback_if` decides instead, for every level.
    assert_eq!(item_whatever_the_error(1).await, Ok(8));
    assert_eq!(item_whatever_the_error(1).await, Ok(8));
}

#[tokio::test(start_paused = true)]
async fn the_runtime_apis_take_the_same_predicates() {
    static R: resilience::Retry = resilience::Retry::new(
        "status",
        resilience::RetryPolicy::new()
            .backoff(resilience::Backoff::Fixed)
            .base(Duration::from_millis(10)),
    );
    let server = Server::new(&[503, 200]);
    let out: Result<Response, ApiError> = R
        .call_with_retry_on_ok(|| async { Ok(server.answer()) }, unavailable)
        .await;
    assert_eq!(out, Ok(Response { status: 200 }));

    let breaker = CircuitBreaker::new("b", BreakerPolicy::new().failure_threshold(1));
    let out: Result<Response, ApiError> = breaker
        .call_with_failure_on_ok(async { Ok(Response { status: 503 }) }, unavailable)
        .await;
    assert_eq!(out, Ok(Response { status: 503 }));
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn the_futures_stay_send() {
    fn assert_send<F: std::future::Future + Send>(_: F) {}
    let server = Server::new(&[200]);
    assert_send(get_status(&server));
    assert_send(guarded_status(&server));
    assert_send(hedged_status(&server));
    assert_send(with_default(ApiError::Down));
    assert_send(item(1));
}
