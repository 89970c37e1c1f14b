//! The runtime of [`resilience`](https://docs.rs/resilience): instances
//! that the attribute macros expand into calls against, usable on their own
//! as async wrappers.
//!
//! Depend on `resilience`, which re-exports everything here.

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod classify;
mod rejection;
mod timeout;

#[doc(hidden)]
pub mod macro_support;
pub mod registry;
pub mod retry;
pub mod rng;

pub use classify::{Classify, Outcome};
pub use rejection::Rejection;
pub use retry::Retry;
pub use timeout::{Timeout, TimeoutFuture};
