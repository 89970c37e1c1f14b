//! Attribute macros of [`resilience`](https://docs.rs/resilience). Depend on
//! `resilience`, which re-exports them and the runtime they expand into.
//!
//! Each entry point hands its tokens to [`stack::expand`]: the first of this
//! library's attributes on a function takes the whole stack of them and
//! builds every layer in one expansion.

#![warn(missing_docs)]

mod args;
mod duration;
mod expand;
mod layer;
mod options;
mod signature;
mod stack;
mod value;

use proc_macro::TokenStream;

use crate::layer::LayerKind;

/// Injects faults (errors, latency) at random rates and on demand from a
/// `resilience::chaos` scope. Expands to nothing without the `chaos` feature.
///
/// See the `resilience` crate docs for every option.
#[proc_macro_attribute]
pub fn chaos(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(LayerKind::Chaos, args.into(), item.into()).into()
}

/// Starts another attempt when the first is slow; the first `Ok` wins.
///
/// See the `resilience` crate docs for every option.
#[proc_macro_attribute]
pub fn hedge(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(LayerKind::Hedge, args.into(), item.into()).into()
}

/// Tries stand-in levels in order when the call fails.
///
/// See the `resilience` crate docs for every option.
#[proc_macro_attribute]
pub fn fallback(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(LayerKind::Fallback, args.into(), item.into()).into()
}

/// Retries the call after transient failures, with backoff and jitter.
///
/// See the `resilience` crate docs for every option.
#[proc_macro_attribute]
pub fn retry(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(LayerKind::Retry, args.into(), item.into()).into()
}

/// Drops the call after a duration and returns `Rejection::Timeout`.
///
/// See the `resilience` crate docs for every option.
#[proc_macro_attribute]
pub fn timeout(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(LayerKind::Timeout, args.into(), item.into()).into()
}

/// Lets at most `max_concurrent` calls run at once; others wait up to
/// `max_wait` or get `Rejection::BulkheadFull`.
///
/// See the `resilience` crate docs for every option.
#[proc_macro_attribute]
pub fn bulkhead(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(LayerKind::Bulkhead, args.into(), item.into()).into()
}

/// Admits `rate` calls per `per` (GCRA, bursts up to `burst`); others wait
/// up to `max_wait` or get `Rejection::RateLimited`.
///
/// See the `resilience` crate docs for every option.
#[proc_macro_attribute]
pub fn rate_limiter(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(LayerKind::RateLimiter, args.into(), item.into()).into()
}

/// Stops calling a failing service: after `failure_threshold` failures in a
/// row (or above a `failure_rate`) calls get `Rejection::CircuitOpen` for
/// `open_for`, then trial calls decide whether it closes again.
///
/// See the `resilience` crate docs for every option.
#[proc_macro_attribute]
pub fn circuit_breaker(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(LayerKind::CircuitBreaker, args.into(), item.into()).into()
}
