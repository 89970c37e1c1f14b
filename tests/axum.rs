//! An axum server behind our layers (feature `axum`), over real HTTP on
//! loopback: what a client sees when a request is refused, one breaker
//! shared with an annotated function, and cancelled requests leaking
//! nothing. Time runs paused (the server's timers are ours only, so the
//! clock moves only when every task waits on one).
#![cfg(feature = "axum")]

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use resilience::axum::LoadShedLayer;
use resilience::breaker::{BreakerPolicy, CircuitBreaker, State};
use resilience::tower::{BulkheadLayer, CircuitBreakerLayer, RateLimiterLayer, TimeoutLayer};
use resilience::{Bulkhead, RateLimiter, Rejection, Timeout, circuit_breaker};
use tower::ServiceBuilder;

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A client that talks to 127.0.0.1 directly and keeps no idle
/// connections (whose timers would move the paused clock).
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

struct Answer {
    status: StatusCode,
    retry_after: Option<String>,
    body: String,
}

async fn get_answer(addr: SocketAddr, path: &str) -> Answer {
    let response = client()
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .expect("the server answers");
    Answer {
        status: response.status(),
        retry_after: response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned()),
        body: response.text().await.unwrap(),
    }
}

#[tokio::test(start_paused = true)]
async fn rate_limited_is_429_with_retry_after() {
    static RATE: RateLimiter = RateLimiter::new("axum-rate", 1, Duration::from_secs(10)).burst(1);
    let app = Router::new().route("/", get(|| async { "hello" })).layer(
        ServiceBuilder::new()
            .layer(LoadShedLayer::new())
            .layer(RateLimiterLayer::new(&RATE)),
    );
    let addr = serve(app).await;
    let first = get_answer(addr, "/").await;
    assert_eq!(
        (first.status, first.body.as_str()),
        (StatusCode::OK, "hello")
    );
    let refused = get_answer(addr, "/").await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.retry_after.as_deref(), Some("10"));
    assert_eq!(
        refused.body,
        Rejection::rate_limited("axum-rate", Duration::from_secs(10)).to_string()
    );
}

#[tokio::test(start_paused = true)]
async fn bulkhead_full_is_503_with_retry_after() {
    static POOL: Bulkhead = Bulkhead::new("axum-pool", 1);
    let app = Router::new().route("/", get(|| async { "hello" })).layer(
        ServiceBuilder::new()
            .layer(LoadShedLayer::new().bulkhead_retry_after(Duration::from_secs(2)))
            .layer(BulkheadLayer::new(&POOL)),
    );
    let addr = serve(app).await;
    assert_eq!(get_answer(addr, "/").await.status, StatusCode::OK);
    let inside = POOL.try_acquire().unwrap();
    let refused = get_answer(addr, "/").await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.retry_after.as_deref(), Some("2"));
    assert_eq!(refused.body, "bulkhead `axum-pool` is full");
    drop(inside);
    assert_eq!(get_answer(addr, "/").await.status, StatusCode::OK);
    assert_eq!(POOL.snapshot().in_use, 0);
}

#[tokio::test(start_paused = true)]
async fn circuit_open_after_5xx_answers_is_503_with_retry_after() {
    static BREAKER: CircuitBreaker = CircuitBreaker::new(
        "axum-breaker",
        BreakerPolicy::new()
            .failure_threshold(2)
            .open_for(Duration::from_secs(30)),
    );
    let app = Router::new()
        .route(
            "/",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .layer(
            ServiceBuilder::new()
                .layer(LoadShedLayer::new())
                .layer(CircuitBreakerLayer::new(&BREAKER).http()),
        );
    let addr = serve(app).await;
    for _ in 0..2 {
        let failed = get_answer(addr, "/").await;
        assert_eq!(
            (failed.status, failed.body.as_str()),
            (StatusCode::INTERNAL_SERVER_ERROR, "boom")
        );
    }
    assert_eq!(BREAKER.state(), State::Open);
    let refused = get_answer(addr, "/").await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.retry_after.as_deref(), Some("30"));
    assert_eq!(
        refused.body,
        Rejection::circuit_open("axum-breaker", Duration::from_secs(30)).to_string()
    );
}

#[tokio::test(start_paused = true)]
async fn timeout_is_504_without_retry_after() {
    static SLOW: Timeout = Timeout::new("axum-timeout", Duration::from_millis(100));
    let app = Router::new()
        .route(
            "/",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "too late"
            }),
        )
        .layer(
            ServiceBuilder::new()
                .layer(LoadShedLayer::new())
                .layer(TimeoutLayer::new(&SLOW)),
        );
    let addr = serve(app).await;
    let started = tokio::time::Instant::now();
    let refused = get_answer(addr, "/").await;
    assert_eq!(started.elapsed(), Duration::from_millis(100));
    assert_eq!(refused.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(refused.retry_after, None);
    assert_eq!(refused.body, "`axum-timeout` timed out after 100ms");
}

static SHARED: CircuitBreaker = CircuitBreaker::new(
    "axum-shared",
    BreakerPolicy::new()
        .failure_threshold(2)
        .open_for(Duration::from_secs(60)),
);

