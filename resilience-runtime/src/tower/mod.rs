//! Every instance as a [`tower::Layer`](tower_layer::Layer) (feature
//! `tower`), so one breaker, bulkhead or rate limiter guards an annotated
//! function and an axum, tonic, hyper or tower stack at once.
//!
//! | instance | layer | what its service does in `poll_ready` |
//! |---|---|---|
//! | [`CircuitBreaker`](crate::CircuitBreaker) | [`CircuitBreakerLayer`] | forwards the inner service's readiness; the breaker is asked in `call` |
//! | [`Bulkhead`](crate::Bulkhead) | [`BulkheadLayer`] | reserves a permit (waiting up to `max_wait`), then forwards |
//! | [`AdaptiveConcurrency`](crate::AdaptiveConcurrency) | [`AdaptiveConcurrencyLayer`] | reserves a place at the layer's priority (waiting up to `max_wait`), then forwards |
//! | [`RateLimiter`](crate::RateLimiter) | [`RateLimiterLayer`] | takes a turn (waiting up to `max_wait`), then forwards |
//! | [`Timeout`](crate::Timeout), [`AdaptiveTimeout`](crate::AdaptiveTimeout) | [`TimeoutLayer`], [`AdaptiveTimeoutLayer`] | forwards (waiting for readiness is not timed) |
//! | [`Retry`](crate::Retry) | [`RetryLayer`] | forwards (each retry polls a clone of the inner service ready) |
//! | [`Hedge`](crate::Hedge) | [`HedgeLayer`] | forwards (each hedge polls a clone of the inner service ready) |
//!
//! A permit or turn reserved in `poll_ready` belongs to that service
//! value: the next `call` takes it, and dropping the service without a
//! `call` gives it back (so `poll_ready` without `call` leaks nothing,
//! as tower's conventions ask). A bulkhead or rate limiter that refuses
//! in `poll_ready` does not return the refusal from `poll_ready` (which
//! tower reads as "this service is broken"): `poll_ready` is ready and the
//! next `call` answers with the [`Rejection`] at once, without calling the
//! inner service, as tower's `LoadShed` does.
//!
//! # Instances
//!
//! A layer takes its instance as any `Clone` handle that dereferences to
//! it: a `&'static` instance (the same one an annotated function's `with =
//! &STATIC` names), an `Arc` (one per host or tenant), or the `Arc` of a
//! named instance from [`registry::get_or_register`](crate::registry::get_or_register),
//! which `#[circuit_breaker(name = "…")]` and the others share.
//!
//! # Errors
//!
//! Every service here has the error type [`BoxError`] (tower's own:
//! `Box<dyn Error + Send + Sync>`), holding the inner service's error or a
//! [`Rejection`], so the layers stack in a `ServiceBuilder` in any order,
//! mixed with tower's own, without glue. Find a rejection with
//! `error.downcast_ref::<Rejection>()`. Errors are classified as a
//! `Box<dyn Error>` is (by the first error of a known type along the
//! `source()` chain: [`Rejection`], `std::io::Error`, with feature
//! `reqwest` the `reqwest` and [`http`](crate::http) errors).
//!
//! # Responses
//!
//! For an HTTP service, a response can fail without being an error: call
//! `.http()` on the breaker, retry or hedge layer and a 5xx or 429 response
//! counts as a failure, and the `Retry-After` of a 429 or 503 sets the next
//! retry's delay, as in [`http`](crate::http) (the response itself is still
//! returned when no retry follows). [`ClassifyResponse`] is the trait to
//! classify other response types.
//!
//! # Examples
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use resilience::breaker::{BreakerPolicy, CircuitBreaker};
//! use resilience::tower::{CircuitBreakerLayer, TimeoutLayer};
//! use resilience::{Rejection, Timeout};
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! static INVENTORY: CircuitBreaker = CircuitBreaker::new("inventory", BreakerPolicy::new());
//! static LOOKUP: Timeout = Timeout::new("lookup", Duration::from_secs(1));
//!
//! let service = ServiceBuilder::new()
//!     .layer(CircuitBreakerLayer::new(&INVENTORY))
//!     .layer(TimeoutLayer::new(&LOOKUP))
//!     .service_fn(|sku: u32| async move { Ok::<_, std::io::Error>(sku * 2) });
//! assert_eq!(service.clone().oneshot(21).await.unwrap(), 42);
//!
//! INVENTORY.force_open();
//! let refused = service.oneshot(21).await.unwrap_err();
//! assert!(matches!(refused.downcast_ref::<Rejection>(), Some(Rejection::CircuitOpen { .. })));
//! # }
//! ```

mod adaptive_concurrency;
mod breaker;
mod bulkhead;
mod classify;
mod hedge;
mod rate_limiter;
mod retry;
mod timeout;

pub use adaptive_concurrency::{
    AdaptiveConcurrencyLayer, AdaptiveConcurrencyService, AdaptiveConcurrencyServiceFuture,
};
pub use breaker::{CircuitBreakerLayer, CircuitBreakerService, CircuitBreakerServiceFuture};
pub use bulkhead::{BulkheadLayer, BulkheadService, BulkheadServiceFuture};
pub use classify::{ClassifyResponse, HttpResponses, NoResponses};
pub use hedge::{HedgeLayer, HedgeService, HedgeServiceFuture};
pub use rate_limiter::{RateLimiterLayer, RateLimiterService, RateLimiterServiceFuture};
pub use retry::{RetryLayer, RetryService, RetryServiceFuture};
pub use timeout::{
    AdaptiveTimeoutLayer, TimeLimit, TimeLimitLayer, TimeoutLayer, TimeoutService,
    TimeoutServiceFuture,
};

/// The error of every service here: the inner service's error or a
/// [`Rejection`], boxed (the same type as `tower::BoxError`).
///
/// ```
/// use resilience::Rejection;
/// use resilience::tower::BoxError;
///
/// let error: BoxError = Box::new(Rejection::bulkhead_full("db"));
/// assert!(error.downcast_ref::<Rejection>().is_some());
/// ```
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

use crate::Rejection;

/// A rejection as the services' error.
#[cold]
fn rejected(rejection: Rejection) -> BoxError {
    Box::new(rejection)
}
