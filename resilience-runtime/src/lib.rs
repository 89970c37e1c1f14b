//! The runtime of [`resilience`](https://docs.rs/resilience): instances
//! that the attribute macros expand into calls against, usable on their own
//! as async wrappers.
//!
//! Depend on `resilience`, which re-exports everything here.

#![deny(unsafe_code)]
#![warn(missing_docs)]

// Inlining of the hot paths: `#[inline(always)]` only where debug
// assertions are off (release and bench builds), plain `#[inline]` where
// they are on (`cargo build`, `cargo test`). Every annotated function
// instantiates the layers' polls for its own future types; forced at
// `opt-level = 0`, each poll was copied into its caller with every inlined
// helper's code and debug info, 40% more LLVM IR per five-layer function
// and about a third of its compile time (issue 23, `scripts/compile_cost.sh`).
// Optimised code is unchanged: the same attribute, the same instructions.

mod adaptive_concurrency;
mod bulkhead;
mod classify;
mod live;
mod rate_limiter;
mod rejection;
mod sync;
mod tally;
mod time;
mod timeout;

#[cfg(feature = "axum")]
pub mod axum;
pub mod breaker;
#[cfg(feature = "chaos")]
pub mod chaos;
#[cfg(feature = "config")]
pub mod config;
#[cfg(feature = "dashboard")]
pub mod dashboard;
pub mod deadline;
pub mod events;
pub mod fallback;
pub mod health;
mod hedge;
#[cfg(any(feature = "reqwest", feature = "tower"))]
pub mod http;
pub mod latency;
#[doc(hidden)]
pub mod macro_support;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "redis")]
pub mod redis;
pub mod registry;
#[cfg(feature = "reqwest-middleware")]
pub mod reqwest_middleware;
pub mod retry;
pub mod rng;
#[cfg(feature = "tower")]
pub mod tower;

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
pub use adaptive_concurrency::{
    AdaptiveConcurrency, AdaptiveConcurrencyAcquire, AdaptiveConcurrencyFuture,
    AdaptiveConcurrencyPermit, AdaptiveConcurrencySnapshot, LimitAlgorithm,
};
pub use breaker::{
    BreakerFuture, BreakerPolicy, CircuitBreaker, Permit as BreakerPermit,
    Snapshot as BreakerSnapshot, WindowSize,
};
pub use bulkhead::{Bulkhead, BulkheadAcquire, BulkheadFuture, BulkheadPermit, BulkheadSnapshot};
pub use fallback::FallbackSnapshot;
#[cfg(feature = "stale-cache")]
pub use fallback::{StaleCache, StaleCacheSnapshot};
pub use health::health;
pub use hedge::{Hedge, HedgeSnapshot};
pub use rate_limiter::{RateLimiter, RateLimiterFuture, RateLimiterSnapshot};
pub use retry::{Backoff, Jitter, Retry, RetryBudget, RetryPolicy, RetrySnapshot};
pub use timeout::{
    AdaptiveTimeout, AdaptiveTimeoutSnapshot, Timeout, TimeoutFuture, TimeoutSnapshot,
};

pub use classify::{Classify, Outcome};
pub use rejection::Rejection;

/// The old name of [`RateLimiterFuture`], kept so that code naming it
/// still builds.
#[doc(hidden)]
pub use rate_limiter::RateLimiterFuture as RateLimitedFuture;
