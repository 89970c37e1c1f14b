//! One module per layer: its options parsed into the schema's settings
//! (`resilience-schema`), their spans, and its expansion. The checks every
//! layer shares are here, in the driver: named options only, `name` vs
//! `with`, settings beside `with`.
//!
//! A new layer is a module in `resilience-schema` (its options and rules),
//! a module here (options struct + [`Layer`] impl), a variant of
//! [`LayerKind`], an entry point in `lib.rs`, and its runtime type in
//! `resilience-runtime`.

mod adaptive_concurrency;
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
use resilience_schema::{self as schema, Kind, Spec};
use syn::Lit;

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
    AdaptiveConcurrency,
}

impl LayerKind {
    const ALL: [LayerKind; 9] = [
        LayerKind::Hedge,
        LayerKind::Chaos,
        LayerKind::Fallback,
        LayerKind::Retry,
        LayerKind::Timeout,
        LayerKind::Bulkhead,
        LayerKind::RateLimiter,
        LayerKind::CircuitBreaker,
        LayerKind::AdaptiveConcurrency,
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
            LayerKind::AdaptiveConcurrency => "adaptive_concurrency",
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

    /// The layer's options in the schema (`None` for `#[fallback]`, whose
    /// arguments are levels, not options).
    pub(crate) fn options(self) -> Option<&'static [Spec]> {
        Some(match self {
            LayerKind::Fallback => return None,
            LayerKind::Retry => schema::retry::OPTIONS,
            LayerKind::Timeout => schema::timeout::OPTIONS,
            LayerKind::Bulkhead => schema::bulkhead::OPTIONS,
            LayerKind::RateLimiter => schema::rate_limiter::OPTIONS,
            LayerKind::CircuitBreaker => schema::circuit_breaker::OPTIONS,
            LayerKind::Chaos => schema::chaos::OPTIONS,
            LayerKind::Hedge => schema::hedge::OPTIONS,
            LayerKind::AdaptiveConcurrency => schema::adaptive_concurrency::OPTIONS,
        })
    }

