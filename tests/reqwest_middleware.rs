//! A reqwest-middleware client through our instances (feature
//! `reqwest-middleware`), against an axum server on loopback: Retry-After
//! honoured, only idempotent requests retried, 5xx opening the breaker,
//! timeouts per attempt. Time runs paused.
#![cfg(feature = "reqwest-middleware")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use reqwest_middleware::ClientWithMiddleware;
use resilience::breaker::{BreakerPolicy, CircuitBreaker};
use resilience::reqwest_middleware::ResilienceMiddleware;
use resilience::{Backoff, Jitter, Rejection, Retry, RetryPolicy, Timeout};
use tokio::time::Instant;

type Hits = Arc<AtomicU32>;

fn busy(retry_after: &'static str, code: u16) -> Response {
    (
        StatusCode::from_u16(code).unwrap(),
        [("retry-after", retry_after)],
        "busy",
    )
        .into_response()
}

/// `/flaky` answers 503 (Retry-After: 2), then 429 (Retry-After: 1), then
/// 200; `/busy` always 503 (Retry-After: 1); `/broken` 500; `/missing`
/// 404; `/slow` answers after 10 s. Every request counts in `Hits`.
async fn serve() -> (SocketAddr, Hits) {
    let hits = Hits::default();
    let count = |hits: &Hits| hits.fetch_add(1, Ordering::Relaxed);
    let app = Router::new()
        .route(
            "/flaky",
            get(move |State(hits): State<Hits>| async move {
                match count(&hits) {
                    0 => busy("2", 503),
                    1 => busy("1", 429),
                    _ => "fine".into_response(),
                }
            }),
        )
        .route(
            "/busy",
            get(move |State(hits): State<Hits>| async move {
                count(&hits);
                busy("1", 503)
            })
            .post(move |State(hits): State<Hits>| async move {
                count(&hits);
                busy("1", 503)
            }),
        )
        .route(
            "/broken",
            get(move |State(hits): State<Hits>| async move {
                count(&hits);
                StatusCode::INTERNAL_SERVER_ERROR
            }),
        )
        .route(
            "/missing",
            get(move |State(hits): State<Hits>| async move {
                count(&hits);
                StatusCode::NOT_FOUND
            }),
        )
        .route(
            "/slow",
            get(move |State(hits): State<Hits>| async move {
                count(&hits);
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            }),
        )
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, hits)
}

fn client(middleware: ResilienceMiddleware) -> ClientWithMiddleware {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    reqwest_middleware::ClientBuilder::new(client)
        .with(middleware)
        .build()
}

fn retry(name: &'static str) -> Arc<Retry> {
    let policy = RetryPolicy::new()
        .max_attempts(4)
        .backoff(Backoff::Fixed)
        .base(Duration::from_millis(10))
        .max_delay(Duration::from_secs(5))
        .jitter(Jitter::None);
    Arc::new(Retry::named(name, policy))
}

fn rejection(error: &reqwest_middleware::Error) -> &Rejection {
    match error {
        reqwest_middleware::Error::Middleware(e) => {
            e.downcast_ref::<Rejection>().expect("a rejection")
        }
        other => panic!("not a rejection: {other}"),
    }
}

#[tokio::test(start_paused = true)]
async fn retries_wait_for_the_servers_retry_after() {
    let (addr, hits) = serve().await;
    let client = client(ResilienceMiddleware::new().retry(retry("mw-retry-after")));
    let started = Instant::now();
    let response = client
        .get(format!("http://{addr}/flaky"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "fine");
    assert_eq!(hits.load(Ordering::Relaxed), 3);
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(3),
        "2 s, then 1 s, as asked"
    );
}

