//! `#[retry(max_attempts = 3, backoff = "exp", …)]`.

use std::time::Duration;

use darling::FromMeta;
use darling::ast::NestedMeta;
use darling::util::SpannedValue;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{Expr, ExprLit, Lit, LitStr, Meta, Path};

use crate::args::{Common, InstanceSpec, instance};
use crate::duration::DurationLit;
use crate::expand::Context;
use crate::layer::Layer;
use crate::value::{self, Expected};

const BACKOFFS: [&str; 4] = ["fixed", "linear", "exp", "decorrelated"];
const JITTERS: [&str; 3] = ["full", "equal", "none"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backoff {
    Fixed,
    Linear,
    Exp,
    Decorrelated,
}

impl FromMeta for Backoff {
    fn from_meta(meta: &Meta) -> darling::Result<Self> {
        choice(meta, &BACKOFFS, None)
            .and_then(|s| Self::from_string(&s.value()).map_err(|e| e.with_span(&s)))
    }

    fn from_string(value: &str) -> darling::Result<Self> {
        Ok(match value {
            "fixed" => Backoff::Fixed,
            "linear" => Backoff::Linear,
            "exp" | "exponential" => Backoff::Exp,
            "decorrelated" => Backoff::Decorrelated,
            other => return Err(unknown_value("backoff", other, &BACKOFFS)),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Jitter {
    None,
    Full,
    Equal,
}

impl FromMeta for Jitter {
    /// Bare `jitter` means full jitter.
    fn from_meta(meta: &Meta) -> darling::Result<Self> {
        if let Meta::Path(_) = meta {
            return Ok(Jitter::Full);
        }
        choice(meta, &JITTERS, Some("full"))
            .and_then(|s| Self::from_string(&s.value()).map_err(|e| e.with_span(&s)))
    }

    fn from_string(value: &str) -> darling::Result<Self> {
        Ok(match value {
            "full" => Jitter::Full,
            "equal" => Jitter::Equal,
            "none" => Jitter::None,
            other => return Err(unknown_value("jitter", other, &JITTERS)),
        })
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
    backoff: Option<SpannedValue<Backoff>>,
    base: Option<DurationLit>,
    max_delay: Option<DurationLit>,
    jitter: Option<SpannedValue<Jitter>>,
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
    max_attempts: u32,
    backoff: Backoff,
    base: Duration,
    max_delay: Duration,
    jitter: Jitter,
    max_elapsed: Option<Duration>,
    retry_if: Option<Path>,
    idempotent: bool,
    /// `(ratio, min_retries_per_sec)`.
    budget: Option<(f64, u32)>,
    common: Common,
}

/// Finagle's default floor: a quiet client may still retry this often.
const DEFAULT_MIN_RETRIES_PER_SEC: u32 = 10;

const DEFAULT_BASE: Duration = Duration::from_millis(100);
const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);

impl RetryLayer {
    pub(crate) fn parse(args: &[NestedMeta], _span: Span) -> darling::Result<Self> {
        if let Some(NestedMeta::Lit(lit)) = args.first() {
            let hint = match lit {
                Lit::Int(n) => format!("write `max_attempts = {n}`"),
                _ => "write options as `key = value`, e.g. `#[retry(max_attempts = 3)]`".to_owned(),
            };
            return Err(
                darling::Error::custom(format!("`#[retry]` takes named options: {hint}"))
                    .with_span(lit),
            );
        }
        let options = RetryOptions::from_list(args)?;
        let mut errors = darling::Error::accumulator();
        let max_attempts = options.max_attempts.as_ref().map_or(3, |m| **m);
        if let Some(m) = &options.max_attempts
            && **m == 0
        {
            errors.push(
                darling::Error::custom("`max_attempts` counts every call, the first included, so it must be at least 1 (1 means no retry)")
                    .with_span(&m.span()),
            );
        }
        let backoff = options.backoff.as_ref().map_or(Backoff::Exp, |b| **b);
        let base = options.base.map_or(DEFAULT_BASE, |b| b.value);
        let max_delay = match options.max_delay {
            Some(max) => {
                if max.value < base {
                    errors.push(
                        darling::Error::custom(format!(
                            "`max_delay` ({:?}) is below `base` ({base:?}): every delay would be capped under the first one; raise `max_delay` or lower `base`",
                            max.value
                        ))
                        .with_span(&max.span),
                    );
                }
                max.value
            }
            None => DEFAULT_MAX_DELAY.max(base),
        };
        if let (Some(jitter), Backoff::Decorrelated) = (&options.jitter, backoff)
            && **jitter != Jitter::None
        {
            errors.push(
                darling::Error::custom("`backoff = \"decorrelated\"` already draws each delay at random: remove `jitter` (or use another backoff with jitter)")
                    .with_span(&jitter.span()),
            );
        }
        if let Some(max_elapsed) = options.max_elapsed
            && max_elapsed.value.is_zero()
        {
            errors.push(
                darling::Error::custom("`max_elapsed` of zero would stop before the first retry: use a positive duration or remove it")
                    .with_span(&max_elapsed.span),
            );
        }
        if let Some(budget) = &options.budget
            && !(**budget > 0.0 && **budget <= 1.0)
        {
            errors.push(
                darling::Error::custom(format!(
                    "`budget` is the fraction of calls that may be retried, above 0 and at most 1 (e.g. 0.2), not {}",
                    **budget
                ))
                .with_span(&budget.span()),
            );
        }
        if let (None, Some(floor)) = (&options.budget, &options.min_retries_per_sec) {
            errors.push(
                darling::Error::custom("`min_retries_per_sec` is the floor of a retry budget: add `budget = 0.2` (the fraction of calls that may be retried)")
                    .with_span(&floor.span()),
            );
        }
        options.common.validate("retry", &mut errors);
        errors.finish()?;
        Ok(RetryLayer {
            max_attempts,
            backoff,
            base,
            max_delay,
            jitter: options.jitter.map_or(Jitter::None, |j| *j),
            max_elapsed: options.max_elapsed.map(|m| m.value),
            retry_if: options.retry_if,
            idempotent: options.idempotent.unwrap_or(false),
            budget: options.budget.map(|ratio| {
                (
                    *ratio,
                    options
                        .min_retries_per_sec
                        .map_or(DEFAULT_MIN_RETRIES_PER_SEC, |m| *m),
                )
            }),
            common: options.common,
        })
    }

    fn policy(&self, private: &TokenStream) -> TokenStream {
        let attempts = self.max_attempts;
        let backoff = match self.backoff {
            Backoff::Fixed => quote!(Fixed),
            Backoff::Linear => quote!(Linear),
            Backoff::Exp => quote!(Exponential),
            Backoff::Decorrelated => quote!(Decorrelated),
        };
        let jitter = match self.jitter {
            Jitter::None => quote!(None),
            Jitter::Full => quote!(Full),
            Jitter::Equal => quote!(Equal),
        };
        let base = crate::duration::tokens(self.base);
        let max_delay = crate::duration::tokens(self.max_delay);
        let idempotent = self.idempotent;
        let max_elapsed = self.max_elapsed.map(|m| {
            let m = crate::duration::tokens(m);
            quote!(.max_elapsed(#m))
        });
        quote! {
            #private::RetryPolicy::new()
                .max_attempts(#attempts)
                .backoff(#private::Backoff::#backoff)
                .base(#base)
                .max_delay(#max_delay)
                .jitter(#private::Jitter::#jitter)
                .idempotent(#idempotent)
                #max_elapsed
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
        let budget = self.budget;
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
