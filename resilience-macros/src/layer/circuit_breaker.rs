//! `#[circuit_breaker(failure_threshold = 5, open_for = "60s", …)]`.

use std::time::Duration;

use darling::ast::NestedMeta;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Path;

use resilience_schema::{
    self as schema,
    circuit_breaker::{Settings, Window},
};

use crate::args::{Common, InstanceSpec, instance};
use crate::expand::{Context, respan};
use crate::layer::Layer;
use crate::options;

pub(crate) struct CircuitBreakerLayer {
    settings: Settings,
    failure_if: Option<Path>,
    failure_on_ok: Option<Path>,
    span: Span,
}

impl CircuitBreakerLayer {
    pub(crate) fn parse(args: &[NestedMeta], span: Span) -> darling::Result<(Self, Common)> {
        let mut o = options::parse::<Settings>(args)?.checked(span)?;
        Ok((
            CircuitBreakerLayer {
                failure_if: o.path("failure_if"),
                failure_on_ok: o.path("failure_on_ok"),
                settings: o.settings,
                span,
            },
            o.common,
        ))
    }

    /// `BreakerPolicy::new()` and the options written, no more (rate mode
    /// takes its rate and window together: the schema's defaults fill the
    /// one not written).
    fn policy(&self, private: &TokenStream) -> TokenStream {
        let s = &self.settings;
        let duration = |d: Duration| crate::duration::tokens(d);
        let trip = if let Some(n) = s.failure_threshold {
            Some(quote!(.failure_threshold(#n)))
        } else if s.rate_mode() {
            let rate = s
                .failure_rate
                .unwrap_or(schema::circuit_breaker::FAILURE_RATE);
            let window = match s.window.unwrap_or(schema::circuit_breaker::WINDOW) {
                Window::Calls(n) => quote!(#private::WindowSize::Calls(#n)),
                Window::Time(d) => {
                    let d = duration(d);
                    quote!(#private::WindowSize::Time(#d))
                }
            };
            let min_calls = s.min_calls.map(|n| quote!(.min_calls(#n)));
            Some(quote!(.failure_rate(#rate, #window) #min_calls))
        } else {
            None
        };
        let calls = options::setters!(private, s => slow_call, slow_call_rate, open_for, success_threshold, half_open_max_calls, half_open_max_wait);
        quote!(#private::BreakerPolicy::new() #trip #calls)
    }
}

impl Layer for CircuitBreakerLayer {
    fn wrap(&self, cx: &Context, common: &Common, inner: TokenStream) -> TokenStream {
        let private = &cx.private;
        let policy = self.policy(private);
        let spec = InstanceSpec::new("CircuitBreaker", vec![policy]);
        let instance = instance(cx, common, &spec);
        let err = &cx.err;
        let error = quote!(__resilience_error);
        let outcome = match &self.failure_if {
            Some(path) => quote_spanned! {syn::spanned::Spanned::span(path)=>
                #private::Outcome::from_predicate(#path(#error))
            },
            None => cx.classify(&error),
        };
        let classify = quote!(|#error: &#err| -> #private::Outcome { #outcome });
        if let Some(path) = &self.failure_on_ok {
            let check = super::retry::ok_predicate(cx, "failure_on_ok", path);
            let call = respan(
                quote!(#private::call_with_circuit_breaker_on_ok::<_, _, #err, _, _>),
                self.span,
            );
            return quote!(#call(#instance, #inner, #classify, #check));
        }
        let call = respan(
            quote!(#private::call_with_circuit_breaker::<_, _, #err, _>),
            self.span,
        );
        quote! {
            #call(#instance, #inner, #classify)
        }
    }
}
