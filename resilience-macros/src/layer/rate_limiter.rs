//! `#[rate_limiter(rate = 100, per = "1s", burst = 20, max_wait = "10ms")]`.

use std::time::Duration;

use darling::FromMeta;
use darling::ast::NestedMeta;
use darling::util::SpannedValue;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Lit;

use crate::args::{Common, InstanceSpec, instance};
use crate::duration::DurationLit;
use crate::expand::{Context, respan};
use crate::layer::Layer;
use crate::value;

const DEFAULT_PER: Duration = Duration::from_secs(1);

/// The longest stretch a `RateLimiter` measures (`MAX_SPAN` in
/// resilience-runtime's `rate_limiter.rs`, which asserts the same bounds):
/// a full burst must earn back within it.
const MAX_SPAN: Duration = Duration::from_secs(100 * 31_557_600);
const YEAR_NANOS: u128 = 31_557_600 * 1_000_000_000;

#[derive(Debug, FromMeta)]
struct RateLimiterOptions {
    #[darling(default, with = value::count)]
    rate: Option<SpannedValue<u32>>,
    per: Option<DurationLit>,
    #[darling(default, with = value::count)]
    burst: Option<SpannedValue<u32>>,
    max_wait: Option<DurationLit>,
    #[darling(flatten)]
    common: Common,
}

/// Settings of the instance the macro creates (absent with `with`).
struct Settings {
    rate: u32,
    per: Duration,
    burst: Option<u32>,
    max_wait: Option<DurationLit>,
}

pub(crate) struct RateLimiterLayer {
    settings: Option<Settings>,
    common: Common,
    span: Span,
}

impl RateLimiterLayer {
    pub(crate) fn parse(args: &[NestedMeta], span: Span) -> darling::Result<Self> {
        if let Some(NestedMeta::Lit(lit)) = args.first() {
            let hint = match lit {
                Lit::Int(n) => format!("write `rate = {n}, per = \"1s\"`"),
                _ => "write options as `key = value`, e.g. `#[rate_limiter(rate = 100, per = \"1s\")]`".to_owned(),
            };
            return Err(darling::Error::custom(format!(
                "`#[rate_limiter]` takes named options: {hint}"
            ))
            .with_span(lit));
        }
        let options = RateLimiterOptions::from_list(args)?;
        let mut errors = darling::Error::accumulator();
        options.common.validate("rate_limiter", &mut errors);

        if options.common.with.is_some() {
            // The caller's instance carries its own settings (the driver
            // refuses any written beside `with`).
            errors.finish()?;
            return Ok(RateLimiterLayer {
                settings: None,
                common: options.common,
                span,
            });
        }

        let rate = match &options.rate {
            None => {
                errors.push(
                    darling::Error::custom(
                        "`#[rate_limiter]` needs `rate`, the calls allowed per period, e.g. `#[rate_limiter(rate = 100, per = \"1s\")]`",
                    )
                    .with_span(&span),
                );
                1
            }
            Some(rate) if **rate == 0 => {
                errors.push(
                    darling::Error::custom(
                        "`rate = 0` would refuse every call: allow at least 1 call per period (stretch `per` for slower rates, e.g. `rate = 1, per = \"1m\"`)",
                    )
                    .with_span(&rate.span()),
                );
                1
            }
            Some(rate) => **rate,
        };
        let per = match options.per {
            Some(per) if per.value.is_zero() => {
                errors.push(
                    darling::Error::custom(
                        "`per` of zero is not a period: use a positive duration such as \"1s\"",
                    )
                    .with_span(&per.span),
                );
                DEFAULT_PER
            }
            Some(per) if per.value.as_nanos() < u128::from(rate) => {
                errors.push(
                    darling::Error::custom(format!(
                        "{rate} calls per {:?} is more than one call per nanosecond: lengthen `per` or lower `rate`",
                        per.value
                    ))
                    .with_span(&per.span),
                );
                DEFAULT_PER
            }
            // `RateLimiter::new` measures the default burst, `rate` calls,
            // which earn back within `per`.
            Some(per)
                if per.value.as_nanos() / u128::from(rate) * u128::from(rate)
                    > MAX_SPAN.as_nanos() =>
            {
                errors.push(
                    darling::Error::custom(
                        "`per` is longer than the 100 years a rate limiter can measure: use a shorter period, e.g. `rate = 1, per = \"24h\"` for one call a day",
                    )
                    .with_span(&per.span),
                );
                DEFAULT_PER
            }
            Some(per) => per.value,
            None => DEFAULT_PER,
        };
        let interval = per.as_nanos() / u128::from(rate);
        if let Some(burst) = &options.burst
            && **burst == 0
        {
            errors.push(
                darling::Error::custom(
                    "`burst = 0` would refuse every call: `burst` is how many calls may come at once, at least 1 (it defaults to `rate`)",
                )
                .with_span(&burst.span()),
            );
        }
        if let Some(burst) = &options.burst
            && interval * u128::from(**burst) > MAX_SPAN.as_nanos()
        {
            let years = interval * u128::from(**burst) / YEAR_NANOS;
            errors.push(
                darling::Error::custom(format!(
                    "a full burst of {} calls takes {years} years to earn back (`burst` × `per / rate`), more than the 100 years a rate limiter can measure: lower `burst`, or shorten `per`",
                    **burst
                ))
                .with_span(&burst.span()),
            );
        }
        errors.finish()?;
        Ok(RateLimiterLayer {
            settings: Some(Settings {
                rate,
                per,
                burst: options.burst.map(|b| *b),
                max_wait: options.max_wait,
            }),
            common: options.common,
            span,
        })
    }
}

impl Layer for RateLimiterLayer {
    fn common(&self) -> &Common {
        &self.common
    }

    fn wrap(&self, cx: &Context, inner: TokenStream) -> TokenStream {
        let private = &cx.private;
        let make: Box<dyn Fn(&TokenStream) -> TokenStream> = match &self.settings {
            // Never called: `with` passes the caller's instance.
            None => Box::new(|_| TokenStream::new()),
            Some(settings) => {
                let rate = settings.rate;
                let per = crate::duration::tokens(settings.per);
                let burst = settings.burst.map(|b| quote!(.burst(#b)));
                let max_wait = settings.max_wait.map(|w| {
                    let w = w.to_tokens();
                    quote!(.max_wait(#w))
                });
                let private = private.clone();
                Box::new(
                    move |name| quote!(#private::RateLimiter::new(#name, #rate, #per) #burst #max_wait),
                )
            }
        };
        let spec = InstanceSpec {
            ty: quote!(#private::RateLimiter),
            make,
        };
        let instance = instance(cx, &self.common, &spec);
        let err = &cx.err;
        let call = respan(
            quote!(#private::call_with_rate_limiter::<_, _, #err>),
            self.span,
        );
        quote! { #call(#instance, #inner) }
    }
}
