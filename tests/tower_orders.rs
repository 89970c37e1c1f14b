//! Every one of the 120 orders of five layers type-checks as a
//! `ServiceBuilder` stack without glue, and answers a call (feature
//! `tower`). Generated list; `tests/tower.rs` compares a representative set
//! of orders with the annotated stacks call by call.
#![cfg(feature = "tower")]

use std::io;
use std::sync::Arc;
use std::time::Duration;

use resilience::breaker::{BreakerPolicy, CircuitBreaker};
use resilience::tower::{
    BulkheadLayer, CircuitBreakerLayer, RateLimiterLayer, RetryLayer, TimeoutLayer,
};
use resilience::{Bulkhead, RateLimiter, Retry, RetryPolicy, Timeout};
use tower::{ServiceBuilder, ServiceExt};

fn breaker() -> CircuitBreakerLayer<Arc<CircuitBreaker>> {
    CircuitBreakerLayer::new(Arc::new(CircuitBreaker::named(
        "orders-breaker",
        BreakerPolicy::new(),
    )))
}
fn retry() -> RetryLayer<Arc<Retry>> {
    RetryLayer::new(Arc::new(Retry::named("orders-retry", RetryPolicy::new())))
}
fn timeout() -> TimeoutLayer<Arc<Timeout>> {
    TimeoutLayer::new(Arc::new(Timeout::named(
        "orders-timeout",
        Duration::from_secs(1),
    )))
}
fn bulkhead() -> BulkheadLayer<Arc<Bulkhead>> {
    BulkheadLayer::new(Arc::new(Bulkhead::named("orders-bulkhead", 4)))
}
fn rate_limiter() -> RateLimiterLayer<Arc<RateLimiter>> {
    RateLimiterLayer::new(Arc::new(RateLimiter::named(
        "orders-rate",
        100,
        Duration::from_secs(1),
    )))
}

macro_rules! order {
    ($($layer:ident),+) => {{
        let stack = ServiceBuilder::new()
            $(.layer($layer()))+
            .service_fn(|x: u32| async move { Ok::<_, io::Error>(x + 1) });
        assert_eq!(stack.oneshot(1).await.unwrap(), 2, "order {}", stringify!($($layer),+));
    }};
}

