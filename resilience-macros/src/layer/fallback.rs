//! `#[fallback(level, level, …)]`: a ladder of stand-ins tried in order
//! until one answers `Ok`, with the built-in `stale_cache(…)` level.

use std::collections::HashSet;
use std::time::Duration;

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use resilience_schema::stale_cache;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Lit, Token};

use crate::args::Common;
use crate::duration;
use crate::expand::{Context, respan};
use crate::layer::Layer;

// A few levels per attribute, at compile time: their size does not matter.
// (It crosses the lint's line only when spans carry a line and column,
// proc-macro2's `span-locations`, which the unit tests turn on and
// `--all-targets` builds then unify into the library too.)
#[allow(clippy::large_enum_variant)]
enum Level {
    /// An expression of the function's return type.
    Expr(Expr),
    /// The last good result for the same arguments.
    StaleCache(StaleCache),
}

struct StaleCache {
    ttl: Duration,
    capacity: u64,
    /// A cache the caller owns.
    with: Option<Expr>,
    /// What results are keyed by, instead of the arguments.
    key: Option<Expr>,
    /// The whole `stale_cache(…)`.
    span: Span,
    /// The word `stale_cache`.
    name_span: Span,
}

pub(crate) struct FallbackLayer {
    levels: Vec<Level>,
    /// `fallback_if = path`: which errors the levels answer.
    fallback_if: Option<syn::Path>,
}

impl FallbackLayer {
    pub(crate) fn parse(args: &TokenStream, span: Span) -> darling::Result<(Self, Common)> {
        let exprs = Punctuated::<Expr, Token![,]>::parse_terminated
            .parse2(args.clone())
            .map_err(darling::Error::from)?;
        let mut errors = darling::Error::accumulator();
        let mut common = Common::default();
        let mut levels = Vec::new();
        let mut fallback_if: Option<syn::Path> = None;
        let mut had_errors = false;
        for expr in exprs {
            match expr {
                Expr::Assign(assign) => {
                    match (path_name(&assign.left).as_deref(), &*assign.right) {
                        (
                            Some("crate"),
                            Expr::Lit(syn::ExprLit {
                                lit: Lit::Str(krate),
                                ..
                            }),
                        ) => {
                            common.krate = Some(krate.clone());
                        }
                        (Some("fallback_if"), _) if fallback_if.is_some() => {
                            had_errors = true;
                            errors.push(
                                darling::Error::custom("`fallback_if` set twice")
                                    .with_span(&assign.left),
                            );
                        }
                        (Some("fallback_if"), Expr::Path(path)) if path.qself.is_none() => {
                            fallback_if = Some(path.path.clone());
                        }
                        (Some("fallback_if"), other) => {
                            had_errors = true;
                            errors.push(crate::value::wrong_kind(
                                "fallback_if",
                                other,
                                resilience_schema::Kind::Path,
                            ));
                        }
                        (left, _) => {
                            had_errors = true;
                            errors.push(
                        darling::Error::custom(format!(
                            "a `#[fallback]` level is an expression of the function's return type, and `{} = …` is not one: write e.g. `Ok(default_value())`; the options are `fallback_if = path` and `crate = \"…\"`",
                            left.unwrap_or("…")
                        ))
                        .with_span(&assign),
                        );
                        }
                    }
                }
                Expr::Call(call) if path_name(&call.func).as_deref() == Some("stale_cache") => {
                    if levels.iter().any(|l| matches!(l, Level::StaleCache(_))) {
                        errors.push(
                            darling::Error::custom(
                                "`stale_cache` appears twice: one cache per function is enough",
                            )
                            .with_span(&call),
                        );
                    }
                    match parse_stale_cache(&call) {
                        Ok(cache) => levels.push(Level::StaleCache(cache)),
                        Err(error) => {
                            had_errors = true;
                            errors.push(error);
                        }
                    }
                }
                other => levels.push(Level::Expr(other)),
            }
        }
        if levels.is_empty() && !had_errors {
            errors.push(
                darling::Error::custom(
                    "`#[fallback]` needs at least one level, tried in order when the call fails: e.g. `#[fallback(stale_cache(ttl = \"10m\"), Ok(Vec::new()))]`",
                )
                .with_span(&span),
            );
        }
        errors.finish()?;
        Ok((
            FallbackLayer {
                levels,
                fallback_if,
            },
            common,
        ))
    }
}

