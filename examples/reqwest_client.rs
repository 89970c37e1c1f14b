//! A reqwest-middleware client with a circuit breaker, a retry and a
//! per-attempt timeout (feature `reqwest-middleware`), against a local
//! server that is busy (503 with `Retry-After: 1`) for its first two
//! requests, then answers.
//!
//! ```text
//! cargo run --example reqwest_client --features reqwest-middleware
//! ```

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use resilience::breaker::{BreakerPolicy, CircuitBreaker};
use resilience::reqwest_middleware::ResilienceMiddleware;
use resilience::{Retry, RetryPolicy, Timeout};
use tokio::time::Instant;

/// One breaker for the pricing service, shared by every client and by any
/// `#[circuit_breaker(with = &PRICING)]` function.
static PRICING: CircuitBreaker = CircuitBreaker::new(
    "pricing",
    BreakerPolicy::new()
        .failure_threshold(5)
        .open_for(Duration::from_secs(30)),
);
static PRICING_RETRY: Retry = Retry::new(
    "pricing-retry",
    RetryPolicy::new()
        .max_attempts(4)
        .base(Duration::from_millis(100)),
);
static PRICING_TIMEOUT: Timeout = Timeout::new("pricing-timeout", Duration::from_secs(2));

static REQUESTS: AtomicU32 = AtomicU32::new(0);

async fn price() -> impl IntoResponse {
    match REQUESTS.fetch_add(1, Ordering::Relaxed) {
        0 | 1 => (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", "1")],
            "busy",
        )
            .into_response(),
        _ => "42.00 EUR".into_response(),
    }
}

#[tokio::main]
async fn main() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/price", get(price));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let client = reqwest_middleware::ClientBuilder::new(
        reqwest::Client::builder().no_proxy().build().unwrap(),
    )
    .with(
        ResilienceMiddleware::new()
            .circuit_breaker(&PRICING)
            .retry(&PRICING_RETRY)
            // Below the retry: each attempt gets 2 s.
            .timeout(&PRICING_TIMEOUT),
    )
    .build();

    let started = Instant::now();
    let response = client
        .get(format!("http://{addr}/price"))
        .send()
        .await
        .unwrap();
    println!(
        "{} {:?} after {} requests and {:.1?} (the server asked for 1 s twice)",
        response.status(),
        response.text().await.unwrap(),
        REQUESTS.load(Ordering::Relaxed),
        started.elapsed()
    );
    println!("breaker: {:?}", PRICING.snapshot().state);
}
