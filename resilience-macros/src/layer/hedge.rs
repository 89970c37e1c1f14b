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
    retry_on_ok: Option<syn::Path>,
}

impl HedgeLayer {
    pub(crate) fn parse(args: &[NestedMeta], span: Span) -> darling::Result<(Self, Common)> {
        let mut o = options::parse::<Settings>(args)?.checked(span)?;
        let retry_on_ok = o.path("retry_on_ok");
        Ok(o.into_layer(|settings| HedgeLayer {
            settings,
            retry_on_ok,
        }))
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
        let attempt = quote! {
            || {
                #(#clones)*
                #inner
            }
        };
        let call = match &self.retry_on_ok {
            Some(path) => {
                let check = super::retry::ok_predicate(cx, "retry_on_ok", path);
                quote!(#private::Hedge::call_with_retry_on_ok(#instance, #attempt, #check))
            }
            None => quote!(#private::Hedge::call(#instance, #attempt)),
        };
        quote! {
            async {
                #(#sources)*
                #call.await
            }
        }
    }
}