fn path_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Path(path) if path.qself.is_none() && path.path.segments.len() == 1 => {
            Some(path.path.segments[0].ident.to_string())
        }
        _ => None,
    }
}

fn parse_stale_cache(call: &syn::ExprCall) -> darling::Result<StaleCache> {
    let mut errors = darling::Error::accumulator();
    let mut cache = StaleCache {
        ttl: stale_cache::TTL,
        capacity: stale_cache::CAPACITY,
        with: None,
        key: None,
        span: call.span(),
        name_span: call.func.span(),
    };
    let mut seen = HashSet::new();
    for arg in &call.args {
        let Expr::Assign(assign) = arg else {
            errors.push(
                darling::Error::custom(
                    "`stale_cache` takes `ttl = \"10m\"`, `capacity = 10_000`, `with = <cache>` or `key = <expr>`",
                )
                .with_span(arg),
            );
            continue;
        };
        let key = path_name(&assign.left).unwrap_or_default();
        if !seen.insert(key.clone()) {
            errors
                .push(darling::Error::custom(format!("`{key}` set twice")).with_span(&assign.left));
            continue;
        }
        match (key.as_str(), &*assign.right) {
            (
                "ttl",
                Expr::Lit(syn::ExprLit {
                    lit: Lit::Str(text),
                    ..
                }),
            ) => match duration::parse(&text.value()) {
                Ok(ttl) => match stale_cache::check_ttl(ttl) {
                    Ok(()) => cache.ttl = ttl,
                    Err(problem) => errors.push(darling::Error::custom(problem).with_span(text)),
                },
                Err(message) => errors.push(darling::Error::custom(message).with_span(text)),
            },
            (
                "capacity",
                Expr::Lit(syn::ExprLit {
                    lit: Lit::Int(n), ..
                }),
            ) => match stale_cache::check_capacity(n.base10_parse::<u64>().unwrap_or(0)) {
                Ok(()) => cache.capacity = n.base10_parse::<u64>().unwrap_or(0),
                Err(problem) => errors.push(darling::Error::custom(problem).with_span(n)),
            },
            ("with", expr) => cache.with = Some(expr.clone()),
            ("key", expr) => cache.key = Some(expr.clone()),
            ("ttl", other) => errors.push(
                darling::Error::custom("`ttl` is a duration string such as \"10m\"")
                    .with_span(other),
            ),
            ("capacity", other) => errors.push(
                darling::Error::custom("`capacity` is a number such as 10_000").with_span(other),
            ),
            (other, _) => errors.push(
                darling::Error::unknown_field_with_alts(
                    other,
                    &stale_cache::OPTIONS
                        .iter()
                        .map(|spec| spec.key)
                        .collect::<Vec<_>>(),
                )
                .with_span(&assign.left),
            ),
        }
    }
    errors.finish_with(cache)
}

