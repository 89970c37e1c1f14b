//! `#[chaos(error_rate = 0.1, latency = "200ms", latency_rate = 0.2)]`:
//! fault injection, compiled only with the `chaos` feature.

use darling::FromMeta;
use darling::ast::NestedMeta;
use darling::util::SpannedValue;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use resilience_schema::{self as schema, chaos::Settings};

use crate::args::{Common, InstanceSpec, instance};
use crate::duration::DurationLit;
use crate::expand::{Context, respan};
use crate::layer::{Layer, Spans};
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
    settings: Settings,
    common: Common,
    span: Span,
}

impl ChaosLayer {
    pub(crate) fn parse(args: &[NestedMeta], span: Span) -> darling::Result<Self> {
        let o = ChaosOptions::from_list(args)?;
        let settings = Settings {
            error_rate: o.error_rate.as_deref().copied(),
            latency: o.latency.map(|d| d.value),
            latency_rate: o.latency_rate.as_deref().copied(),
        };
        let mut spans = Spans::default();
        spans.set("error_rate", o.error_rate.as_ref().map(|v| v.span()));
        spans.set("latency_rate", o.latency_rate.as_ref().map(|v| v.span()));
        let mut errors = darling::Error::accumulator();
        if o.common.with.is_none() {
            spans.report(settings.problems(), span, &mut errors);
        }
        errors.finish()?;
        Ok(ChaosLayer {
            settings,
            common: o.common,
            span,
        })
    }

    /// The expansion when the `chaos` feature is on.
    fn wrap_enabled(&self, cx: &Context, inner: TokenStream) -> TokenStream {
        let private = &cx.private;
        let error_rate = self.settings.error_rate.map(|r| quote!(.error_rate(#r)));
        // `latency` alone delays every call (the schema's `LATENCY_RATE`).
        let latency = self.settings.latency.map(|d| {
            let d = crate::duration::tokens(d);
            let rate = self
                .settings
                .latency_rate
                .unwrap_or(schema::chaos::LATENCY_RATE);
            quote!(.latency(#d, #rate))
        });
        let spec = InstanceSpec {
            ty: quote!(#private::Chaos),
            make: Box::new({
                let private = private.clone();
                move |name| quote!(#private::Chaos::new(#name) #error_rate #latency)
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
