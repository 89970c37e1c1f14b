//! `#[circuit_breaker(failure_threshold = 5, open_for = "60s", …)]`.

use std::time::Duration;

use darling::FromMeta;
use darling::ast::NestedMeta;
use darling::util::SpannedValue;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{Expr, Lit, Meta, Path};

use resilience_schema::{
    self as schema,
    circuit_breaker::{Settings, Window},
};

use crate::args::{Common, InstanceSpec, instance};
use crate::duration::DurationLit;
use crate::expand::{Context, respan};
use crate::layer::{Layer, Spans};
use crate::value::{self, Expected};

/// A rate written as a number: `0.5`, or `1`.
#[derive(Debug, Clone, Copy)]
struct Rate {
    value: f64,
    span: Span,
}

impl FromMeta for Rate {
    fn from_meta(meta: &Meta) -> darling::Result<Self> {
        let rate = value::number_value(meta)?;
        Ok(Rate {
            value: *rate,
            span: rate.span(),
        })
    }
}

/// `window = 100` (the last 100 calls) or `window = "10s"`.
#[derive(Debug, Clone, Copy)]
enum WindowOpt {
    Calls(u32, Span),
    Time(DurationLit),
}

impl WindowOpt {
    fn span(&self) -> Span {
        match self {
            WindowOpt::Calls(_, span) => *span,
            WindowOpt::Time(d) => d.span,
        }
    }
}

impl FromMeta for WindowOpt {
    fn from_meta(meta: &Meta) -> darling::Result<Self> {
        let Meta::NameValue(nv) = meta else {
            return Err(value::not_key_value("window", meta, Expected::Count));
        };
        match value::strip_groups(&nv.value) {
            Expr::Lit(lit) => Self::from_value(&lit.lit),
            other => Err(darling::Error::custom(format!(
                "{}; or a duration such as `window = \"10s\"` (the calls of the last 10 s)",
                value::wrong_kind_message("window", other, Expected::Count)
            ))
            .with_span(other)),
        }
    }

    fn from_value(value: &Lit) -> darling::Result<Self> {
        match value {
            Lit::Int(n) => n
                .base10_parse::<u32>()
                .map(|n| WindowOpt::Calls(n, value.span()))
                .map_err(|_| darling::Error::custom("`window` holds at most 4294967295 calls").with_span(value)),
            Lit::Str(_) => DurationLit::from_value(value).map(WindowOpt::Time),
            _ => Err(darling::Error::custom(
                "`window` is a number of calls (`window = 100`: the last 100 calls) or a duration (`window = \"10s\"`: the calls of the last 10 s)",
            )
            .with_span(value)),
        }
    }
}

#[derive(Debug, FromMeta)]
struct BreakerOptions {
    #[darling(default, with = value::count)]
    failure_threshold: Option<SpannedValue<u32>>,
    failure_rate: Option<Rate>,
    window: Option<WindowOpt>,
    #[darling(default, with = value::count)]
    min_calls: Option<SpannedValue<u32>>,
    slow_call: Option<DurationLit>,
    slow_call_rate: Option<Rate>,
    open_for: Option<DurationLit>,
    #[darling(default, with = value::count)]
    success_threshold: Option<SpannedValue<u32>>,
    #[darling(default, with = value::count)]
    half_open_max_calls: Option<SpannedValue<u32>>,
    half_open_max_wait: Option<DurationLit>,
    #[darling(default, with = value::predicate)]
    failure_if: Option<Path>,
    #[darling(flatten)]
    common: Common,
}

pub(crate) struct CircuitBreakerLayer {
    settings: Settings,
    failure_if: Option<Path>,
    common: Common,
    span: Span,
}

