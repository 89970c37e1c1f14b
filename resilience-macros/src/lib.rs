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

/// Entry point of `#[chaos]` in `resilience-macros`; use it through `resilience`.
#[proc_macro_attribute]
pub fn chaos(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(LayerKind::Chaos, args.into(), item.into()).into()
}

/// Entry point of `#[hedge]` in `resilience-macros`; use it through `resilience`.
#[proc_macro_attribute]
pub fn hedge(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(LayerKind::Hedge, args.into(), item.into()).into()
}

/// Entry point of `#[fallback]` in `resilience-macros`; use it through `resilience`.
#[proc_macro_attribute]
pub fn fallback(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(LayerKind::Fallback, args.into(), item.into()).into()
}

/// Entry point of `#[retry]` in `resilience-macros`; use it through `resilience`.
#[proc_macro_attribute]
pub fn retry(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(LayerKind::Retry, args.into(), item.into()).into()
}

/// Entry point of `#[timeout]` in `resilience-macros`; use it through `resilience`.
#[proc_macro_attribute]
pub fn timeout(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(LayerKind::Timeout, args.into(), item.into()).into()
}

/// Entry point of `#[bulkhead]` in `resilience-macros`; use it through `resilience`.
#[proc_macro_attribute]
pub fn bulkhead(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(LayerKind::Bulkhead, args.into(), item.into()).into()
}

/// Entry point of `#[rate_limiter]` in `resilience-macros`; use it through `resilience`.
#[proc_macro_attribute]
pub fn rate_limiter(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(LayerKind::RateLimiter, args.into(), item.into()).into()
}

/// Entry point of `#[circuit_breaker]` in `resilience-macros`; use it through `resilience`.
#[proc_macro_attribute]
pub fn circuit_breaker(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(LayerKind::CircuitBreaker, args.into(), item.into()).into()
}

/// Entry point of `#[adaptive_concurrency]` in `resilience-macros`; use it through `resilience`.
#[proc_macro_attribute]
pub fn adaptive_concurrency(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(LayerKind::AdaptiveConcurrency, args.into(), item.into()).into()
}

#[cfg(test)]
mod validation_tests;
