//! `#[rate_limiter(rate = 100, per = "1s", burst = 20, max_wait = "10ms")]`.

use darling::ast::NestedMeta;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use resilience_schema::{self as schema, rate_limiter::Settings};

use crate::args::{Common, InstanceSpec, instance};
use crate::expand::{Context, respan};
use crate::layer::Layer;
use crate::options;

pub(crate) struct RateLimiterLayer {
    /// Absent with `with`: the caller's instance keeps its own.
    settings: Option<Settings>,
    span: Span,
}

impl RateLimiterLayer {
    pub(crate) fn parse(args: &[NestedMeta], span: Span) -> darling::Result<(Self, Common)> {
        let o = options::parse::<Settings>(args)?.checked(span)?;
        Ok((
            RateLimiterLayer {
                settings: o.common.with.is_none().then_some(o.settings),
                span,
            },
            o.common,
        ))
    }
}

impl Layer for RateLimiterLayer {
    fn wrap(&self, cx: &Context, common: &Common, inner: TokenStream) -> TokenStream {
        let private = &cx.private;
        let make: Box<dyn Fn(&TokenStream) -> TokenStream> = match &self.settings {
            // Never called: `with` passes the caller's instance.
            None => Box::new(|_| TokenStream::new()),
            Some(settings) => {
                let rate = settings.rate.unwrap_or(1);
                // `per` is an argument of `RateLimiter::new`: its default
                // comes from the schema when it is not written.
                let per =
                    crate::duration::tokens(settings.per.unwrap_or(schema::rate_limiter::PER));
                let calls = options::setters!(private, settings => burst, max_wait);
                let private = private.clone();
                Box::new(move |name| quote!(#private::RateLimiter::new(#name, #rate, #per) #calls))
            }
        };
        let spec = InstanceSpec {
            ty: quote!(#private::RateLimiter),
            make,
        };
        let instance = instance(cx, common, &spec);
        let err = &cx.err;
        let call = respan(
            quote!(#private::call_with_rate_limiter::<_, _, #err>),
            self.span,
        );
        quote! { #call(#instance, #inner) }
    }
}