#[tokio::test(start_paused = true)]
async fn every_order_of_five_layers_composes() {
    order!(breaker, retry, timeout, bulkhead, rate_limiter);
    order!(breaker, retry, timeout, rate_limiter, bulkhead);
    order!(breaker, retry, bulkhead, timeout, rate_limiter);
    order!(breaker, retry, bulkhead, rate_limiter, timeout);
    order!(breaker, retry, rate_limiter, timeout, bulkhead);
    order!(breaker, retry, rate_limiter, bulkhead, timeout);
    order!(breaker, timeout, retry, bulkhead, rate_limiter);
    order!(breaker, timeout, retry, rate_limiter, bulkhead);
    order!(breaker, timeout, bulkhead, retry, rate_limiter);
    order!(breaker, timeout, bulkhead, rate_limiter, retry);
    order!(breaker, timeout, rate_limiter, retry, bulkhead);
    order!(breaker, timeout, rate_limiter, bulkhead, retry);
    order!(breaker, bulkhead, retry, timeout, rate_limiter);
    order!(breaker, bulkhead, retry, rate_limiter, timeout);
    order!(breaker, bulkhead, timeout, retry, rate_limiter);
    order!(breaker, bulkhead, timeout, rate_limiter, retry);
    order!(breaker, bulkhead, rate_limiter, retry, timeout);
    order!(breaker, bulkhead, rate_limiter, timeout, retry);
    order!(breaker, rate_limiter, retry, timeout, bulkhead);
    order!(breaker, rate_limiter, retry, bulkhead, timeout);
    order!(breaker, rate_limiter, timeout, retry, bulkhead);
    order!(breaker, rate_limiter, timeout, bulkhead, retry);
    order!(breaker, rate_limiter, bulkhead, retry, timeout);
    order!(breaker, rate_limiter, bulkhead, timeout, retry);
    order!(retry, breaker, timeout, bulkhead, rate_limiter);
    order!(retry, breaker, timeout, rate_limiter, bulkhead);
    order!(retry, breaker, bulkhead, timeout, rate_limiter);
    order!(retry, breaker, bulkhead, rate_limiter, timeout);
    order!(retry, breaker, rate_limiter, timeout, bulkhead);
    order!(retry, breaker, rate_limiter, bulkhead, timeout);
    order!(retry, timeout, breaker, bulkhead, rate_limiter);
    order!(retry, timeout, breaker, rate_limiter, bulkhead);
    order!(retry, timeout, bulkhead, breaker, rate_limiter);
    order!(retry, timeout, bulkhead, rate_limiter, breaker);
    order!(retry, timeout, rate_limiter, breaker, bulkhead);
    order!(retry, timeout, rate_limiter, bulkhead, breaker);
    order!(retry, bulkhead, breaker, timeout, rate_limiter);
    order!(retry, bulkhead, breaker, rate_limiter, timeout);
    order!(retry, bulkhead, timeout, breaker, rate_limiter);
    order!(retry, bulkhead, timeout, rate_limiter, breaker);
    order!(retry, bulkhead, rate_limiter, breaker, timeout);
    order!(retry, bulkhead, rate_limiter, timeout, breaker);
    order!(retry, rate_limiter, breaker, timeout, bulkhead);
    order!(retry, rate_limiter, breaker, bulkhead, timeout);
    order!(retry, rate_limiter, timeout, breaker, bulkhead);
    order!(retry, rate_limiter, timeout, bulkhead, breaker);
    order!(retry, rate_limiter, bulkhead, breaker, timeout);
    order!(retry, rate_limiter, bulkhead, timeout, breaker);
    order!(timeout, breaker, retry, bulkhead, rate_limiter);
    order!(timeout, breaker, retry, rate_limiter, bulkhead);
    order!(timeout, breaker, bulkhead, retry, rate_limiter);
    order!(timeout, breaker, bulkhead, rate_limiter, retry);
    order!(timeout, breaker, rate_limiter, retry, bulkhead);
    order!(timeout, breaker, rate_limiter, bulkhead, retry);
    order!(timeout, retry, breaker, bulkhead, rate_limiter);
    order!(timeout, retry, breaker, rate_limiter, bulkhead);
    order!(timeout, retry, bulkhead, breaker, rate_limiter);
    order!(timeout, retry, bulkhead, rate_limiter, breaker);
    order!(timeout, retry, rate_limiter, breaker, bulkhead);
    order!(timeout, retry, rate_limiter, bulkhead, breaker);
    order!(timeout, bulkhead, breaker, retry, rate_limiter);
    order!(timeout, bulkhead, breaker, rate_limiter, retry);
    order!(timeout, bulkhead, retry, breaker, rate_limiter);
    order!(timeout, bulkhead, retry, rate_limiter, breaker);
    order!(timeout, bulkhead, rate_limiter, breaker, retry);
    order!(timeout, bulkhead, rate_limiter, retry, breaker);
    order!(timeout, rate_limiter, breaker, retry, bulkhead);
    order!(timeout, rate_limiter, breaker, bulkhead, retry);
    order!(timeout, rate_limiter, retry, breaker, bulkhead);
    order!(timeout, rate_limiter, retry, bulkhead, breaker);
    order!(timeout, rate_limiter, bulkhead, breaker, retry);
    order!(timeout, rate_limiter, bulkhead, retry, breaker);
    order!(bulkhead, breaker, retry, timeout, rate_limiter);
    order!(bulkhead, breaker, retry, rate_limiter, timeout);
    order!(bulkhead, breaker, timeout, retry, rate_limiter);
    order!(bulkhead, breaker, timeout, rate_limiter, retry);
    order!(bulkhead, breaker, rate_limiter, retry, timeout);
    order!(bulkhead, breaker, rate_limiter, timeout, retry);
    order!(bulkhead, retry, breaker, timeout, rate_limiter);
    order!(bulkhead, retry, breaker, rate_limiter, timeout);
    order!(bulkhead, retry, timeout, breaker, rate_limiter);
    order!(bulkhead, retry, timeout, rate_limiter, breaker);
    order!(bulkhead, retry, rate_limiter, breaker, timeout);
    order!(bulkhead, retry, rate_limiter, timeout, breaker);
    order!(bulkhead, timeout, breaker, retry, rate_limiter);
    order!(bulkhead, timeout, breaker, rate_limiter, retry);
    order!(bulkhead, timeout, retry, breaker, rate_limiter);
    order!(bulkhead, timeout, retry, rate_limiter, breaker);
    order!(bulkhead, timeout, rate_limiter, breaker, retry);
    order!(bulkhead, timeout, rate_limiter, retry, breaker);
    order!(bulkhead, rate_limiter, breaker, retry, timeout);
    order!(bulkhead, rate_limiter, breaker, timeout, retry);
    order!(bulkhead, rate_limiter, retry, breaker, timeout);
    order!(bulkhead, rate_limiter, retry, timeout, breaker);
    order!(bulkhead, rate_limiter, timeout, breaker, retry);
    order!(bulkhead, rate_limiter, timeout, retry, breaker);
    order!(rate_limiter, breaker, retry, timeout, bulkhead);
    order!(rate_limiter, breaker, retry, bulkhead, timeout);
    order!(rate_limiter, breaker, timeout, retry, bulkhead);
    order!(rate_limiter, breaker, timeout, bulkhead, retry);
    order!(rate_limiter, breaker, bulkhead, retry, timeout);
    order!(rate_limiter, breaker, bulkhead, timeout, retry);
    order!(rate_limiter, retry, breaker, timeout, bulkhead);
    order!(rate_limiter, retry, breaker, bulkhead, timeout);
    order!(rate_limiter, retry, timeout, breaker, bulkhead);
    order!(rate_limiter, retry, timeout, bulkhead, breaker);
    order!(rate_limiter, retry, bulkhead, breaker, timeout);
    order!(rate_limiter, retry, bulkhead, timeout, breaker);
    order!(rate_limiter, timeout, breaker, retry, bulkhead);
    order!(rate_limiter, timeout, breaker, bulkhead, retry);
    order!(rate_limiter, timeout, retry, breaker, bulkhead);
    order!(rate_limiter, timeout, retry, bulkhead, breaker);
    order!(rate_limiter, timeout, bulkhead, breaker, retry);
    order!(rate_limiter, timeout, bulkhead, retry, breaker);
    order!(rate_limiter, bulkhead, breaker, retry, timeout);
    order!(rate_limiter, bulkhead, breaker, timeout, retry);
    order!(rate_limiter, bulkhead, retry, breaker, timeout);
    order!(rate_limiter, bulkhead, retry, timeout, breaker);
    order!(rate_limiter, bulkhead, timeout, breaker, retry);
    order!(rate_limiter, bulkhead, timeout, retry, breaker);
}
