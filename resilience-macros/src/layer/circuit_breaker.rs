//! `#[circuit_breaker(failure_threshold = 5, open_for = "60s", …)]`.

use std::time::Duration;

use darling::FromMeta;
use darling::ast::NestedMeta;
use darling::util::SpannedValue;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{Expr, Lit, Meta, Path};

use crate::args::{Common, InstanceSpec, instance};
use crate::duration::DurationLit;
use crate::expand::{Context, respan};
use crate::layer::Layer;
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

#[derive(Debug, Clone, Copy)]
enum Trip {
    Consecutive(u32),
    Rate {
        rate: f64,
        window: WindowOpt,
        min_calls: Option<u32>,
    },
}

pub(crate) struct CircuitBreakerLayer {
    trip: Trip,
    slow_call: Option<Duration>,
    slow_call_rate: Option<f64>,
    open_for: Duration,
    success_threshold: u32,
    half_open_max_calls: u32,
    half_open_max_wait: Option<Duration>,
    failure_if: Option<Path>,
    common: Common,
    span: Span,
}

const DEFAULT_FAILURE_THRESHOLD: u32 = 5;
const DEFAULT_FAILURE_RATE: f64 = 0.5;
const DEFAULT_WINDOW_CALLS: u32 = 100;
const DEFAULT_OPEN_FOR: Duration = Duration::from_secs(60);
/// The runtime's largest count window.
const MAX_WINDOW_CALLS: u32 = 1_000_000;
/// Half-open counters are 8 bits wide in the runtime.
const MAX_HALF_OPEN: u32 = 255;
/// The runtime's `breaker::MAX_FAILURE_THRESHOLD`: the count of failures
/// in a row shares the breaker's state word with its generation.
const MAX_FAILURE_THRESHOLD: u32 = (1 << 29) - 1;

fn error(message: impl std::fmt::Display, span: Span) -> darling::Error {
    darling::Error::custom(message).with_span(&span)
}

fn check_rate(key: &str, rate: Rate, errors: &mut darling::error::Accumulator) {
    if rate.value > 0.0 && rate.value <= 1.0 {
        return;
    }
    // `50` most likely means 50 %; `1.5` is not a percentage anyone writes.
    let hint = if rate.value > 1.0 && rate.value <= 100.0 && rate.value.fract() == 0.0 {
        format!("; did you mean `{key} = {}`?", rate.value / 100.0)
    } else {
        String::new()
    };
    errors.push(error(
        format!("`{key}` is a fraction of calls in (0, 1], e.g. `{key} = 0.5` for 50%{hint}"),
        rate.span,
    ));
}

fn check_count(
    key: &str,
    value: &Option<SpannedValue<u32>>,
    why: &str,
    errors: &mut darling::error::Accumulator,
) {
    let Some(value) = value else { return };
    if **value == 0 {
        errors.push(error(
            format!("`{key} = 0` {why}: use at least 1"),
            value.span(),
        ));
    }
}

fn check_small(
    key: &str,
    value: &Option<SpannedValue<u32>>,
    errors: &mut darling::error::Accumulator,
) {
    let Some(value) = value else { return };
    if **value > MAX_HALF_OPEN {
        errors.push(error(
            format!("`{key}` is at most {MAX_HALF_OPEN} (half-open trials are few by design)"),
            value.span(),
        ));
    }
}

fn check_positive(
    key: &str,
    value: Option<DurationLit>,
    why: &str,
    errors: &mut darling::error::Accumulator,
) {
    if let Some(d) = value
        && d.value.is_zero()
    {
        errors.push(error(format!("`{key}` of zero {why}"), d.span));
    }
}