/// The arguments (by index) whose patterns bind an identifier that one of
/// `exprs` mentions. Any identifier counts, so a false match costs a clone,
/// never a missing binding.
fn referenced_args<'a>(cx: &Context, exprs: impl Iterator<Item = &'a Expr>) -> Vec<usize> {
    let mut used = HashSet::new();
    for expr in exprs {
        idents(quote!(#expr), &mut used);
    }
    (0..cx.args.len())
        .filter(|&i| {
            let pattern = &cx.args[i].pattern;
            let mut bound = HashSet::new();
            idents(quote!(#pattern), &mut bound);
            !bound.is_disjoint(&used)
        })
        .collect()
}

/// Every identifier in `tokens`, through groups.
fn idents(tokens: TokenStream, out: &mut HashSet<String>) {
    for tree in tokens {
        match tree {
            TokenTree::Ident(ident) => {
                out.insert(ident.to_string());
            }
            TokenTree::Group(group) => idents(group.stream(), out),
            // `format!("{name}")` captures `name` from inside the string.
            TokenTree::Literal(literal) => format_captures(&literal.to_string(), out),
            TokenTree::Punct(_) => {}
        }
    }
}

/// The identifiers a format string captures: `{name}`, `{name:?}`.
fn format_captures(literal: &str, out: &mut HashSet<String>) {
    let mut rest = literal;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        if rest.starts_with('{') {
            rest = &rest[1..];
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end > 0 {
            out.insert(rest[..end].to_owned());
        }
    }
}

impl Layer for FallbackLayer {
    fn wrap(&self, cx: &Context, _: &Common, inner: TokenStream) -> TokenStream {
        let private = &cx.private;
        let ret = &cx.ret;
        let name = &cx.instance_name;
        let aliases: Vec<&syn::Ident> = cx.args.iter().map(|arg| &arg.alias).collect();

        // Arguments the levels mention are copied before the call, which may
        // consume them. Any identifier of the argument's pattern counts, so
        // a false match costs a clone, never a missing binding.
        let referenced = referenced_args(
            cx,
            self.levels.iter().filter_map(|level| match level {
                Level::Expr(expr) => Some(expr),
                Level::StaleCache(_) => None,
            }),
        );
        let kept_name = |i: usize| {
            let span = Span::mixed_site().located_at(cx.args[i].span);
            format_ident!("__resilience_kept{}", i, span = span)
        };
        let keep = referenced.iter().map(|&i| {
            let span = Span::mixed_site().located_at(cx.args[i].span);
            let keep_fn = respan(quote!(#private::keep_for_fallback), span);
            let alias = &aliases[i];
            let kept = kept_name(i);
            quote_spanned!(span=> let #kept = #keep_fn(&#alias);)
        });

        let cache = self.levels.iter().find_map(|l| match l {
            Level::StaleCache(cache) => Some(cache),
            Level::Expr(_) => None,
        });
        let (cache_setup, store) = match cache {
            Some(cache) => match self.stale_cache_setup(cx, cache) {
                Ok(setup) => (
                    setup,
                    quote!(__resilience_stale.store(__resilience_key, &__resilience_value);),
                ),
                Err(error) => {
                    let error = error.to_compile_error();
                    return quote!({ #error; #inner });
                }
            },
            None => (TokenStream::new(), TokenStream::new()),
        };

        let ok = cx.wrap_result("from_ok", &quote!(__resilience_value));
        let steps = self.levels.iter().enumerate().map(|(index, level)| {
            let number = index + 1;
            let attempt = match level {
                // Without `fallback_if`, a `Permanent` error (a 404, a bad
                // request) is not answered with stale data: the resource
                // may not exist, or the request may never be valid.
                Level::StaleCache(_) if self.fallback_if.is_none() => {
                    let outcome = cx.classify(&quote!(&__resilience_error));
                    quote! {
                        if ::core::matches!(#outcome, #private::Outcome::Permanent) {
                            ::core::result::Result::Err(__resilience_error)
                        } else {
                            match __resilience_stale.fresh(&__resilience_key) {
                                ::core::option::Option::Some(__resilience_value) => ::core::result::Result::Ok(__resilience_value),
                                ::core::option::Option::None => ::core::result::Result::Err(__resilience_error),
                            }
                        }
                    }
                }
                Level::StaleCache(_) => quote! {
                    match __resilience_stale.fresh(&__resilience_key) {
                        ::core::option::Option::Some(__resilience_value) => ::core::result::Result::Ok(__resilience_value),
                        ::core::option::Option::None => ::core::result::Result::Err(__resilience_error),
                    }
                },
                Level::Expr(expr) => {
                    let span = expr.span();
                    let bindings = referenced.iter().map(|&i| rebind(cx, i, &kept_name(i)));
                    let check = respan(quote!(#private::fallback_level::<#ret, _>), span);
                    let into_result = cx.to_result(&quote_spanned!(span=> #check(#expr)));
                    quote! {{
                        #[allow(unused_variables)]
                        let err = __resilience_error;
                        #(#bindings)*
                        #into_result
                    }}
                }
            };
            quote! {
                #private::fallback_entered(#name, #number, {
                    #[allow(unused_imports)]
                    use #private::{ViaDisplay as _, ViaDebug as _, ViaTypeName as _};
                    (&&&#private::ErrorText(&__resilience_error)).__resilience_error_text()
                });
                let __resilience_error = match #attempt {
                    ::core::result::Result::Ok(__resilience_value) => return #ok,
                    ::core::result::Result::Err(__resilience_error) => __resilience_error,
                };
            }
        });

        let first = cx.to_result(&quote!(__resilience_result));
        let err = cx.wrap_result("from_err", &quote!(__resilience_error));
        // `fallback_if`: an error it rejects is returned as it is, no
        // level tried.
        let gate = self.fallback_if.as_ref().map(|path| {
            let span = path.span();
            let err_ty = &cx.err;
            let check = respan(quote!(#private::fallback_if::<#err_ty>), span);
            quote! {
                if !#check(#path)(&__resilience_error) {
                    #private::fallback_passed_over(#name);
                    return #err;
                }
            }
        });
        quote! {
            async {
                #(let #aliases = #aliases;)*
                #(#keep)*
                #cache_setup
                let __resilience_result: #ret = #inner.await;
                let __resilience_error = match #first {
                    ::core::result::Result::Ok(__resilience_value) => {
                        #store
                        return #ok;
                    }
                    ::core::result::Result::Err(__resilience_error) => __resilience_error,
                };
                #gate
                #(#steps)*
                #err
            }
        }
    }
}

impl FallbackLayer {
    /// Binds `__resilience_stale` (the cache) and `__resilience_key` (the
    /// owned arguments, or the `key = …` expression), before the call
    /// consumes the arguments.
    fn stale_cache_setup(&self, cx: &Context, cache: &StaleCache) -> syn::Result<TokenStream> {
        let private = &cx.private;
        if cx.receiver && cache.with.is_none() && cache.key.is_none() {
            return Err(syn::Error::new(
                cache.name_span,
                "`stale_cache` on a method needs `with` or `key`: its own cache is one per method, keyed by the arguments but not by `self`, so one instance's results would be served to another; give each instance its cache with `stale_cache(with = self.cache)` (a `resilience::fallback::StaleCache` field), or key by what tells instances apart with `stale_cache(key = (self.host.clone(), id))`",
            ));
        }
        if cache.with.is_none() {
            if cx.generic {
                return Err(syn::Error::new(
                    cache.span,
                    "`stale_cache` cannot keep its own cache for a generic function: its cache is a `static`, which cannot depend on type parameters; pass a cache you own with `stale_cache(with = …)`, or use it on a non-generic wrapper",
                ));
            }
            if let Some(span) = cx
                .args
                .iter()
                .find_map(|arg| contains_impl_trait(&arg.ty).then_some(arg.span))
            {
                return Err(syn::Error::new(
                    span,
                    "`stale_cache` cannot keep its own cache for a function with an `impl Trait` argument: its cache is a `static`, which cannot depend on that type; give the argument a concrete type, or pass a cache you own with `stale_cache(with = …)`",
                ));
            }
        }
        let declared = &cx.declared_ret;
        let value_ty = quote!(<#declared as #private::IsResult>::Ok);
        let value_check = respan(
            quote!(#private::assert_cache_value::<#value_ty>();),
            cx.ret_span,
        );
        let name = &cx.instance_name;
        let ttl = crate::duration::tokens(cache.ttl);
        let capacity = cache.capacity;
        let make = quote!(#private::StaleCache::new(#name, #ttl, #capacity));
        let setup = match &cache.key {
            Some(key) => {
                let key = explicit_key(cx, key);
                let instance = match &cache.with {
                    Some(with) => quote_spanned! {with.span()=>
                        #private::own_stale_cache::<_, #value_ty>(&__resilience_key, &(#with))
                    },
                    // The key's type cannot be named in a `static`: the slot
                    // holds the cache type-erased and hands it back typed.
                    None => quote! {{
                        static __RESILIENCE_STALE: #private::StaleCacheSlot = #private::StaleCacheSlot::new();
                        __RESILIENCE_STALE.get::<_, #value_ty>(&__resilience_key, || #make)
                    }},
                };
                quote! {
                    #key
                    let __resilience_stale = #instance;
                }
            }
            None => {
                let (key_ty, key) = argument_key(cx)?;
                let cache_ty = quote!(#private::StaleCache<#key_ty, #value_ty>);
                let instance = match &cache.with {
                    Some(with) => crate::args::own_instance(private, with, &cache_ty),
                    // Not listed by `registry::instances()`: registering
                    // needs the key's bounds, and a key that lacks them
                    // would then be reported three more times.
                    None => quote! {{
                        static __RESILIENCE_STALE: #private::LazyLock<#cache_ty> =
                            #private::LazyLock::new(|| #make);
                        &*__RESILIENCE_STALE
                    }},
                };
                quote! {
                    let __resilience_stale: &#cache_ty = #instance;
                    #key
                }
            }
        };
        Ok(quote! {
            #value_check
            #setup
        })
    }
}

/// `let <pattern> = …;`: the user's pattern of argument `i` bound to a
/// copy of `from` (the argument's hidden local, or a copy kept of it).
fn rebind(cx: &Context, i: usize, from: &syn::Ident) -> TokenStream {
    let private = &cx.private;
    let pattern = &cx.args[i].pattern;
    let keep_fn = respan(
        quote!(#private::keep_for_fallback),
        Span::mixed_site().located_at(cx.args[i].span),
    );
    quote! {
        #[allow(unused_variables, unused_mut)]
        let #pattern = #private::Arg::into_inner(#keep_fn(&#from));
    }
}

/// `let __resilience_key = …;` from `key = <expr>`, evaluated in scope of
/// copies of the arguments it mentions (the call still gets the originals).
fn explicit_key(cx: &Context, key: &Expr) -> TokenStream {
    let private = &cx.private;
    let bindings = referenced_args(cx, std::iter::once(key))
        .into_iter()
        .map(|i| rebind(cx, i, &cx.args[i].alias));
    let check = respan(quote!(#private::cache_key), key.span());
    quote! {
        let __resilience_key = {
            #(#bindings)*
            #check(#key)
        };
    }
}

/// The key type (the tuple of the arguments' owned types) and
/// `let __resilience_key = (…);` building it from the arguments.
fn argument_key(cx: &Context) -> syn::Result<(TokenStream, TokenStream)> {
    let private = &cx.private;
    let mut key_types = Vec::new();
    for (ty, span) in cx.args.iter().map(|arg| (&arg.ty, &arg.span)) {
        if contains_impl_trait(ty) {
            return Err(syn::Error::new(
                *span,
                "`stale_cache` keys its results by the arguments and must name their types, but this argument is `impl Trait`: give it a concrete type, or key by something else with `stale_cache(key = …)`",
            ));
        }
        let owned = match ty {
            syn::Type::Reference(reference) => &*reference.elem,
            other => other,
        };
        let span = Span::mixed_site().located_at(*span);
        key_types.push(respan(
            quote!(<<#owned as #private::ToOwned>::Owned as #private::CacheKeyPart>::Key),
            span,
        ));
    }
    let key_ty = quote!((#(#key_types,)*));
    let parts = cx
        .args
        .iter()
        .map(|arg| (&arg.alias, &arg.span))
        .map(|(alias, span)| {
            let span = Span::mixed_site().located_at(*span);
            let part = respan(quote!(#private::cache_key_part), span);
            quote_spanned!(span=> #part((*#alias.get()).to_owned()))
        });
    let key = quote! {
        #[allow(unused_imports)]
        use #private::ToOwned as _;
        let __resilience_key: #key_ty = (#(#parts,)*);
    };
    Ok((key_ty, key))
}

fn contains_impl_trait(ty: &syn::Type) -> bool {
    let mut found = HashSet::new();
    idents(quote!(#ty), &mut found);
    found.contains("impl")
}
