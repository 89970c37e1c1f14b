//! `#[timeout("2s")]` and `#[timeout(adaptive, quantile = 0.99, …)]`.

use std::time::Duration;

use darling::FromMeta;
use darling::ast::NestedMeta;
use darling::util::{Flag, SpannedValue};
use proc_macro2::{Span, TokenStream};
use quote::quote;
use resilience_schema::{self as schema, timeout::Settings};

use crate::args::{Common, InstanceSpec, instance};
use crate::duration::DurationLit;
use crate::expand::{Context, respan};
use crate::layer::{Layer, Spans};
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
    common: Common,
    span: Span,
}

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
        let positional = positional.map(|first| errors.handle(positional_duration(first)));
        let Some(o) = options else {
            return Err(errors.finish().unwrap_err());
        };
        let duration = match (positional, o.duration) {
            // A leading duration that did not parse has its error already.
            (Some(None), _) => None,
            (Some(Some(d)), None) | (None, Some(d)) => Some(d),
            (Some(Some(_)), Some(named)) => {
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
        let settings = Settings {
            duration: duration.map(|d| d.value),
            adaptive: o.adaptive.is_present(),
            quantile: o.quantile.as_deref().copied(),
            multiplier: o.multiplier.as_deref().copied(),
            min: o.min.map(|d| d.value),
            max: o.max.map(|d| d.value),
        };
        let mut spans = Spans::default();
        spans.set("duration", duration.map(|d| d.span));
        spans.set("quantile", o.quantile.as_ref().map(|v| v.span()));
        spans.set("multiplier", o.multiplier.as_ref().map(|v| v.span()));
        spans.set("min", o.min.map(|d| d.span));
        spans.set("max", o.max.map(|d| d.span));
        // Beside `with` the driver has refused every setting (a duration
        // too); a leading duration that did not parse is no missing one.
        let supplied = o.common.with.is_some() || matches!(positional, Some(None));
        if !supplied {
            spans.report(settings.problems(), span, &mut errors);
        }
        errors.finish()?;
        let limit = match settings.duration {
            _ if settings.adaptive => Limit::Adaptive(settings),
            Some(d) => Limit::Fixed(d),
            None => Limit::Supplied,
        };
        Ok(TimeoutLayer {
            limit,
            common: o.common,
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
                // `AdaptiveTimeout::new` takes every setting: the schema's
                // defaults fill those not written.
                let quantile = a.quantile.unwrap_or(schema::timeout::QUANTILE);
                let multiplier = a.multiplier.unwrap_or(schema::timeout::MULTIPLIER);
                let min = crate::duration::tokens(a.min.unwrap_or(schema::timeout::MIN));
                let max = crate::duration::tokens(a.max.unwrap_or(schema::timeout::MAX));
                let ty = quote!(#private::AdaptiveTimeout);
                let call = quote!(#private::call_with_adaptive_timeout::<_, _, #err>);
                let private = private.clone();
                let make: MakeInstance = Box::new(
                    move |name| quote!(#private::AdaptiveTimeout::new(#name, #quantile, #multiplier, #min, #max)),
                );
                (ty, make, call)
            }
            Limit::Fixed(d) => {
                let duration = crate::duration::tokens(*d);
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