/// The same downstream, called from a background job.
#[circuit_breaker(with = &SHARED)]
async fn inventory_job(healthy: bool) -> io::Result<&'static str> {
    if healthy {
        Ok("counted")
    } else {
        Err(io::ErrorKind::ConnectionRefused.into())
    }
}

#[tokio::test(start_paused = true)]
async fn one_breaker_guards_an_annotated_fn_and_a_route() {
    SHARED.reset();
    let app = Router::new()
        .route("/ok", get(|| async { "in stock" }))
        .route("/down", get(|| async { StatusCode::BAD_GATEWAY }))
        .layer(
            ServiceBuilder::new()
                .layer(LoadShedLayer::new())
                .layer(CircuitBreakerLayer::new(&SHARED).http()),
        );
    let addr = serve(app).await;

    // Opened by the annotated function: the route refuses.
    for _ in 0..2 {
        assert!(inventory_job(false).await.is_err());
    }
    let refused = get_answer(addr, "/ok").await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.retry_after.as_deref(), Some("60"));

    // Opened by the route's 502s: the annotated function refuses.
    SHARED.reset();
    assert_eq!(get_answer(addr, "/ok").await.body, "in stock");
    for _ in 0..2 {
        assert_eq!(
            get_answer(addr, "/down").await.status,
            StatusCode::BAD_GATEWAY
        );
    }
    let refused = inventory_job(true).await.unwrap_err();
    let rejection = refused
        .get_ref()
        .and_then(|e| e.downcast_ref::<Rejection>())
        .expect("a rejection");
    assert!(matches!(rejection, Rejection::CircuitOpen { .. }));
}

#[tokio::test(start_paused = true)]
async fn a_request_the_client_abandons_mid_flight_leaks_no_permit() {
    static POOL: Bulkhead = Bulkhead::new("axum-cancel-pool", 1);
    static BREAKER: CircuitBreaker = CircuitBreaker::new(
        "axum-cancel-breaker",
        BreakerPolicy::new()
            .failure_threshold(1)
            .open_for(Duration::from_secs(5)),
    );
    let app = Router::new()
        .route("/hang", get(std::future::pending::<&'static str>))
        .layer(
            ServiceBuilder::new()
                .layer(LoadShedLayer::new())
                .layer(CircuitBreakerLayer::new(&BREAKER))
                .layer(BulkheadLayer::new(&POOL)),
        );
    let addr = serve(app).await;
    // Half-open: the hanging request is the one trial.
    BREAKER.try_acquire().unwrap().failure();
    tokio::time::advance(Duration::from_secs(5)).await;

    let request = tokio::spawn(client().get(format!("http://{addr}/hang")).send());
    wait_until(|| POOL.snapshot().in_use == 1).await;
    assert_eq!(BREAKER.snapshot().trials_in_flight, 1);
    request.abort();
    // The server sees the connection close and drops the request.
    wait_until(|| POOL.snapshot().in_use == 0).await;
    wait_until(|| BREAKER.snapshot().trials_in_flight == 0).await;
    assert_eq!(
        BREAKER.state(),
        State::HalfOpen,
        "an abandoned trial is no verdict"
    );
}

/// Waits (on the paused clock, in 1 ms steps, at most 10 s of it) until
/// `done` holds.
async fn wait_until(done: impl Fn() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("still not done after 10 s");
}

#[tokio::test(start_paused = true)]
async fn a_handler_returning_a_rejection_answers_its_status_and_retry_after_rounded_up() {
    let app = Router::new()
        .route(
            "/rate",
            get(|| async {
                Err::<&str, _>(Rejection::rate_limited(
                    "handler-rate",
                    Duration::from_millis(1500),
                ))
            }),
        )
        .route(
            "/exact",
            get(|| async {
                Err::<&str, _>(Rejection::rate_limited(
                    "handler-exact",
                    Duration::from_secs(2),
                ))
            }),
        );
    let addr = serve(app).await;
    let rate = get_answer(addr, "/rate").await;
    assert_eq!(rate.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        rate.retry_after.as_deref(),
        Some("2"),
        "1.5 s rounds up: a client that waits that long is not early"
    );
    let exact = get_answer(addr, "/exact").await;
    assert_eq!(exact.retry_after.as_deref(), Some("2"));
}

/// A service that is never ready: its `poll_ready` fails with `error`.
#[derive(Clone)]
struct NeverReady(Rejection);

impl tower::Service<axum::http::Request<axum::body::Body>> for NeverReady {
    type Response = &'static str;
    type Error = Rejection;
    type Future = std::future::Ready<Result<&'static str, Rejection>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Rejection>> {
        std::task::Poll::Ready(Err(self.0.clone()))
    }

    fn call(&mut self, _: axum::http::Request<axum::body::Body>) -> Self::Future {
        std::future::ready(Ok("called while not ready"))
    }
}

#[tokio::test(start_paused = true)]
async fn a_layer_below_that_refuses_in_poll_ready_is_answered_not_called() {
    use tower::{Layer, ServiceExt};
    let refusal = Rejection::rate_limited("not-ready", Duration::from_secs(3));
    let service = LoadShedLayer::new().layer(NeverReady(refusal));
    let response = service
        .oneshot(axum::http::Request::new(axum::body::Body::empty()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "3");
}
