//! `#[retry(max_attempts = 3, backoff = "exp", …)]`.

use darling::ast::NestedMeta;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Path;

use resilience_schema::{self as schema, retry::Settings};

use crate::args::{Common, InstanceSpec, instance};
use crate::expand::Context;
use crate::layer::Layer;
use crate::options;

pub(crate) struct RetryLayer {
    settings: Settings,
    retry_if: Option<Path>,
    retry_on_ok: Option<Path>,
}

impl RetryLayer {
    pub(crate) fn parse(args: &[NestedMeta], span: Span) -> darling::Result<(Self, Common)> {
        let mut o = options::parse::<Settings>(args)?.checked(span)?;
        Ok((
            RetryLayer {
                retry_if: o.path("retry_if"),
                retry_on_ok: o.path("retry_on_ok"),
                settings: o.settings,
            },
            o.common,
        ))
    }

    /// `RetryPolicy::new()` and the options written, no more.
    fn policy(&self, private: &TokenStream) -> TokenStream {
        let s = self.settings;
        let calls = options::setters!(private, s => max_attempts, backoff, base, max_delay, jitter, max_elapsed, idempotent);
        quote!(#private::RetryPolicy::new() #calls)
    }
}

impl Layer for RetryLayer {
    fn wrap(&self, cx: &Context, common: &Common, inner: TokenStream) -> TokenStream {
        let private = &cx.private;
        let policy = self.policy(private);
        let budget = self.settings.budget.map(|ratio| {
            let floor = self
                .settings
                .min_retries_per_sec
                .unwrap_or(schema::retry::MIN_RETRIES_PER_SEC);
            (ratio, floor)
        });
        let spec = match budget {
            Some((ratio, floor)) => InstanceSpec {
                ctor: "with_budget",
                ..InstanceSpec::new(
                    "Retry",
                    vec![policy, quote!(#private::RetryBudget::new(#ratio, #floor))],
                )
            },
            None => InstanceSpec::new("Retry", vec![policy]),
        };
        let instance = instance(cx, common, &spec);
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
        let error_text = cx.error_text(&error);
        let ret = &cx.ret;
        let to_result = cx.to_result(&quote!(__resilience_result));
        let ok = cx.wrap_result("from_ok", &quote!(__resilience_value));
        let err = cx.wrap_result("from_err", &quote!(__resilience_error));
        // `retry_on_ok`: an `Ok` it rejects is retried as a transient
        // failure; used up, that last `Ok` is returned.
        let on_ok = match &self.retry_on_ok {
            Some(path) => {
                let check = ok_predicate(cx, "retry_on_ok", path);
                quote! {{
                    if !#check(&__resilience_value) {
                        __resilience_attempts.succeeded();
                        break #ok;
                    }
                    match __resilience_attempts.after_rejected_ok() {
                        ::core::option::Option::Some(__resilience_delay) => __resilience_delay,
                        ::core::option::Option::None => break #ok,
                    }
                }}
            }
            None => quote!({
                __resilience_attempts.succeeded();
                break #ok
            }),
        };
        // The value and the error live only in their arm: borrowed to be
        // judged, a binding kept to the end of the loop's body had room in
        // the future across the wait (and a drop flag).
        quote! {
            async {
                #(#sources)*
                let mut __resilience_attempts = #private::Retry::start(#instance);
                loop {
                    #(#clones)*
                    let __resilience_result: #ret = #inner.await;
                    let __resilience_delay = match #to_result {
                        ::core::result::Result::Ok(__resilience_value) => #on_ok,
                        ::core::result::Result::Err(__resilience_error) => {
                            // The error's text is borrowed for the verdict
                            // only: held across the wait, it would make the
                            // future !Send.
                            let __resilience_next = {
                                let __resilience_text = #error_text;
                                __resilience_attempts.after_error(#outcome, &__resilience_text)
                            };
                            match __resilience_next {
                                ::core::option::Option::Some(__resilience_delay) => __resilience_delay,
                                ::core::option::Option::None => break #err,
                            }
                        }
                    };
                    // Boxed: the timer lives only between two attempts,
                    // and the call's future stays small.
                    #private::sleep_between_attempts(__resilience_delay).await;
                }
            }
        }
    }
}

fn path_span(path: &Path) -> Span {
    syn::spanned::Spanned::span(path)
}

/// `retry_on_ok` / `failure_on_ok` as a `fn(&T) -> bool` of the function's
/// `Ok` type, spanned at the path: a path of another type is an error
/// there that names the type to write.
pub(crate) fn ok_predicate(cx: &Context, key: &str, path: &Path) -> TokenStream {
    let private = &cx.private;
    let ret = &cx.ret;
    let span = path_span(path);
    let key = syn::Ident::new(key, span);
    let check = crate::expand::respan(
        quote!(#private::#key::<<#ret as #private::IsResult>::Ok>),
        span,
    );
    quote_spanned!(span=> #check(#path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(args: TokenStream) -> String {
        let args = NestedMeta::parse_meta_list(args).unwrap();
        let (layer, _) =
            RetryLayer::parse(&args, Span::call_site()).unwrap_or_else(|e| panic!("{e}"));
        layer.policy(&quote!(p)).to_string()
    }

    #[test]
    fn a_bare_retry_writes_no_default() {
        assert_eq!(policy(quote!()), quote!(p::RetryPolicy::new()).to_string());
        assert_eq!(
            policy(quote!(max_attempts = 5)),
            quote!(p::RetryPolicy::new().max_attempts(5)).to_string()
        );
    }
}
