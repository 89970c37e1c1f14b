//! `#[rate_limiter(rate = 100, per = "1s", burst = 20, max_wait = "10ms")]`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use resilience_schema::{self as schema, rate_limiter::Settings};

use crate::args::{Common, InstanceSpec, guard};
use crate::expand::{Context, respan};
use crate::layer::{Guarded, Layer};
use crate::options;

impl Layer for Guarded<Settings> {
    fn wrap(&self, cx: &Context, common: &Common, inner: TokenStream) -> TokenStream {
        let private = &cx.private;
        if let Some(with) = &common.with {
            // Any limiter (in-process or the fleet's), found through
            // references and smart pointers by a method call's auto-deref.
            let span = syn::spanned::Spanned::span(with);
            let mut with = proc_macro2::Group::new(proc_macro2::Delimiter::None, quote!(#with));
            with.set_span(span);
            let limiter = quote_spanned! {span=>
                {
                    use #private::RateLimiterInstance as _;
                    (&#with).__resilience_with_must_be_a_RateLimiter_or_FleetRateLimiter()
                }
            };
            let err = &cx.err;
            let call = respan(
                quote!(#private::call_with_own_rate_limiter::<_, _, _, #err>),
                self.span,
            );
            return quote! { #call(#limiter, #inner) };
        }
        // `rate` is required and `per` an argument of `RateLimiter::new`:
        // the schema's default fills it when it is not written.
        let rate = options::Arg::arg(&self.settings.rate.unwrap_or(1), private);
        let per = self.settings.per.unwrap_or(schema::rate_limiter::PER);
        let mut spec =
            InstanceSpec::new("RateLimiter", vec![rate, options::Arg::arg(&per, private)]);
        spec.calls = options::setters!(private, self.settings => burst, max_wait);
        guard(
            cx,
            common,
            &spec,
            "call_with_rate_limiter",
            self.span,
            inner,
        )
    }
}
