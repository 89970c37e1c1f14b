//! `#[hedge(delay = "50ms", max_hedges = 1)]`: a second attempt when the
//! first is slow; the first `Ok` wins.

use darling::ast::NestedMeta;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use resilience_schema::{
    self as schema,
    hedge::{Delay, Settings},
};

use crate::args::{Common, InstanceSpec, instance};
use crate::expand::Context;
use crate::layer::Layer;
use crate::options;

pub(crate) struct HedgeLayer {
    settings: Settings,
}

impl HedgeLayer {
    pub(crate) fn parse(args: &[NestedMeta], span: Span) -> darling::Result<(Self, Common)> {
        let o = options::parse::<Settings>(args)?.checked(span)?;
        Ok(o.into_layer(|settings| HedgeLayer { settings }))
    }
}

impl Layer for HedgeLayer {
    fn wrap(&self, cx: &Context, common: &Common, inner: TokenStream) -> TokenStream {
        let private = &cx.private;
        // Both are arguments of `Hedge::new`: the schema's default fills
        // `max_hedges` when it is not written.
        let max_hedges = self
            .settings
            .max_hedges
            .unwrap_or(schema::hedge::MAX_HEDGES);
        let delay = self.settings.delay.unwrap_or(Delay::Adaptive);
        let spec = match delay {
            Delay::Fixed(d) => InstanceSpec::new(
                "Hedge",
                vec![options::Arg::arg(&d, private), quote!(#max_hedges)],
            ),
            Delay::Adaptive => InstanceSpec {
                ctor: "adaptive",
                ..InstanceSpec::new("Hedge", vec![quote!(#max_hedges)])
            },
        };
        let instance = instance(cx, common, &spec);
        let sources = cx.attempt_sources();
        let clones = cx.attempt_copies();
        quote! {
            async {
                #(#sources)*
                #private::Hedge::call(#instance, || {
                    #(#clones)*
                    #inner
                })
                .await
            }
        }
    }
}