impl CircuitBreakerLayer {
    pub(crate) fn parse(args: &[NestedMeta], span: Span) -> darling::Result<Self> {
        if let Some(NestedMeta::Lit(lit)) = args.first() {
            let hint = match lit {
                Lit::Int(n) => format!("write `failure_threshold = {n}`"),
                Lit::Str(_) => "write `open_for = \"…\"`".to_owned(),
                _ => "write options as `key = value`, e.g. `#[circuit_breaker(failure_threshold = 5)]`".to_owned(),
            };
            return Err(error(
                format!("`#[circuit_breaker]` takes named options: {hint}"),
                lit.span(),
            ));
        }
        let o = BreakerOptions::from_list(args)?;
        let mut errors = darling::Error::accumulator();

        check_count(
            "failure_threshold",
            &o.failure_threshold,
            "would open the circuit before any failure (the default is 5)",
            &mut errors,
        );
        check_count(
            "success_threshold",
            &o.success_threshold,
            "would close the circuit without a single successful trial",
            &mut errors,
        );
        check_count(
            "half_open_max_calls",
            &o.half_open_max_calls,
            "would never admit a trial call, so the circuit could never close again",
            &mut errors,
        );
        check_count(
            "min_calls",
            &o.min_calls,
            "would judge a rate on no calls at all",
            &mut errors,
        );
        if let Some(threshold) = &o.failure_threshold
            && **threshold > MAX_FAILURE_THRESHOLD
        {
            errors.push(error(
                format!(
                    "`failure_threshold` is at most {MAX_FAILURE_THRESHOLD} failures in a row; for a busy service use a rate, e.g. `failure_rate = 0.5, window = \"10s\"`"
                ),
                threshold.span(),
            ));
        }
        check_small("success_threshold", &o.success_threshold, &mut errors);
        check_small("half_open_max_calls", &o.half_open_max_calls, &mut errors);
        if let Some(rate) = o.failure_rate {
            check_rate("failure_rate", rate, &mut errors);
        }
        if let Some(rate) = o.slow_call_rate {
            check_rate("slow_call_rate", rate, &mut errors);
        }
        check_positive(
            "open_for",
            o.open_for,
            "would let calls through the moment the circuit opens: use a positive duration such as \"30s\" (the default is \"60s\")",
            &mut errors,
        );
        check_positive(
            "slow_call",
            o.slow_call,
            "would make every call slow: use the duration above which a call is too slow, such as \"2s\"",
            &mut errors,
        );
        check_positive(
            "half_open_max_wait",
            o.half_open_max_wait,
            "would re-open the circuit while its first trial runs: use a positive duration longer than a call, such as \"10s\"",
            &mut errors,
        );
        match o.window {
            Some(WindowOpt::Calls(0, span)) => errors.push(error(
                "`window = 0` holds no calls: use e.g. `window = 100` (the last 100 calls) or `window = \"10s\"`",
                span,
            )),
            Some(WindowOpt::Calls(n, span)) if n > MAX_WINDOW_CALLS => errors.push(error(
                format!("`window` holds at most {MAX_WINDOW_CALLS} calls; for busier services use a time window such as `window = \"10s\"`"),
                span,
            )),
            Some(WindowOpt::Time(d)) if d.value.is_zero() => errors.push(error(
                "a `window` of zero time holds no calls: use e.g. `window = \"10s\"` or `window = 100` (the last 100 calls)",
                d.span,
            )),
            _ => {}
        }
        if let (Some(_), None) = (o.slow_call_rate, o.slow_call) {
            errors.push(error(
                "`slow_call_rate` needs `slow_call = \"…\"`, the duration from which a call counts as slow: add it, or remove `slow_call_rate`",
                o.slow_call_rate.map_or(span, |r| r.span),
            ));
        }

        // Which trip rule: `failure_threshold` (consecutive) or any of the
        // rate options; never both.
        let rate_options = [
            o.failure_rate.map(|r| ("failure_rate", r.span)),
            o.window.map(|w| ("window", w.span())),
            o.min_calls.as_ref().map(|m| ("min_calls", m.span())),
            o.slow_call_rate.map(|r| ("slow_call_rate", r.span)),
        ];
        let trip = match (
            &o.failure_threshold,
            o.failure_rate.is_some() || o.window.is_some() || o.slow_call_rate.is_some(),
        ) {
            (Some(threshold), _) => {
                for (key, key_span) in rate_options.iter().flatten() {
                    errors.push(error(
                        format!(
                            "`{key}` belongs to rate mode, but `failure_threshold` selects consecutive mode (open after N failures in a row): keep one rule, either remove `{key}` or replace `failure_threshold` with `failure_rate = …`"
                        ),
                        *key_span,
                    ));
                }
                Trip::Consecutive(**threshold)
            }
            (None, true) => {
                let window = o
                    .window
                    .unwrap_or(WindowOpt::Calls(DEFAULT_WINDOW_CALLS, span));
                let min_calls = o.min_calls.as_ref().map(|m| **m);
                if let (WindowOpt::Calls(size, _), Some(min)) = (window, &o.min_calls)
                    && **min > size
                    && size > 0
                {
                    let implied = if o.window.is_none() {
                        " (the default)"
                    } else {
                        ""
                    };
                    errors.push(error(
                        format!(
                            "`min_calls = {}` is more than the window of {size} calls{implied}, so the rate would never be checked: lower `min_calls` or widen `window`",
                            **min
                        ),
                        min.span(),
                    ));
                }
                Trip::Rate {
                    rate: o.failure_rate.map_or(DEFAULT_FAILURE_RATE, |r| r.value),
                    window,
                    min_calls,
                }
            }
            (None, false) => {
                if let Some(min) = &o.min_calls {
                    errors.push(error(
                        "`min_calls` applies to rate mode: add `failure_rate = …` (and `window = …`), or remove it",
                        min.span(),
                    ));
                }
                Trip::Consecutive(DEFAULT_FAILURE_THRESHOLD)
            }
        };

        o.common.validate("circuit_breaker", &mut errors);
        errors.finish()?;
        Ok(CircuitBreakerLayer {
            trip,
            slow_call: o.slow_call.map(|d| d.value),
            slow_call_rate: o.slow_call_rate.map(|r| r.value),
            open_for: o.open_for.map_or(DEFAULT_OPEN_FOR, |d| d.value),
            success_threshold: o.success_threshold.map_or(1, |n| *n),
            half_open_max_calls: o.half_open_max_calls.map_or(1, |n| *n),
            half_open_max_wait: o.half_open_max_wait.map(|d| d.value),
            failure_if: o.failure_if,
            common: o.common,
            span,
        })
    }

