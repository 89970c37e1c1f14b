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
#[cfg(feature = "redis")]
pub mod redis;
pub mod registry;
pub mod retry;
pub mod rng;

// What the root exports, the same for every layer: the instance
// (`<Layer>`), its `<Layer>Policy` where its settings are a type of their
// own, and the `<Layer>Permit`, `<Layer>Future` and `<Layer>Snapshot` it
// hands out, each under that name (the breaker's prefix is `Breaker`),
// plus the types a layer's constructors take (`WindowSize`, `Backoff`,
// `Jitter`, `RetryBudget`). Everything else of a layer stays in its
// module. The facade (`resilience`) re-exports this list as it is.
//
// Getters carry no `get_` (`RateLimiter::rate`, `Timeout::duration`),
// except where the bare name is the const builder method that sets the
// value (`RetryPolicy::max_attempts(self, n)` builds, `get_max_attempts`
// reads), as `std::process::Command` has `arg` and `get_args`: the macro
// expansions and every `static` call the builders by the option's name.
pub use breaker::{
    BreakerFuture, BreakerPolicy, CircuitBreaker, Permit as BreakerPermit,
    Snapshot as BreakerSnapshot, WindowSize,
};
pub use bulkhead::{Bulkhead, BulkheadAcquire, BulkheadFuture, BulkheadPermit, BulkheadSnapshot};
#[cfg(feature = "stale-cache")]
pub use fallback::{StaleCache, StaleCacheSnapshot};
pub use hedge::Hedge;
pub use rate_limiter::{RateLimiter, RateLimiterFuture, RateLimiterSnapshot};
pub use retry::{Backoff, Jitter, Retry, RetryBudget, RetryPolicy};
pub use timeout::{AdaptiveTimeout, AdaptiveTimeoutSnapshot, Timeout, TimeoutFuture};

pub use classify::{Classify, Outcome};
pub use rejection::Rejection;

/// The old name of [`RateLimiterFuture`], kept so that code naming it
/// still builds.
#[doc(hidden)]
pub use rate_limiter::RateLimiterFuture as RateLimitedFuture;
