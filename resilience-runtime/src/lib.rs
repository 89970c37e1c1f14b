//! The runtime of [`resilience`](https://docs.rs/resilience): instances
//! that the attribute macros expand into calls against, usable on their own
//! as async wrappers.
//!
//! Depend on `resilience`, which re-exports everything here.

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod bulkhead;
mod classify;
mod rate_limiter;
mod rejection;
mod sync;
mod time;
mod timeout;

pub mod breaker;
#[cfg(feature = "chaos")]
pub mod chaos;
pub mod fallback;
mod hedge;
#[cfg(feature = "reqwest")]
pub mod http;
pub mod latency;
#[doc(hidden)]
pub mod macro_support;
pub mod registry;
pub mod retry;
pub mod rng;

pub use breaker::{BreakerPolicy, CircuitBreaker};
pub use bulkhead::{Bulkhead, BulkheadAcquire, BulkheadFuture, BulkheadPermit, BulkheadSnapshot};
pub use classify::{Classify, Outcome};
pub use hedge::Hedge;
pub use rate_limiter::{RateLimitedFuture, RateLimiter, RateLimiterSnapshot};
pub use rejection::Rejection;
pub use retry::Retry;
pub use timeout::{AdaptiveTimeout, AdaptiveTimeoutSnapshot, Timeout, TimeoutFuture};
