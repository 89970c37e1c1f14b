//! `#[timeout("2s")]` and `#[timeout(adaptive, quantile = 0.99, …)]`.

use std::time::Duration;

use darling::FromMeta;
use darling::ast::NestedMeta;
use darling::util::{Flag, SpannedValue};
use proc_macro2::{Span, TokenStream};
use quote::quote;

use crate::args::{Common, InstanceSpec, instance};
use crate::duration::DurationLit;
use crate::expand::{Context, respan};
use crate::layer::Layer;
use crate::value;

#[derive(Debug, FromMeta)]
struct TimeoutOptions {
    duration: Option<DurationLit>,
    #[darling(default, with = value::word)]
    adaptive: Flag,
    #[darling(default, with = value::number)]
    quantile: Option<SpannedValue<f64>>,
    #[darling(default, with = value::number)]
    multiplier: Option<SpannedValue<f64>>,
    min: Option<DurationLit>,
    max: Option<DurationLit>,
    #[darling(flatten)]
    common: Common,
}

/// `quantile × multiplier` of recent latency, within `[min, max]`.
#[derive(Debug, Clone, Copy)]
struct Adaptive {
    quantile: f64,
    multiplier: f64,
    min: Duration,
    max: Duration,
}

enum Limit {
    Fixed(DurationLit),
    Adaptive(Adaptive),
    /// `with = …` without `adaptive`: a `Timeout` the caller owns.
    Supplied,
}

pub(crate) struct TimeoutLayer {
    limit: Limit,
    common: Common,
    span: Span,
}

const DEFAULT_QUANTILE: f64 = 0.99;
const DEFAULT_MULTIPLIER: f64 = 2.0;
const DEFAULT_MIN: Duration = Duration::from_millis(50);
const DEFAULT_MAX: Duration = Duration::from_secs(5);

impl TimeoutLayer {
    pub(crate) fn parse(args: &[NestedMeta], span: Span) -> darling::Result<Self> {
        let mut errors = darling::Error::accumulator();
        // `#[timeout("2s", …)]`: the leading literal is the duration.
        let (positional, rest) = match args.split_first() {
            Some((first @ NestedMeta::Lit(_), rest)) => (Some(first), rest),
            Some((first @ NestedMeta::Meta(meta), rest)) if written_in_place_of_duration(meta) => {
                (Some(first), rest)
            }
            _ => (None, args),
        };
        let options = errors.handle(TimeoutOptions::from_list(rest));
        let wrote_duration = positional.is_some();
        let positional = positional.and_then(|first| errors.handle(positional_duration(first)));
        let Some(options) = options else {
            return Err(errors.finish().unwrap_err());
        };
        let duration = match (positional, options.duration) {
            (Some(d), None) | (None, Some(d)) => Some(d),
            (Some(_), Some(named)) => {
                errors.push(
                    darling::Error::custom(
                        "the duration is given twice: keep either `\"…\"` or `duration = \"…\"`",
                    )
                    .with_span(&named.span),
                );
                None
            }
            (None, None) => None,
        };
        let adaptive = options.adaptive.is_present();
        if let Some(d) = duration
            && d.value.is_zero()
        {
            errors.push(
                darling::Error::custom("a timeout of zero would fail every call: use a positive duration such as \"100ms\"")
                    .with_span(&d.span),
            );
        }
        if !adaptive {
            let tuning = [
                ("quantile", options.quantile.as_ref().map(|q| q.span())),
                ("multiplier", options.multiplier.as_ref().map(|m| m.span())),
                ("min", options.min.map(|m| m.span)),
                ("max", options.max.map(|m| m.span)),
            ];
            for (key, span) in tuning {
                if let Some(span) = span {
                    errors.push(
                        darling::Error::custom(format!(
                            "`{key}` tunes an adaptive timeout: add `adaptive`, e.g. `#[timeout(adaptive, {key} = …)]`, or remove it"
                        ))
                        .with_span(&span),
                    );
                }
            }
        }
        let limit = if adaptive {
            if let Some(d) = duration {
                errors.push(
                    darling::Error::custom("an adaptive timeout sets its own duration from observed latency: remove the fixed duration, or remove `adaptive`")
                        .with_span(&d.span),
                );
            }
            let tuning = validate_adaptive(&options, &mut errors);
            Limit::Adaptive(tuning)
        } else {
            // Beside `with`, the driver has already refused a duration.
            match (duration, &options.common.with) {
                (Some(d), _) => Limit::Fixed(d),
                (None, Some(_)) => Limit::Supplied,
                (None, None) => {
                    if !wrote_duration {
                        errors.push(
                            darling::Error::custom("`#[timeout]` needs a duration, e.g. `#[timeout(\"2s\")]`, or `adaptive`")
                                .with_span(&span),
                        );
                    }
                    Limit::Supplied
                }
            }
        };
        options.common.validate("timeout", &mut errors);
        errors.finish()?;
        Ok(TimeoutLayer {
            limit,
            common: options.common,
            span,
        })
    }
}

/// `#[timeout(Duration::from_millis(800))]` or `#[timeout(TIMEOUT)]`: code
/// where the duration goes (`adaptive` and the options are words or
/// `key = value`, never `path(…)`, and never a path with `::` or in
/// capitals).
fn written_in_place_of_duration(meta: &syn::Meta) -> bool {
    match meta {
        syn::Meta::List(_) => true,
        syn::Meta::Path(path) => {
            path.segments.len() > 1
                || path.get_ident().is_some_and(|ident| {
                    let name = ident.to_string();
                    !name.chars().any(char::is_lowercase)
                })
        }
        syn::Meta::NameValue(_) => false,
    }
}

