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
mod signature;
mod stack;

use proc_macro::TokenStream;

use crate::layer::LayerKind;

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
