//! `#[bulkhead(max_concurrent = 10, max_wait = "100ms", max_queue = 50)]`.

use darling::ast::NestedMeta;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use resilience_schema::bulkhead::Settings;

use crate::args::{Common, InstanceSpec, instance};
use crate::expand::{Context, respan};
use crate::layer::Layer;
use crate::options;

pub(crate) struct BulkheadLayer {
    /// Absent with `with`: the caller's instance keeps its own.
    settings: Option<Settings>,
    span: Span,
}

impl BulkheadLayer {
    pub(crate) fn parse(args: &[NestedMeta], span: Span) -> darling::Result<(Self, Common)> {
        let o = options::parse::<Settings>(args)?.checked(span)?;
        Ok((
            BulkheadLayer {
                settings: o.common.with.is_none().then_some(o.settings),
                span,
            },
            o.common,
        ))
    }
}

impl Layer for BulkheadLayer {
    fn wrap(&self, cx: &Context, common: &Common, inner: TokenStream) -> TokenStream {
        let private = &cx.private;
        let make: Box<dyn Fn(&TokenStream) -> TokenStream> = match &self.settings {
            // Never called: `with` passes the caller's instance.
            None => Box::new(|_| TokenStream::new()),
            Some(settings) => {
                // Required, so written (the schema refuses it missing).
                let max_concurrent =
                    options::Arg::arg(&settings.max_concurrent.unwrap_or(1), private);
                let calls = options::setters!(private, settings => max_wait, max_queue);
                let private = private.clone();
                Box::new(move |name| quote!(#private::Bulkhead::new(#name, #max_concurrent) #calls))
            }
        };
        let spec = InstanceSpec {
            ty: quote!(#private::Bulkhead),
            make,
        };
        let instance = instance(cx, common, &spec);
        let err = &cx.err;
        let call = respan(
            quote!(#private::call_with_bulkhead::<_, _, #err>),
            self.span,
        );
        quote! { #call(#instance, #inner) }
    }
}
