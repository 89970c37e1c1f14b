//! Fault tolerance for async functions, by annotation.
//!
//! ```
//! use resilience::{retry, timeout, Rejection};
//! use std::io;
//!
//! #[retry(max_attempts = 3, backoff = "exp", base = "100ms", jitter)]
//! #[timeout("800ms")]
//! async fn fetch_price(sku: &str) -> io::Result<u64> {
//!     # let _ = sku;
//!     Ok(42)
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() { assert_eq!(fetch_price("A-1").await.unwrap(), 42); }
//! ```
//!
//! The attributes stack: the order they are written in is the order of the
//! layers, outermost first. `#[retry] #[timeout]` times out each attempt;
//! `#[timeout] #[retry]` is one deadline over all attempts. See the README
//! for every option of every layer.
//!
//! # Errors and classification
//!
//! Every annotated function is an `async fn` returning `Result<T, E>`.
//! Layers that can refuse a call (`#[timeout]` and, later, breakers,
//! bulkheads and rate limiters) need `E: From<Rejection>`. Which errors are
//! retried is decided by [`Classify`]; an error type without an impl is
//! treated as transient.

#![deny(unsafe_code)]
#![warn(missing_docs)]

/// Injects faults for chaos testing; with the `chaos` feature off, expands
/// to nothing.
///
/// ```
/// use resilience::{chaos, Rejection};
///
/// #[chaos(error_rate = 0.0, latency = "10ms", latency_rate = 0.0, name = "inventory")]
/// async fn inventory() -> Result<u32, Rejection> {
///     Ok(3)
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() { assert_eq!(inventory().await, Ok(3)); }
/// ```
pub use resilience_macros::chaos;
pub use resilience_macros::circuit_breaker;
/// Tries stand-in levels in order when the call fails.
///
/// ```
/// use resilience::{fallback, timeout, Rejection};
///
/// #[fallback(stale_cache(ttl = "10m"), Ok(Vec::new()))]
/// #[timeout("50ms")]
/// async fn recommendations(user: u64) -> Result<Vec<u64>, Rejection> {
///     std::future::pending().await // the dependency hangs
/// }
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() { assert_eq!(recommendations(1).await, Ok(Vec::new())); }
/// ```
///
/// On a method, `stale_cache` needs a cache per instance (`with`) or a key
/// that tells instances apart (`key`); `key = …` also drops an argument
/// from the key. The key of a [`StaleCache`] is
/// documented there.
///
/// ```
/// use resilience::fallback;
/// use resilience::fallback::StaleCache;
/// use std::time::Duration;
///
/// struct Inventory {
///     host: String,
///     up: bool,
///     cache: StaleCache<(u32,), u64>, // keyed by the arguments but `self`: `(sku,)`
/// }
///
/// impl Inventory {
///     #[fallback(stale_cache(with = self.cache))]
///     async fn stock(&self, sku: u32) -> Result<u64, std::io::Error> {
///         if self.up { Ok(u64::from(sku) * 10) } else { Err(std::io::ErrorKind::TimedOut.into()) }
///     }
///
///     // The function's own cache, keyed by host and sku; `request_id` is left out.
///     #[fallback(stale_cache(key = (self.host.clone(), sku)))]
///     async fn price(&self, sku: u32, request_id: u64) -> Result<u64, std::io::Error> {
///         let _ = request_id;
///         if self.up { Ok(u64::from(sku)) } else { Err(std::io::ErrorKind::TimedOut.into()) }
///     }
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let cache = StaleCache::new("inventory-a", Duration::from_secs(60), 100);
/// let mut a = Inventory { host: "a.example".into(), up: true, cache };
/// assert_eq!(a.stock(1).await.unwrap(), 10);
/// assert_eq!(a.price(1, 100).await.unwrap(), 1);
/// a.up = false;
/// assert_eq!(a.stock(1).await.unwrap(), 10); // stale
/// assert_eq!(a.price(1, 101).await.unwrap(), 1); // another request id, the same key
/// # }
/// ```
pub use resilience_macros::fallback;
/// Starts another attempt when the first is slow; the first `Ok` wins.
///
/// ```
/// use resilience::{hedge, Rejection};
///
/// #[hedge(delay = "50ms", max_hedges = 1)]
/// async fn lookup(key: u32) -> Result<u32, Rejection> {
///     Ok(key)
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() { assert_eq!(lookup(4).await, Ok(4)); }
/// ```
pub use resilience_macros::hedge;
/// Calls again after transient failures, with backoff and jitter.
///
/// ```
/// use resilience::retry;
/// use std::io;
///
/// #[retry(max_attempts = 3, backoff = "exp", base = "100ms", jitter)]
/// async fn fetch() -> io::Result<u32> {
///     Ok(1)
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() { assert_eq!(fetch().await.unwrap(), 1); }
/// ```
pub use resilience_macros::retry;
/// Drops the call after a duration, fixed or adaptive, and returns
/// [`Rejection::Timeout`].
///
/// ```
/// use resilience::{timeout, Rejection};
///
/// #[timeout("20ms")]
/// async fn hangs() -> Result<(), Rejection> {
///     std::future::pending().await
/// }
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() { assert!(matches!(hangs().await, Err(Rejection::Timeout { .. }))); }
/// ```
pub use resilience_macros::timeout;
pub use resilience_macros::{bulkhead, rate_limiter};
pub use resilience_runtime::breaker;
#[cfg(feature = "chaos")]
pub use resilience_runtime::chaos;
pub use resilience_runtime::fallback;
#[cfg(feature = "reqwest")]
pub use resilience_runtime::http;
pub use resilience_runtime::{Classify, Outcome, Rejection, latency, registry, rng};
// Every layer's `<Layer>`, `<Layer>Policy`, `<Layer>Permit`,
// `<Layer>Future` and `<Layer>Snapshot`, and the types their constructors
// take: the runtime root's list as it is (see resilience-runtime/src/lib.rs).
#[doc(hidden)]
pub use resilience_runtime::RateLimitedFuture;
pub use resilience_runtime::{
    AdaptiveTimeout, AdaptiveTimeoutSnapshot, Backoff, BreakerFuture, BreakerPermit, BreakerPolicy,
    BreakerSnapshot, Bulkhead, BulkheadAcquire, BulkheadFuture, BulkheadPermit, BulkheadSnapshot,
    CircuitBreaker, Hedge, Jitter, RateLimiter, RateLimiterFuture, RateLimiterSnapshot, Retry,
    RetryBudget, RetryPolicy, Timeout, TimeoutFuture, WindowSize,
};
#[cfg(feature = "stale-cache")]
pub use resilience_runtime::{StaleCache, StaleCacheSnapshot};

/// What the macro expansions name. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use resilience_runtime::Outcome;
    pub use resilience_runtime::macro_support::*;
}
