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

pub use resilience_macros::{retry, timeout};
pub use resilience_runtime::retry::{Backoff, Jitter, RetryPolicy};
pub use resilience_runtime::{
    Classify, Outcome, Rejection, Retry, Timeout, TimeoutFuture, registry, rng,
};

/// What the macro expansions name. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use resilience_runtime::macro_support::*;
    pub use resilience_runtime::Outcome;
}
