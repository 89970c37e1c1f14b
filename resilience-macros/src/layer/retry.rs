//! `#[retry(max_attempts = 3, backoff = "exp", …)]`.

use std::time::Duration;

use darling::FromMeta;
use darling::ast::NestedMeta;
use darling::util::SpannedValue;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{Expr, ExprLit, Lit, LitStr, Meta, Path};

use resilience_schema::{self as schema, retry::Settings};

use crate::args::{Common, InstanceSpec, instance};
use crate::duration::DurationLit;
use crate::expand::Context;
use crate::layer::{Layer, Spans};
use crate::value::{self, Expected};

use schema::retry::{BACKOFFS, Backoff, JITTERS, Jitter};

/// `backoff = "exp"`.
#[derive(Debug, Clone, Copy)]
struct BackoffArg(Backoff);

impl FromMeta for BackoffArg {
    fn from_meta(meta: &Meta) -> darling::Result<Self> {
        let s = choice(meta, BACKOFFS, None)?;
        Backoff::from_word(&s.value())
            .map(BackoffArg)
            .ok_or_else(|| unknown_value("backoff", &s.value(), BACKOFFS).with_span(&s))
    }
}

/// `jitter = "full"`, or the bare key (the schema's `Jitter::BARE`).
#[derive(Debug, Clone, Copy)]
struct JitterArg(Jitter);

impl FromMeta for JitterArg {
    fn from_meta(meta: &Meta) -> darling::Result<Self> {
        if let Meta::Path(_) = meta {
            return Ok(JitterArg(Jitter::BARE));
        }
        let s = choice(meta, JITTERS, Some("full"))?;
        Jitter::from_word(&s.value())
            .map(JitterArg)
            .ok_or_else(|| unknown_value("jitter", &s.value(), JITTERS).with_span(&s))
    }
}

/// The string of `key = "…"`, or the error for any other kind of value.
fn choice(
    meta: &Meta,
    values: &'static [&'static str],
    word: Option<&'static str>,
) -> darling::Result<LitStr> {
    let expected = Expected::Choice { values, word };
    let key = value::key(meta);
    match meta {
        Meta::NameValue(nv) => match value::strip_groups(&nv.value) {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => Ok(s.clone()),
            other => Err(value::wrong_kind(&key, other, expected)),
        },
        other => Err(value::not_key_value(&key, other, expected)),
    }
}

fn unknown_value(key: &str, value: &str, allowed: &[&str]) -> darling::Error {
    let list = allowed
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let guess = allowed
        .iter()
        .find(|a| a.starts_with(&value.chars().take(2).collect::<String>()) && !value.is_empty());
    let hint = guess
        .map(|g| format!(" (did you mean \"{g}\"?)"))
        .unwrap_or_default();
    darling::Error::custom(format!("unknown {key} `{value}`{hint}: use one of {list}"))
}

#[derive(Debug, FromMeta)]
struct RetryOptions {
    #[darling(default, with = value::count)]
    max_attempts: Option<SpannedValue<u32>>,
    backoff: Option<SpannedValue<BackoffArg>>,
    base: Option<DurationLit>,
    max_delay: Option<DurationLit>,
    jitter: Option<SpannedValue<JitterArg>>,
    max_elapsed: Option<DurationLit>,
    #[darling(default, with = value::predicate)]
    retry_if: Option<Path>,
    #[darling(default, with = value::switch)]
    idempotent: Option<bool>,
    #[darling(default, with = value::number)]
    budget: Option<SpannedValue<f64>>,
    #[darling(default, with = value::count)]
    min_retries_per_sec: Option<SpannedValue<u32>>,
    #[darling(flatten)]
    common: Common,
}

pub(crate) struct RetryLayer {
    settings: Settings,
    retry_if: Option<Path>,
    common: Common,
}

impl RetryLayer {
    pub(crate) fn parse(args: &[NestedMeta], span: Span) -> darling::Result<Self> {
        let o = RetryOptions::from_list(args)?;
        let settings = Settings {
            max_attempts: o.max_attempts.as_deref().copied(),
            backoff: o.backoff.as_ref().map(|b| b.0),
            base: o.base.map(|d| d.value),
            max_delay: o.max_delay.map(|d| d.value),
            jitter: o.jitter.as_ref().map(|j| j.0),
            max_elapsed: o.max_elapsed.map(|d| d.value),
            idempotent: o.idempotent,
            budget: o.budget.as_deref().copied(),
            min_retries_per_sec: o.min_retries_per_sec.as_deref().copied(),
        };
        let mut spans = Spans::default();
        spans.set("max_attempts", o.max_attempts.as_ref().map(|v| v.span()));
        spans.set("max_delay", o.max_delay.map(|d| d.span));
        spans.set("jitter", o.jitter.as_ref().map(|v| v.span()));
        spans.set("max_elapsed", o.max_elapsed.map(|d| d.span));
        spans.set("budget", o.budget.as_ref().map(|v| v.span()));
        spans.set(
            "min_retries_per_sec",
            o.min_retries_per_sec.as_ref().map(|v| v.span()),
        );
        let mut errors = darling::Error::accumulator();
        spans.report(settings.problems(), span, &mut errors);
        errors.finish()?;
        Ok(RetryLayer {
            settings,
            retry_if: o.retry_if,
            common: o.common,
        })
    }

