//! `#[chaos(error_rate = 0.1, latency = "200ms", latency_rate = 0.2)]`:
//! fault injection, compiled only with the `chaos` feature.

use darling::ast::NestedMeta;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use resilience_schema::{self as schema, chaos::Settings};

use crate::args::{Common, InstanceSpec, instance};
use crate::expand::{Context, respan};
use crate::layer::Layer;
use crate::options;

pub(crate) struct ChaosLayer {
    settings: Settings,
    span: Span,
}

impl ChaosLayer {
    pub(crate) fn parse(args: &[NestedMeta], span: Span) -> darling::Result<(Self, Common)> {
        let o = options::parse::<Settings>(args)?.checked(span)?;
        Ok((
            ChaosLayer {
                settings: o.settings,
                span,
            },
            o.common,
        ))
    }

    /// The expansion when the `chaos` feature is on.
    fn wrap_enabled(&self, cx: &Context, common: &Common, inner: TokenStream) -> TokenStream {
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
        let instance = instance(cx, common, &spec);
        let err = &cx.err;
        let call = respan(quote!(#private::call_with_chaos::<_, _, #err>), self.span);
        quote! { #call(#instance, #inner) }
    }
}

impl Layer for ChaosLayer {
    /// Without the feature the layer is nothing at all: production builds
    /// pay neither a branch nor a byte for it.
    fn is_inert(&self) -> bool {
        !cfg!(feature = "chaos")
    }

    fn wrap(&self, cx: &Context, common: &Common, inner: TokenStream) -> TokenStream {
        if self.is_inert() {
            inner
        } else {
            self.wrap_enabled(cx, common, inner)
        }
    }
}