/// The leading duration, `#[timeout("2s")]`.
fn positional_duration(first: &NestedMeta) -> darling::Result<DurationLit> {
    let fix = match first {
        NestedMeta::Lit(lit @ syn::Lit::Str(_)) => return DurationLit::from_value(lit),
        NestedMeta::Lit(syn::Lit::Int(n)) => format!(
            "`{n}` has no unit; write the number and its unit in quotes, e.g. `#[timeout(\"{n}ms\")]` or `#[timeout(\"{n}s\")]`"
        ),
        NestedMeta::Meta(meta) => {
            let expr: Option<syn::Expr> = syn::parse2(quote!(#meta)).ok();
            match expr.as_ref().and_then(value::duration_text) {
                Some(text) => format!("write `#[timeout(\"{text}\")]`"),
                None => format!(
                    "write the duration itself, e.g. `#[timeout(\"2s\")]`; the macro runs before `{}` has a value, so it cannot read a `const` or run code (for a duration chosen at run time, build a `Timeout` and pass it with `with = …`)",
                    value::path_text(meta.path())
                ),
            }
        }
        _ => "write e.g. `#[timeout(\"2s\")]`".to_owned(),
    };
    Err(darling::Error::custom(format!(
        "`#[timeout]` takes its duration as a string literal ({}): {fix}",
        crate::duration::UNITS
    ))
    .with_span(first))
}

fn validate_adaptive(
    options: &TimeoutOptions,
    errors: &mut darling::error::Accumulator,
) -> Adaptive {
    let quantile = options.quantile.as_ref().map_or(DEFAULT_QUANTILE, |q| **q);
    if let Some(q) = &options.quantile
        && !(**q > 0.0 && **q <= 1.0)
    {
        errors.push(
            darling::Error::custom(format!(
                "`quantile` is a fraction of calls, above 0 and at most 1 (0.99 is P99), not {}",
                **q
            ))
            .with_span(&q.span()),
        );
    }
    let multiplier = options
        .multiplier
        .as_ref()
        .map_or(DEFAULT_MULTIPLIER, |m| **m);
    if let Some(m) = &options.multiplier
        && !(**m >= 1.0 && m.is_finite())
    {
        errors.push(
            darling::Error::custom(format!(
                "`multiplier` scales the observed quantile and must be at least 1 (below it, calls as slow as the quantile itself would time out), not {}",
                **m
            ))
            .with_span(&m.span()),
        );
    }
    let min = options.min.map_or(DEFAULT_MIN, |m| m.value);
    let max = options.max.map_or(DEFAULT_MAX, |m| m.value);
    if let Some(m) = options.min
        && m.value.is_zero()
    {
        errors.push(
            darling::Error::custom("`min` of zero would let the timeout shrink to nothing: use a positive floor such as \"50ms\"")
                .with_span(&m.span),
        );
    }
    if min >= max {
        let span = options
            .max
            .or(options.min)
            .map_or_else(Span::call_site, |d| d.span);
        errors.push(
            darling::Error::custom(format!(
                "`min` ({min:?}) must be below `max` ({max:?}): the timeout moves between them"
            ))
            .with_span(&span),
        );
    }
    Adaptive {
        quantile,
        multiplier,
        min,
        max,
    }
}

/// Builds an instance from its name expression.
type MakeInstance = Box<dyn Fn(&TokenStream) -> TokenStream>;

impl Layer for TimeoutLayer {
    fn common(&self) -> &Common {
        &self.common
    }

    fn wrap(&self, cx: &Context, inner: TokenStream) -> TokenStream {
        let private = &cx.private;
        let err = &cx.err;
        let (ty, make, call): (TokenStream, MakeInstance, TokenStream) = match &self.limit {
            Limit::Adaptive(a) => {
                let Adaptive {
                    quantile,
                    multiplier,
                    ..
                } = *a;
                let min = crate::duration::tokens(a.min);
                let max = crate::duration::tokens(a.max);
                let ty = quote!(#private::AdaptiveTimeout);
                let call = quote!(#private::call_with_adaptive_timeout::<_, _, #err>);
                let private = private.clone();
                let make: MakeInstance = Box::new(
                    move |name| quote!(#private::AdaptiveTimeout::new(#name, #quantile, #multiplier, #min, #max)),
                );
                (ty, make, call)
            }
            Limit::Fixed(d) => {
                let duration = d.to_tokens();
                let ty = quote!(#private::Timeout);
                let call = quote!(#private::call_with_timeout::<_, _, #err>);
                let private = private.clone();
                let make: MakeInstance =
                    Box::new(move |name| quote!(#private::Timeout::new(#name, #duration)));
                (ty, make, call)
            }
            Limit::Supplied => (
                quote!(#private::Timeout),
                Box::new(|_| quote!(::core::unreachable!())),
                quote!(#private::call_with_timeout::<_, _, #err>),
            ),
        };
        let spec = InstanceSpec { ty, make };
        let instance = instance(cx, &self.common, &spec);
        let call = respan(call, self.span);
        quote! { #call(#instance, #inner) }
    }
}
