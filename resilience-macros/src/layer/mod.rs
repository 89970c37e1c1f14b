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
        let args = NestedMeta::parse_meta_list(args.clone()).map_err(darling::Error::from)?;
        let mut errors = darling::Error::accumulator();
        let args = &self.without_settings_beside_own_instance(args, &mut errors);
        let layer = errors.handle(match self {
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
        });
        errors.finish()?;
        Ok(layer.expect("a layer that failed to parse recorded its error"))
    }

    /// With `with = …` the caller's instance carries its own settings, so a
    /// setting written beside it would be silently ignored: each one is an
    /// error at its key, and is left out of the arguments the layer parses
    /// (its value need not be valid when it is to be removed anyway).
    fn without_settings_beside_own_instance(
        self,
        args: Vec<NestedMeta>,
        errors: &mut darling::error::Accumulator,
    ) -> Vec<NestedMeta> {
        let key = |arg: &NestedMeta| match arg {
            NestedMeta::Meta(meta) => Some(meta.path().clone()),
            NestedMeta::NameValueInvalidExpr(meta) => Some(meta.path.clone()),
            NestedMeta::Lit(_) => None,
        };
        if !args
            .iter()
            .any(|arg| key(arg).is_some_and(|k| k.is_ident("with")))
        {
            return args;
        }
        let Some((ty, built)) = self.runtime_type() else {
            return args;
        };
        args.into_iter()
            .filter(|arg| {
                let written = match key(arg) {
                    Some(path) if KEPT_BESIDE_OWN_INSTANCE.iter().any(|k| path.is_ident(k)) => {
                        return true;
                    }
                    Some(path) if self.kept_beside_own_instance(&path) => return true,
                    Some(path) => format!("`{}`", path_text(&path)),
                    // `#[timeout("2s", with = …)]`.
                    None if self == LayerKind::Timeout => "the duration".to_owned(),
                    // Positional options: the layer says how to name them.
                    None => return true,
                };
                errors.push(
                    darling::Error::custom(format!(
                        "{written} would be ignored: `with` passes your own `{ty}`, which keeps its own settings; set it where that `{ty}` is built (`{built}`) and remove it here"
                    ))
                    .with_span(arg),
                );
                false
            })
            .collect()
    }

    /// The layer's runtime type, and how one is built with its settings
    /// (`None` for `#[fallback]`, whose `with` belongs to one level).
    fn runtime_type(self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            LayerKind::Fallback => return None,
            LayerKind::Retry => ("Retry", "Retry::new(name, RetryPolicy::new()…)"),
            LayerKind::Timeout => (
                "Timeout",
                "Timeout::new(name, duration)`, or `AdaptiveTimeout::new(…)` with `adaptive",
            ),
            LayerKind::Bulkhead => ("Bulkhead", "Bulkhead::new(name, max_concurrent)…"),
            LayerKind::RateLimiter => ("RateLimiter", "RateLimiter::new(name, rate, per)…"),
            LayerKind::CircuitBreaker => (
                "CircuitBreaker",
                "CircuitBreaker::new(name, BreakerPolicy::new()…)",
            ),
            LayerKind::Chaos => ("Chaos", "Chaos::new(name).error_rate(…).latency(…, …)"),
            LayerKind::Hedge => (
                "Hedge",
                "Hedge::new(name, delay, max_hedges)`, or `Hedge::adaptive(name, max_hedges)",
            ),
        })
    }

    /// Options of this layer that act at the call site, not on the
    /// instance, and so still apply beside `with`.
    fn kept_beside_own_instance(self, key: &syn::Path) -> bool {
        let kept: &[&str] = match self {
            // Which runtime type `with` passes: `AdaptiveTimeout`.
            LayerKind::Timeout => &["adaptive"],
            // The predicates classify each error where the layer is called.
            LayerKind::Retry => &["retry_if"],
            LayerKind::CircuitBreaker => &["failure_if"],
            _ => &[],
        };
        kept.iter().any(|k| key.is_ident(k))
    }
}

/// Options that say where the instance lives, on every layer.
const KEPT_BESIDE_OWN_INSTANCE: [&str; 3] = ["with", "name", "crate"];

fn path_text(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
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
