//! `#[chaos(error_rate = 0.1, latency = "200ms", latency_rate = 0.2)]`:
//! fault injection, compiled only with the `chaos` feature.

use darling::FromMeta;
use darling::ast::NestedMeta;
use darling::util::SpannedValue;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Lit;

use crate::args::{Common, InstanceSpec, instance};
use crate::duration::DurationLit;
use crate::expand::{Context, respan};
use crate::layer::Layer;
use crate::value;

#[derive(Debug, FromMeta)]
struct ChaosOptions {
    #[darling(default, with = value::number)]
    error_rate: Option<SpannedValue<f64>>,
    latency: Option<DurationLit>,
    #[darling(default, with = value::number)]
    latency_rate: Option<SpannedValue<f64>>,
    #[darling(flatten)]
    common: Common,
}

pub(crate) struct ChaosLayer {
    error_rate: f64,
    latency: Option<DurationLit>,
    latency_rate: f64,
    common: Common,
    span: Span,
}

fn check_rate(
    rate: &Option<SpannedValue<f64>>,
    key: &str,
    errors: &mut darling::error::Accumulator,
) {
    if let Some(rate) = rate
        && !(0.0..=1.0).contains(&**rate)
    {
        errors.push(
            darling::Error::custom(format!(
                "`{key}` is the fraction of calls affected, between 0 and 1 (e.g. 0.1 for one call in ten), not {}",
                **rate
            ))
            .with_span(&rate.span()),
        );
    }
}

impl ChaosLayer {
    pub(crate) fn parse(args: &[NestedMeta], span: Span) -> darling::Result<Self> {
        if let Some(NestedMeta::Lit(lit)) = args.first() {
            let hint = match lit {
                Lit::Float(_) | Lit::Int(_) => format!("write `error_rate = {}`", quote!(#lit)),
                Lit::Str(s) => format!("write `latency = \"{}\"`", s.value()),
                _ => "write options as `key = value`, e.g. `#[chaos(error_rate = 0.1)]`".to_owned(),
            };
            return Err(
                darling::Error::custom(format!("`#[chaos]` takes named options: {hint}"))
                    .with_span(lit),
            );
        }
        let options = ChaosOptions::from_list(args)?;
        let mut errors = darling::Error::accumulator();
        check_rate(&options.error_rate, "error_rate", &mut errors);
        check_rate(&options.latency_rate, "latency_rate", &mut errors);
        if let (Some(rate), None) = (&options.latency_rate, &options.latency) {
            errors.push(
                darling::Error::custom("`latency_rate` says how often to add latency, but no `latency` is set: add e.g. `latency = \"200ms\"`")
                    .with_span(&rate.span()),
            );
        }
        options.common.validate("chaos", &mut errors);
        errors.finish()?;
        Ok(ChaosLayer {
            error_rate: options.error_rate.map_or(0.0, |r| *r),
            // `latency` alone delays every call.
            latency_rate: options
                .latency_rate
                .map_or(if options.latency.is_some() { 1.0 } else { 0.0 }, |r| *r),
            latency: options.latency,
            common: options.common,
            span,
        })
    }

    /// The expansion when the `chaos` feature is on.
    fn wrap_enabled(&self, cx: &Context, inner: TokenStream) -> TokenStream {
        let private = &cx.private;
        let error_rate = self.error_rate;
        let latency_rate = self.latency_rate;
        let latency = self.latency.map_or_else(
            || quote!(::core::time::Duration::ZERO),
            DurationLit::to_tokens,
        );
        let spec = InstanceSpec {
            ty: quote!(#private::Chaos),
            make: Box::new({
                let private = private.clone();
                move |name| quote!(#private::Chaos::new(#name).error_rate(#error_rate).latency(#latency, #latency_rate))
            }),
        };
        let instance = instance(cx, &self.common, &spec);
        let err = &cx.err;
        let call = respan(quote!(#private::call_with_chaos::<_, _, #err>), self.span);
        quote! { #call(#instance, #inner) }
    }
}

impl Layer for ChaosLayer {
    fn common(&self) -> &Common {
        &self.common
    }

    /// Without the feature the layer is nothing at all: production builds
    /// pay neither a branch nor a byte for it.
    fn is_inert(&self) -> bool {
        !cfg!(feature = "chaos")
    }

    fn wrap(&self, cx: &Context, inner: TokenStream) -> TokenStream {
        if self.is_inert() {
            inner
        } else {
            self.wrap_enabled(cx, inner)
        }
    }
}
