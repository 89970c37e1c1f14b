//! `#[timeout("2s")]` and `#[timeout(adaptive, quantile = 0.99, …)]`.

use std::time::Duration;

use darling::FromMeta;
use darling::ast::NestedMeta;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use resilience_schema::{self as schema, timeout::Settings};

use crate::args::{Common, InstanceSpec, guard};
use crate::duration::DurationLit;
use crate::expand::Context;
use crate::layer::Layer;
use crate::options;
use crate::value;

enum Limit {
    Fixed(Duration),
    /// `quantile × multiplier` of recent latency, within `[min, max]`:
    /// the settings as written, the schema's defaults for the rest.
    Adaptive(Settings),
    /// `with = …` without `adaptive`: a `Timeout` the caller owns.
    Supplied,
}

pub(crate) struct TimeoutLayer {
    limit: Limit,
    span: Span,
}

impl TimeoutLayer {
    pub(crate) fn parse(args: &[NestedMeta], span: Span) -> darling::Result<(Self, Common)> {
        let mut errors = darling::Error::accumulator();
        // `#[timeout("2s", …)]`: the leading literal is the duration.
        let (positional, rest) = match args.split_first() {
            Some((first @ NestedMeta::Lit(_), rest)) => (Some(first), rest),
            Some((first @ NestedMeta::Meta(meta), rest)) if written_in_place_of_duration(meta) => {
                (Some(first), rest)
            }
            _ => (None, args),
        };
        let options = errors.handle(options::parse::<Settings>(rest));
        let positional = positional.map(|first| errors.handle(positional_duration(first)));
        let Some(mut o) = options else {
            return Err(errors.finish().unwrap_err());
        };
        match positional {
            Some(Some(_)) if o.settings.duration.is_some() => {
                errors.push(
                    darling::Error::custom(
                        "the duration is given twice: keep either `\"…\"` or `duration = \"…\"`",
                    )
                    .with_span(&o.spans.of("duration")),
                );
            }
            Some(Some(d)) => {
                o.settings.duration = Some(d.value);
                o.spans.set("duration", Some(d.span));
            }
            // A leading duration that did not parse has its error already,
            // and is no missing one.
            Some(None) => return Err(errors.finish().unwrap_err()),
            None => {}
        }
        errors.finish()?;
        let o = o.checked(span)?;
        let settings = o.settings;
        let limit = match settings.duration {
            _ if settings.is_adaptive() => Limit::Adaptive(settings),
            Some(d) => Limit::Fixed(d),
            None => Limit::Supplied,
        };
        Ok((TimeoutLayer { limit, span }, o.common))
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

impl Layer for TimeoutLayer {
    fn wrap(&self, cx: &Context, common: &Common, inner: TokenStream) -> TokenStream {
        let private = &cx.private;
        let arg = |value: &dyn options::Arg| value.arg(private);
        let (spec, call) = match &self.limit {
            // `AdaptiveTimeout::new` takes every setting: the schema's
            // defaults fill those not written.
            Limit::Adaptive(a) => (
                InstanceSpec::new(
                    "AdaptiveTimeout",
                    vec![
                        arg(&a.quantile.unwrap_or(schema::timeout::QUANTILE)),
                        arg(&a.multiplier.unwrap_or(schema::timeout::MULTIPLIER)),
                        arg(&a.min.unwrap_or(schema::timeout::MIN)),
                        arg(&a.max.unwrap_or(schema::timeout::MAX)),
                    ],
                ),
                "call_with_adaptive_timeout",
            ),
            Limit::Fixed(d) => (
                InstanceSpec::new("Timeout", vec![arg(d)]),
                "call_with_timeout",
            ),
            // Never built: `with` passes the caller's `Timeout`.
            Limit::Supplied => (
                InstanceSpec::new("Timeout", Vec::new()),
                "call_with_timeout",
            ),
        };
        guard(cx, common, &spec, call, self.span, inner)
    }
}