#[tokio::test(start_paused = true)]
async fn a_post_is_not_retried_unless_asked_and_a_404_never() {
    let (addr, hits) = serve().await;
    let client_default = client(ResilienceMiddleware::new().retry(retry("mw-post")));
    let response = client_default
        .post(format!("http://{addr}/busy"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "the last answer comes back"
    );
    assert_eq!(hits.load(Ordering::Relaxed), 1, "POST sent once");

    hits.store(0, Ordering::Relaxed);
    let response = client_default
        .get(format!("http://{addr}/missing"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(hits.load(Ordering::Relaxed), 1, "404 sent once");

    hits.store(0, Ordering::Relaxed);
    let any = client(
        ResilienceMiddleware::new()
            .retry(retry("mw-post-any"))
            .retry_any_method(true),
    );
    let started = Instant::now();
    let response = any
        .post(format!("http://{addr}/busy"))
        .body("order")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(hits.load(Ordering::Relaxed), 4, "every attempt used");
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(3),
        "1 s before each retry"
    );
}

#[tokio::test(start_paused = true)]
async fn five_hundreds_open_the_breaker_and_it_refuses_without_sending() {
    let (addr, hits) = serve().await;
    let breaker = Arc::new(CircuitBreaker::named(
        "mw-breaker",
        BreakerPolicy::new()
            .failure_threshold(2)
            .open_for(Duration::from_secs(30)),
    ));
    let client = client(
        ResilienceMiddleware::new()
            .circuit_breaker(breaker.clone())
            .retry(retry("mw-breaker-retry")),
    );
    for _ in 0..2 {
        let response = client
            .get(format!("http://{addr}/broken"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    assert_eq!(
        hits.load(Ordering::Relaxed),
        2,
        "a 500 is not retried by a non-idempotent policy"
    );
    let error = client
        .get(format!("http://{addr}/broken"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        rejection(&error),
        &Rejection::circuit_open("mw-breaker", Duration::from_secs(30))
    );
    assert_eq!(hits.load(Ordering::Relaxed), 2, "refused without sending");
}

/// Sends `GET /slow` (10 s) and returns how long until it was refused
/// with a timeout.
async fn timed_out(client: &ClientWithMiddleware, addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let error = client
        .get(format!("http://{addr}/slow"))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(rejection(&error), Rejection::Timeout { .. }));
    started.elapsed()
}

#[tokio::test(start_paused = true)]
async fn a_timeout_below_the_retry_is_per_attempt() {
    static PER_TRY: Timeout = Timeout::new("mw-timeout", Duration::from_millis(200));
    let (addr, hits) = serve().await;
    let retry = Arc::new(Retry::named(
        "mw-timeout-retry",
        RetryPolicy::new()
            .max_attempts(2)
            .backoff(Backoff::Fixed)
            .base(Duration::from_millis(10))
            .jitter(Jitter::None),
    ));
    let client = client(ResilienceMiddleware::new().retry(retry).timeout(&PER_TRY));
    let took = timed_out(&client, addr).await;
    assert_eq!(hits.load(Ordering::Relaxed), 2);
    assert_eq!(
        took,
        Duration::from_millis(410),
        "two tries of 200 ms, 10 ms apart"
    );
}

#[tokio::test(start_paused = true)]
async fn an_adaptive_timeout_step_cuts_a_request_at_its_max_until_it_has_samples() {
    static ADAPTIVE: resilience::AdaptiveTimeout = resilience::AdaptiveTimeout::new(
        "mw-adaptive",
        0.99,
        2.0,
        Duration::from_millis(50),
        Duration::from_secs(2),
    );
    let (addr, _hits) = serve().await;
    let client = client(ResilienceMiddleware::new().adaptive_timeout(&ADAPTIVE));
    let took = timed_out(&client, addr).await;
    assert_eq!(took, Duration::from_secs(2), "its max");
}

#[tokio::test(start_paused = true)]
async fn a_bulkhead_step_refuses_a_request_over_its_permits_without_sending_it() {
    static ONE: resilience::Bulkhead = resilience::Bulkhead::new("mw-bulkhead", 1);
    let (addr, hits) = serve().await;
    let client = client(ResilienceMiddleware::new().bulkhead(&ONE));
    let slow = tokio::spawn({
        let client = client.clone();
        async move { client.get(format!("http://{addr}/slow")).send().await }
    });
    // The first request reaches the server (yields, counted: the paused
    // clock does not move while this task runs).
    for _ in 0..100_000 {
        if hits.load(Ordering::Relaxed) > 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(hits.load(Ordering::Relaxed), 1, "the first request is in");
    let error = client
        .get(format!("http://{addr}/missing"))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(rejection(&error), Rejection::BulkheadFull { .. }));
    assert_eq!(hits.load(Ordering::Relaxed), 1, "not sent");
    assert!(slow.await.unwrap().is_ok(), "the one holding the permit");
}

#[tokio::test(start_paused = true)]
async fn a_rate_limiter_step_refuses_a_request_over_the_rate_without_sending_it() {
    static ONE_A_MINUTE: resilience::RateLimiter =
        resilience::RateLimiter::new("mw-rate", 1, Duration::from_secs(60));
    let (addr, hits) = serve().await;
    let client = client(ResilienceMiddleware::new().rate_limiter(&ONE_A_MINUTE));
    let url = format!("http://{addr}/missing");
    assert_eq!(client.get(&url).send().await.unwrap().status(), 404);
    let error = client.get(&url).send().await.unwrap_err();
    assert!(matches!(rejection(&error), Rejection::RateLimited { .. }));
    assert_eq!(hits.load(Ordering::Relaxed), 1, "not sent");
}
