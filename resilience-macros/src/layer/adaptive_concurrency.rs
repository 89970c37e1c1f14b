//! `#[adaptive_concurrency(algorithm = "vegas", min = 5, max = 200,
//! max_wait = "20ms", priority = req.priority)]`.

use darling::ast::NestedMeta;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use resilience_schema::adaptive_concurrency::{Algorithm, Settings};
use syn::{Expr, Meta};

use crate::args::{Common, InstanceSpec, instance};
use crate::expand::{Context, respan};
use crate::layer::Layer;
use crate::options;

pub(crate) struct AdaptiveConcurrencyLayer {
    settings: Settings,
    /// `priority = <expr>`, evaluated per call.
    priority: Option<Expr>,
    span: Span,
}

impl AdaptiveConcurrencyLayer {
    pub(crate) fn parse(args: &[NestedMeta], span: Span) -> darling::Result<(Self, Common)> {
        // `priority` is an expression over the arguments, not a setting of
        // the instance: taken out before the schema's parser sees the rest.
        let mut priority = None;
        let mut errors = darling::Error::accumulator();
        let rest: Vec<NestedMeta> = args
            .iter()
            .filter(|arg| {
                let NestedMeta::Meta(meta) = arg else {
                    return true;
                };
                if !meta.path().is_ident("priority") {
                    return true;
                }
                match meta {
                    Meta::NameValue(nv) if priority.is_none() => priority = Some(nv.value.clone()),
                    Meta::NameValue(_) => errors.push(
                        darling::Error::duplicate_field("priority").with_span(meta.path()),
                    ),
                    _ => errors.push(
                        darling::Error::custom(
                            "`priority` takes the call's priority, a `u8` expression: write e.g. `priority = req.priority` (higher is more important)",
                        )
                        .with_span(meta),
                    ),
                }
                false
            })
            .cloned()
            .collect();
        let parsed = errors.handle(options::parse::<Settings>(&rest).and_then(|o| o.checked(span)));
        errors.finish()?;
        let o = parsed.expect("a parse that failed recorded its error");
        Ok((
            AdaptiveConcurrencyLayer {
                settings: o.settings,
                priority,
                span,
            },
            o.common,
        ))
    }
}

impl Layer for AdaptiveConcurrencyLayer {
    fn wrap(&self, cx: &Context, common: &Common, inner: TokenStream) -> TokenStream {
        let private = &cx.private;
        let s = &self.settings;
        let algorithm = match s.algorithm.unwrap_or(Algorithm::Gradient2) {
            Algorithm::Gradient2 => quote!(#private::LimitAlgorithm::Gradient2),
            Algorithm::Vegas => quote!(#private::LimitAlgorithm::Vegas),
            Algorithm::Aimd => quote!(#private::LimitAlgorithm::Aimd),
        };
        let mut spec = InstanceSpec::new("AdaptiveConcurrency", vec![algorithm]);
        spec.calls = options::setters!(private, s => min, max, initial, max_wait, max_queue, window, backoff_ratio, slow_call, tolerance, smoothing, priority_share);
        let instance = instance(cx, common, &spec);
        let priority = match &self.priority {
            Some(expr) => {
                let span = syn::spanned::Spanned::span(expr);
                // The arguments, borrowed under their own names (patterns
                // bind by reference), for the expression to read.
                let borrowed = cx.args.iter().map(|arg| {
                    let (pattern, alias) = (strip_mut(&arg.pattern), &arg.alias);
                    quote! {
                        #[allow(unused_variables, clippy::toplevel_ref_arg)]
                        let #pattern = #private::Arg::get(&#alias);
                    }
                });
                let into = quote_spanned!(span=> #private::IntoPriority::into_priority);
                quote! {
                    let __resilience_priority: u8 = {
                        #(#borrowed)*
                        #into(#expr)
                    };
                }
            }
            None => quote!(let __resilience_priority: u8 = 0;),
        };
        let err = &cx.err;
        let error = quote!(__resilience_error);
        let outcome = cx.classify(&error);
        let call = respan(
            quote!(#private::call_with_adaptive_concurrency::<_, _, #err>),
            self.span,
        );
        // The priority is read before `inner` takes the arguments.
        quote! {{
            #priority
            #call(#instance, __resilience_priority, #inner, |#error: &#err| -> #private::Outcome { #outcome })
        }}
    }
}

/// `mut x` binds a reference here, which need not be mutable.
fn strip_mut(pattern: &syn::Pat) -> syn::Pat {
    match pattern {
        syn::Pat::Ident(ident) => syn::Pat::Ident(syn::PatIdent {
            mutability: None,
            by_ref: None,
            ..ident.clone()
        }),
        other => other.clone(),
    }
}