    fn policy(&self, private: &TokenStream) -> TokenStream {
        let trip = match self.trip {
            Trip::Consecutive(n) => quote!(.failure_threshold(#n)),
            Trip::Rate {
                rate,
                window,
                min_calls,
            } => {
                let window = match window {
                    WindowOpt::Calls(n, _) => quote!(#private::WindowSize::Calls(#n)),
                    WindowOpt::Time(d) => {
                        let d = crate::duration::tokens(d.value);
                        quote!(#private::WindowSize::Time(#d))
                    }
                };
                let min_calls = min_calls.map(|n| quote!(.min_calls(#n)));
                quote!(.failure_rate(#rate, #window) #min_calls)
            }
        };
        let slow_call = self.slow_call.map(|d| {
            let d = crate::duration::tokens(d);
            quote!(.slow_call(#d))
        });
        let slow_call_rate = self.slow_call_rate.map(|r| quote!(.slow_call_rate(#r)));
        let half_open_max_wait = self.half_open_max_wait.map(|d| {
            let d = crate::duration::tokens(d);
            quote!(.half_open_max_wait(#d))
        });
        let open_for = crate::duration::tokens(self.open_for);
        let (success_threshold, half_open_max_calls) =
            (self.success_threshold, self.half_open_max_calls);
        quote! {
            #private::BreakerPolicy::new()
                #trip
                #slow_call
                #slow_call_rate
                .open_for(#open_for)
                .success_threshold(#success_threshold)
                .half_open_max_calls(#half_open_max_calls)
                #half_open_max_wait
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
