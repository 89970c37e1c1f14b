//! One module per layer: its options, their validation, and its expansion.
//!
//! A new layer is a new module here (options struct + [`Layer`] impl), a
//! variant of [`LayerKind`], an entry point in `lib.rs`, and its runtime type
//! in `resilience-runtime`.

mod bulkhead;
mod chaos;
mod circuit_breaker;
mod fallback;
mod hedge;
mod rate_limiter;
mod retry;
mod timeout;

use darling::ast::NestedMeta;
use proc_macro2::{Span, TokenStream};

use crate::args::Common;
use crate::expand::Context;

/// The attributes this crate provides, as written by users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LayerKind {
    Fallback,
    Retry,
    Timeout,
    Bulkhead,
    RateLimiter,
    CircuitBreaker,
    Chaos,
    Hedge,
}

impl LayerKind {
    const ALL: [LayerKind; 8] = [
        LayerKind::Hedge,
        LayerKind::Chaos,
        LayerKind::Fallback,
        LayerKind::Retry,
        LayerKind::Timeout,
        LayerKind::Bulkhead,
        LayerKind::RateLimiter,
        LayerKind::CircuitBreaker,
    ];

    /// The attribute's name, as the user writes it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            LayerKind::Fallback => "fallback",
            LayerKind::Chaos => "chaos",
            LayerKind::Hedge => "hedge",
            LayerKind::Retry => "retry",
            LayerKind::Timeout => "timeout",
            LayerKind::Bulkhead => "bulkhead",
            LayerKind::RateLimiter => "rate_limiter",
            LayerKind::CircuitBreaker => "circuit_breaker",
        }
    }

    /// The layer an attribute names: `retry`, `resilience::retry` or
    /// `::resilience::retry`.
    pub(crate) fn from_path(path: &syn::Path) -> Option<LayerKind> {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        let last = match segments.as_slice() {
            [only] if path.leading_colon.is_none() => only,
            [krate, last] if krate == "resilience" => last,
            _ => return None,
        };
        LayerKind::ALL.into_iter().find(|kind| kind.name() == last)
    }

    /// Parses and validates the attribute's arguments.
    pub(crate) fn parse(self, args: &TokenStream, span: Span) -> darling::Result<Box<dyn Layer>> {
        // Fallback levels are expressions, not `key = value` options.
        if self == LayerKind::Fallback {
            return fallback::FallbackLayer::parse(args, span).map(|l| Box::new(l) as _);
        }
        let args = &NestedMeta::parse_meta_list(args.clone()).map_err(darling::Error::from)?;
        match self {
            LayerKind::Fallback => unreachable!("handled above"),
            LayerKind::Chaos => chaos::ChaosLayer::parse(args, span).map(|l| Box::new(l) as _),
            LayerKind::Hedge => hedge::HedgeLayer::parse(args, span).map(|l| Box::new(l) as _),
            LayerKind::Retry => retry::RetryLayer::parse(args, span).map(|l| Box::new(l) as _),
            LayerKind::Timeout => {
                timeout::TimeoutLayer::parse(args, span).map(|l| Box::new(l) as _)
            }
            LayerKind::Bulkhead => {
                bulkhead::BulkheadLayer::parse(args, span).map(|l| Box::new(l) as _)
            }
            LayerKind::RateLimiter => {
                rate_limiter::RateLimiterLayer::parse(args, span).map(|l| Box::new(l) as _)
            }
            LayerKind::CircuitBreaker => {
                circuit_breaker::CircuitBreakerLayer::parse(args, span).map(|l| Box::new(l) as _)
            }
        }
    }
}

/// A parsed, validated layer, ready to wrap the layers below it.
pub(crate) trait Layer {
    /// `name`, `with` and `crate`.
    fn common(&self) -> &Common;

    /// Whether the layer is compiled out (`#[chaos]` without its feature):
    /// it adds nothing, and a stack of only such layers leaves the function
    /// as written.
    fn is_inert(&self) -> bool {
        false
    }

    /// Wraps `inner`, an expression whose value is a future of the
    /// function's return type, into another such expression.
    fn wrap(&self, cx: &Context, inner: TokenStream) -> TokenStream;
}