    /// An attribute with its usual options, for messages.
    fn example(self) -> &'static str {
        match self {
            LayerKind::Fallback => "#[fallback(Ok(Vec::new()))]",
            LayerKind::Retry => "#[retry(max_attempts = 3)]",
            LayerKind::Timeout => "#[timeout(\"2s\")]",
            LayerKind::Bulkhead => "#[bulkhead(max_concurrent = 10)]",
            LayerKind::RateLimiter => "#[rate_limiter(rate = 100, per = \"1s\")]",
            LayerKind::CircuitBreaker => "#[circuit_breaker(failure_threshold = 5)]",
            LayerKind::Chaos => "#[chaos(error_rate = 0.1)]",
            LayerKind::Hedge => "#[hedge(delay = \"50ms\")]",
            LayerKind::AdaptiveConcurrency => {
                "#[adaptive_concurrency(algorithm = \"vegas\", max = 200)]"
            }
        }
    }

    /// Parses the attribute's arguments, after the checks every layer
    /// shares (named options only, settings beside `with`), then checks
    /// `name` against `with`.
    pub(crate) fn parse(self, args: &TokenStream, span: Span) -> darling::Result<Built> {
        // Fallback levels are expressions, not `key = value` options.
        if self == LayerKind::Fallback {
            return fallback::FallbackLayer::parse(args, span).map(Built::new);
        }
        let args = NestedMeta::parse_meta_list(args.clone()).map_err(darling::Error::from)?;
        let mut errors = darling::Error::accumulator();
        self.named_options_only(&args, &mut errors);
        let mut errors = errors.checkpoint()?;
        let args = &self.without_settings_beside_own_instance(args, &mut errors);
        let layer: Option<Built> = errors.handle(match self {
            LayerKind::Fallback => unreachable!("handled above"),
            LayerKind::Chaos => Guarded::<schema::chaos::Settings>::parse(args, span),
            LayerKind::Hedge => hedge::HedgeLayer::parse(args, span).map(Built::new),
            LayerKind::Retry => retry::RetryLayer::parse(args, span).map(Built::new),
            LayerKind::Timeout => timeout::TimeoutLayer::parse(args, span).map(Built::new),
            LayerKind::Bulkhead => Guarded::<schema::bulkhead::Settings>::parse(args, span),
            LayerKind::RateLimiter => Guarded::<schema::rate_limiter::Settings>::parse(args, span),
            LayerKind::CircuitBreaker => {
                circuit_breaker::CircuitBreakerLayer::parse(args, span).map(Built::new)
            }
            LayerKind::AdaptiveConcurrency => {
                adaptive_concurrency::AdaptiveConcurrencyLayer::parse(args, span).map(Built::new)
            }
        });
        if let Some(layer) = &layer {
            self.check_placement(&layer.common, &mut errors);
        }
        errors.finish()?;
        Ok(layer.expect("a layer that failed to parse recorded its error"))
    }

    /// Options are `key = value` (or a bare key); a literal alone is an
    /// error that names the option it most likely means, from the kinds
    /// in the schema. `#[timeout]`'s duration may come first, alone.
    fn named_options_only(self, args: &[NestedMeta], errors: &mut darling::error::Accumulator) {
        let Some(options) = self.options() else {
            return;
        };
        let skip = usize::from(self == LayerKind::Timeout);
        let first_of = |kinds: &[fn(&Kind) -> bool]| {
            kinds
                .iter()
                .find_map(|kind| options.iter().find(|spec| kind(&spec.kind)))
                .map(|spec| spec.key)
        };
        let count = |k: &Kind| matches!(k, Kind::Count { .. });
        let number = |k: &Kind| matches!(k, Kind::Number);
        let duration = |k: &Kind| matches!(k, Kind::Duration | Kind::DurationOrAdaptive);
        for arg in args.iter().skip(skip) {
            let NestedMeta::Lit(lit) = arg else { continue };
            let written = match lit {
                Lit::Int(n) => first_of(&[count, number]).map(|key| format!("`{key} = {n}`")),
                Lit::Float(f) => first_of(&[number]).map(|key| format!("`{key} = {f}`")),
                Lit::Str(s) => {
                    first_of(&[duration]).map(|key| format!("`{key} = \"{}\"`", s.value()))
                }
                _ => None,
            };
            let hint = match written {
                Some(option) => format!("write {option}"),
                None => format!("write options as `key = value`, e.g. `{}`", self.example()),
            };
            errors.push(
                darling::Error::custom(format!("`#[{}]` takes named options: {hint}", self.name()))
                    .with_span(lit),
            );
        }
    }

    /// `name` (a shared instance) and `with` (the caller's) are two
    /// placements: one at most; and a name must say something.
    fn check_placement(self, common: &Common, errors: &mut darling::error::Accumulator) {
        if let (Some(_), Some(with)) = (&common.name, &common.with) {
            errors.push(
                darling::Error::custom(format!(
                    "`#[{}]` takes either `name` (a shared instance from the registry) or `with` (an instance you own), not both: remove one",
                    self.name()
                ))
                .with_span(with),
            );
        }
        if let Some(name) = &common.name
            && let Err(problem) = schema::common::check_name(&name.value())
        {
            errors.push(darling::Error::custom(problem).with_span(name));
        }
    }

    /// With `with = …` the caller's instance carries its own settings, so a
    /// setting written beside it would be silently ignored: each one is an
    /// error at its key, and is left out of the arguments the layer parses
    /// (its value need not be valid when it is to be removed anyway). What
    /// stays is in the schema: the common options, and those that act at
    /// the call site.
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
        let (Some((ty, built)), Some(options)) = (self.runtime_type(), self.options()) else {
            return args;
        };
        let kept = |path: &syn::Path| {
            schema::common::OPTIONS
                .iter()
                .chain(options.iter().filter(|spec| spec.at_call_site))
                .any(|spec| path.is_ident(spec.key))
        };
        args.into_iter()
            .filter(|arg| {
                let written = match key(arg) {
                    Some(path) if kept(&path) => return true,
                    Some(path) => format!("`{}`", path_text(&path)),
                    // `#[timeout("2s", with = …)]`.
                    None => "the duration".to_owned(),
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
            LayerKind::AdaptiveConcurrency => (
                "AdaptiveConcurrency",
                "AdaptiveConcurrency::new(name, LimitAlgorithm::…).min(…).max(…)",
            ),
        })
    }
}

fn path_text(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

/// A layer of the stack, parsed and checked: its placement (the options
/// every layer takes, which the driver checks) and the layer itself.
pub(crate) struct Built {
    pub(crate) common: Common,
    pub(crate) layer: Box<dyn Layer>,
}

impl Built {
    fn new<L: Layer + 'static>((layer, common): (L, Common)) -> Built {
        Built {
            common,
            layer: Box::new(layer),
        }
    }
}

/// A layer that is its settings and nothing else, guarding the call with
/// its instance (`#[bulkhead]`, `#[rate_limiter]`, `#[chaos]`): its
/// module has only its expansion, `impl Layer for Guarded<Settings>`.
pub(crate) struct Guarded<S> {
    settings: S,
    /// The attribute, where a missing `From<Rejection>` is reported.
    span: Span,
}

impl<S: schema::Options + 'static> Guarded<S>
where
    Guarded<S>: Layer,
{
    fn parse(args: &[NestedMeta], span: Span) -> darling::Result<Built> {
        let o = crate::options::parse::<S>(args)?.checked(span)?;
        Ok(Built::new(
            o.into_layer(|settings| Guarded { settings, span }),
        ))
    }
}

/// A parsed, validated layer, ready to wrap the layers below it.
pub(crate) trait Layer {
    /// Whether the layer is compiled out (`#[chaos]` without its feature):
    /// it adds nothing, and a stack of only such layers leaves the function
    /// as written.
    fn is_inert(&self) -> bool {
        false
    }

    /// Wraps `inner`, an expression whose value is a future of the
    /// function's return type, into another such expression; `common`
    /// says where its instance lives.
    fn wrap(&self, cx: &Context, common: &Common, inner: TokenStream) -> TokenStream;
}