impl CircuitBreakerLayer {
    pub(crate) fn parse(args: &[NestedMeta], span: Span) -> darling::Result<Self> {
        let o = BreakerOptions::from_list(args)?;
        let settings = Settings {
            failure_threshold: o.failure_threshold.as_deref().copied(),
            failure_rate: o.failure_rate.map(|r| r.value),
            window: o.window.map(|w| match w {
                WindowOpt::Calls(n, _) => Window::Calls(n),
                WindowOpt::Time(d) => Window::Time(d.value),
            }),
            min_calls: o.min_calls.as_deref().copied(),
            open_for: o.open_for.map(|d| d.value),
            slow_call: o.slow_call.map(|d| d.value),
            slow_call_rate: o.slow_call_rate.map(|r| r.value),
            success_threshold: o.success_threshold.as_deref().copied(),
            half_open_max_calls: o.half_open_max_calls.as_deref().copied(),
            half_open_max_wait: o.half_open_max_wait.map(|d| d.value),
        };
        let mut spans = Spans::default();
        spans.set(
            "failure_threshold",
            o.failure_threshold.as_ref().map(|v| v.span()),
        );
        spans.set("failure_rate", o.failure_rate.map(|r| r.span));
        spans.set("window", o.window.map(|w| w.span()));
        spans.set("min_calls", o.min_calls.as_ref().map(|v| v.span()));
        spans.set("open_for", o.open_for.map(|d| d.span));
        spans.set("slow_call", o.slow_call.map(|d| d.span));
        spans.set("slow_call_rate", o.slow_call_rate.map(|r| r.span));
        spans.set(
            "success_threshold",
            o.success_threshold.as_ref().map(|v| v.span()),
        );
        spans.set(
            "half_open_max_calls",
            o.half_open_max_calls.as_ref().map(|v| v.span()),
        );
        spans.set("half_open_max_wait", o.half_open_max_wait.map(|d| d.span));
        let mut errors = darling::Error::accumulator();
        spans.report(settings.problems(), span, &mut errors);
        errors.finish()?;
        Ok(CircuitBreakerLayer {
            settings,
            failure_if: o.failure_if,
            common: o.common,
            span,
        })
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
        let slow_call = s.slow_call.map(duration).map(|d| quote!(.slow_call(#d)));
        let slow_call_rate = s.slow_call_rate.map(|r| quote!(.slow_call_rate(#r)));
        let open_for = s.open_for.map(duration).map(|d| quote!(.open_for(#d)));
        let success_threshold = s.success_threshold.map(|n| quote!(.success_threshold(#n)));
        let half_open_max_calls = s
            .half_open_max_calls
            .map(|n| quote!(.half_open_max_calls(#n)));
        let half_open_max_wait = s
            .half_open_max_wait
            .map(duration)
            .map(|d| quote!(.half_open_max_wait(#d)));
        quote! {
            #private::BreakerPolicy::new()
                #trip #slow_call #slow_call_rate #open_for
                #success_threshold #half_open_max_calls #half_open_max_wait
        }
    }
}

impl Layer for CircuitBreakerLayer {
    fn common(&self) -> &Common {
        &self.common
    }

    fn wrap(&self, cx: &Context, inner: TokenStream) -> TokenStream {
        let private = &cx.private;
        let policy = self.policy(private);
        let spec = InstanceSpec {
            ty: quote!(#private::CircuitBreaker),
            make: Box::new({
                let private = private.clone();
                move |name| quote!(#private::CircuitBreaker::new(#name, #policy))
            }),
        };
        let instance = instance(cx, &self.common, &spec);
        let err = &cx.err;
        let error = quote!(__resilience_error);
        let outcome = match &self.failure_if {
            Some(path) => quote_spanned! {syn::spanned::Spanned::span(path)=>
                #private::Outcome::from_predicate(#path(#error))
            },
            None => cx.classify(&error),
        };
        let call = respan(
            quote!(#private::call_with_circuit_breaker::<_, _, #err, _>),
            self.span,
        );
        quote! {
            #call(#instance, #inner, |#error: &#err| -> #private::Outcome { #outcome })
        }
    }
}