    /// `RetryPolicy::new()` and the options written, no more.
    fn policy(&self, private: &TokenStream) -> TokenStream {
        let s = &self.settings;
        let max_attempts = s.max_attempts.map(|n| quote!(.max_attempts(#n)));
        let backoff = s.backoff.map(|b| {
            let b = match b {
                Backoff::Fixed => quote!(Fixed),
                Backoff::Linear => quote!(Linear),
                Backoff::Exponential => quote!(Exponential),
                Backoff::Decorrelated => quote!(Decorrelated),
            };
            quote!(.backoff(#private::Backoff::#b))
        });
        let jitter = s.jitter.map(|j| {
            let j = match j {
                Jitter::None => quote!(None),
                Jitter::Full => quote!(Full),
                Jitter::Equal => quote!(Equal),
            };
            quote!(.jitter(#private::Jitter::#j))
        });
        let duration = |name: &str, d: Option<Duration>| {
            d.map(|d| {
                let name = syn::Ident::new(name, Span::call_site());
                let d = crate::duration::tokens(d);
                quote!(.#name(#d))
            })
        };
        let base = duration("base", s.base);
        // The runtime's `RetryPolicy` does not yet resolve the default cap
        // against `base` (`schema::retry::max_delay`): until it does, a
        // long `base` alone carries its cap.
        let max_delay = duration(
            "max_delay",
            s.max_delay.or(s
                .base
                .map(|base| schema::retry::max_delay(None, base))
                .filter(|cap| *cap != schema::retry::MAX_DELAY)),
        );
        let max_elapsed = duration("max_elapsed", s.max_elapsed);
        let idempotent = s.idempotent.map(|i| quote!(.idempotent(#i)));
        quote! {
            #private::RetryPolicy::new()
                #max_attempts #backoff #base #max_delay #jitter #max_elapsed #idempotent
        }
    }
}

impl Layer for RetryLayer {
    fn common(&self) -> &Common {
        &self.common
    }

    fn wrap(&self, cx: &Context, inner: TokenStream) -> TokenStream {
        let private = &cx.private;
        let policy = self.policy(private);
        let budget = self.settings.budget.map(|ratio| {
            let floor = self
                .settings
                .min_retries_per_sec
                .unwrap_or(schema::retry::MIN_RETRIES_PER_SEC);
            (ratio, floor)
        });
        let spec = InstanceSpec {
            ty: quote!(#private::Retry),
            make: Box::new({
                let private = private.clone();
                move |name| match budget {
                    Some((ratio, floor)) => quote! {
                        #private::Retry::with_budget(#name, #policy, #private::RetryBudget::new(#ratio, #floor))
                    },
                    None => quote!(#private::Retry::new(#name, #policy)),
                }
            }),
        };
        let instance = instance(cx, &self.common, &spec);
        let sources = cx.attempt_sources();
        let clones = cx.attempt_copies();
        // The error is classified by reference; the success path moves only
        // the `Ok` value out (a moved `Result` with a large error costs).
        let error = quote!(&__resilience_error);
        let outcome = match &self.retry_if {
            Some(path) => quote_spanned! {path_span(path)=>
                #private::Outcome::from_predicate(#path(#error))
            },
            None => cx.classify(&error),
        };
        let ret = &cx.ret;
        let to_result = cx.to_result(&quote!(__resilience_result));
        let ok = cx.wrap_result("from_ok", &quote!(__resilience_value));
        let err = cx.wrap_result("from_err", &quote!(__resilience_error));
        quote! {
            async {
                #(#sources)*
                let mut __resilience_attempts = #private::Retry::start(#instance);
                loop {
                    #(#clones)*
                    let __resilience_result: #ret = #inner.await;
                    let __resilience_error = match #to_result {
                        ::core::result::Result::Ok(__resilience_value) => {
                            break #ok;
                        }
                        ::core::result::Result::Err(__resilience_error) => __resilience_error,
                    };
                    match __resilience_attempts.after_failure(#outcome) {
                        // Boxed: the timer lives only between two attempts,
                        // and the call's future stays small.
                        ::core::option::Option::Some(__resilience_delay) => {
                            #private::sleep_between_attempts(__resilience_delay).await;
                        }
                        ::core::option::Option::None => break #err,
                    }
                }
            }
        }
    }
}

fn path_span(path: &Path) -> Span {
    syn::spanned::Spanned::span(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(args: TokenStream) -> String {
        let args = NestedMeta::parse_meta_list(args).unwrap();
        let layer = RetryLayer::parse(&args, Span::call_site()).unwrap_or_else(|e| panic!("{e}"));
        layer.policy(&quote!(p)).to_string()
    }

    #[test]
    fn a_bare_retry_writes_no_default() {
        assert_eq!(policy(quote!()), quote!(p::RetryPolicy::new()).to_string());
        assert_eq!(
            policy(quote!(max_attempts = 5)),
            quote!(p::RetryPolicy::new().max_attempts(5u32)).to_string()
        );
    }
}
