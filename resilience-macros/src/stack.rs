//! The driver: the first attribute to expand collects every other
//! attribute of this crate on the function, in the order written
//! (outermost first), and builds them all at once, in steps (as
//! thiserror's `ast` → `valid` → `expand`): [`collect`] the stack,
//! [`check_stack`], parse and check each layer ([`LayerKind::parse`], with
//! the checks every layer shares), check the signature
//! ([`signature::analyze`]), and [`expand::function`].

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{ItemFn, Meta};

use crate::expand;
use crate::layer::{Built, LayerKind};
use crate::signature;

/// One attribute of the stack, as written.
struct Written {
    kind: LayerKind,
    span: Span,
    args: TokenStream,
}

/// Expands the attribute `first` (with `args`) on `item`, together with the
/// rest of the stack found on `item`, in steps: collect the stack, check
/// it, parse and check each layer, check the signature, expand. Every
/// error of every step is reported; with any, the function is emitted
/// without its layers, so the rest of the crate still type-checks.
pub(crate) fn expand(first: LayerKind, args: TokenStream, item: TokenStream) -> TokenStream {
    if is_consumed(&args) {
        return item;
    }
    let mut item = match function(first, item) {
        Ok(item) => item,
        Err(error) => return error,
    };
    let mut errors = darling::Error::accumulator();
    let stack = collect(first, args, &mut item, &mut errors);
    check_stack(&stack, &item.sig, &mut errors);
    let layers: Vec<Built> = stack
        .iter()
        .filter_map(|w| {
            errors.handle(
                w.kind
                    .parse(&w.args, w.span)
                    .map_err(|e| with_default_span(e, w.span)),
            )
        })
        .collect();
    let root = crate_root(&layers, &mut errors);
    let mut rewritten = item.clone();
    let shape = match signature::analyze(&mut rewritten, first.name()) {
        Ok(shape) => Some(shape),
        Err(signature_errors) => {
            for e in signature_errors {
                errors.push(darling::Error::from(e));
            }
            None
        }
    };
    match (errors.finish(), shape) {
        (Ok(()), Some(_)) if layers.iter().all(|built| built.layer.is_inert()) => quote!(#item),
        (Ok(()), Some(shape)) => expand::function(rewritten, shape, &layers, root),
        (result, _) => {
            let errors = result.err().map(darling::Error::write_errors);
            quote!(#errors #item)
        }
    }
}

/// The function the attribute is on. A function whose body does not parse
/// keeps syn's own error (with the tokens, so rustc reports the rest);
/// any other item is refused.
fn function(first: LayerKind, item: TokenStream) -> Result<ItemFn, TokenStream> {
    match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Fn(function)) => Ok(function),
        Ok(_) => {
            let error = syn::Error::new(
                Span::call_site(),
                format!(
                    "`#[{}]` applies to `async fn` items (free functions and methods)",
                    first.name()
                ),
            )
            .to_compile_error();
            Err(quote!(#error #item))
        }
        Err(error) => {
            let error = error.to_compile_error();
            Err(quote!(#error #item))
        }
    }
}

/// Step 1: the stack, outermost first: `first` (the attribute expanding)
/// and every other attribute of this crate on `item`, each left on the
/// function marked as consumed ([`expand::function`] moves the marked
/// ones onto an empty item in the body).
fn collect(
    first: LayerKind,
    args: TokenStream,
    item: &mut ItemFn,
    errors: &mut darling::error::Accumulator,
) -> Vec<Written> {
    let mut written = vec![Written {
        kind: first,
        span: Span::call_site(),
        args,
    }];
    for attr in &mut item.attrs {
        let Some(kind) = LayerKind::from_path(attr.path()) else {
            continue;
        };
        let span = syn::spanned::Spanned::span(attr.path());
        match &attr.meta {
            Meta::Path(_) => written.push(Written {
                kind,
                span,
                args: TokenStream::new(),
            }),
            Meta::List(list) => written.push(Written {
                kind,
                span,
                args: list.tokens.clone(),
            }),
            Meta::NameValue(_) => errors.push(
                darling::Error::custom(format!(
                    "write `#[{0}(…)]` with options in parentheses, not `#[{0} = …]`",
                    kind.name()
                ))
                .with_span(&span),
            ),
        }
        // The attribute stays, marked as consumed, so that its path is
        // still resolved (the user's `use` of it counts as used) and its
        // own expansion hands its item back unchanged: the function when
        // the stack has an error, else the empty item in the body that
        // `expand::function` moves it to.
        let path = attr.path().clone();
        let marker = syn::Ident::new(CONSUMED, Span::call_site());
        *attr = syn::parse_quote!(#[#path(#marker)]);
    }
    written
}

/// Step 2: the rules of the stack as a whole: each layer once, a fallback
/// above the layers that react to failures, no `&mut` under `#[hedge]`.
fn check_stack(
    written: &[Written],
    sig: &syn::Signature,
    errors: &mut darling::error::Accumulator,
) {
    for (index, layer) in written.iter().enumerate() {
        if written[..index]
            .iter()
            .any(|earlier| earlier.kind == layer.kind)
        {
            errors.push(
                darling::Error::custom(format!(
                    "`#[{0}]` appears twice on this function: a layer can be used once per stack; merge the options into one `#[{0}(…)]`",
                    layer.kind.name()
                ))
                .with_span(&layer.span),
            );
        }
    }

    // A fallback turns failures into answers; written below a layer that
    // reacts to failures, it would hide every failure from that layer.
    if let Some(at) = written.iter().position(|w| w.kind == LayerKind::Fallback) {
        for outer in &written[..at] {
            let consequence = match outer.kind {
                LayerKind::Retry => "nothing would ever be retried",
                LayerKind::CircuitBreaker => "the breaker would never open",
                _ => continue,
            };
            errors.push(
                darling::Error::custom(format!(
                    "`#[fallback]` is written below `#[{0}]`, so it answers every failure before `#[{0}]` sees it and {consequence}: move `#[fallback]` above `#[{0}]`",
                    outer.kind.name()
                ))
                .with_span(&written[at].span),
            );
        }
    }

    if written.iter().any(|w| w.kind == LayerKind::Hedge) {
        hedged_attempts_share_nothing_mutable(sig, errors);
    }
}

/// Hedged attempts run at the same time: they cannot share `&mut self`,
/// nor a `&mut` argument (`#[retry]` reborrows one per attempt).
fn hedged_attempts_share_nothing_mutable(
    sig: &syn::Signature,
    errors: &mut darling::error::Accumulator,
) {
    if let Some(receiver) = sig.receiver()
        && is_mut_ref(receiver)
    {
        errors.push(
            darling::Error::custom(
                "`#[hedge]` runs attempts concurrently, so they cannot share `&mut self`: take `&self` (with interior mutability for what changes), or remove `#[hedge]`",
            )
            .with_span(&receiver.self_token),
        );
    }
    for arg in &sig.inputs {
        let syn::FnArg::Typed(typed) = arg else {
            continue;
        };
        let syn::Type::Reference(reference) = peel(&typed.ty) else {
            continue;
        };
        if !signature::is_mut_reference(&typed.ty) {
            continue;
        }
        let target = &reference.elem;
        let target = type_text(&quote!(#target));
        errors.push(
            darling::Error::custom(format!(
                "`#[hedge]` runs attempts concurrently, so they cannot share `&mut {target}`: take `&{target}` if the attempts only read it, `&Mutex<{target}>` if they change it, or an owned `{target}` (each attempt gets its own clone); or remove `#[hedge]`"
            ))
            .with_span(&typed.ty),
        );
    }
}

fn is_mut_ref(receiver: &syn::Receiver) -> bool {
    match &receiver.kind {
        syn::ReceiverKind::Reference(_, _, mutability) => mutability.is_some(),
        syn::ReceiverKind::Typed(_, ty) => {
            matches!(&**ty, syn::Type::Reference(r) if r.mutability.is_some())
        }
        _ => false,
    }
}

fn peel(ty: &syn::Type) -> &syn::Type {
    match ty {
        syn::Type::Paren(inner) => peel(&inner.elem),
        syn::Type::Group(inner) => peel(&inner.elem),
        other => other,
    }
}

/// A type as a user writes it: `Vec<u8>`, not `Vec < u8 >`.
fn type_text(ty: &TokenStream) -> String {
    let mut text = ty.to_string();
    for (spaced, tight) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ,", ","),
        ("& ", "&"),
        ("' ", "'"),
    ] {
        text = text.replace(spaced, tight);
    }
    text
}

/// Marks an attribute whose layer an earlier attribute already built.
const CONSUMED: &str = "__resilience_consumed";

fn is_consumed(args: &TokenStream) -> bool {
    let mut tokens = args.clone().into_iter();
    matches!((tokens.next(), tokens.next()), (Some(proc_macro2::TokenTree::Ident(ident)), None) if ident == CONSUMED)
}

fn with_default_span(error: darling::Error, span: Span) -> darling::Error {
    if error.has_span() {
        error
    } else {
        error.with_span(&span)
    }
}

/// The path of the `resilience` crate: `::resilience`, or the `crate = "…"`
/// given on any layer of the stack.
fn crate_root(layers: &[Built], errors: &mut darling::error::Accumulator) -> TokenStream {
    let mut root: Option<(String, TokenStream)> = None;
    for krate in layers.iter().filter_map(|l| l.common.krate.as_ref()) {
        let parsed = match krate.parse::<syn::Path>() {
            Ok(path) => path,
            Err(_) => {
                errors.push(
                    darling::Error::custom("`crate` takes the path of the `resilience` crate, e.g. `crate = \"::my_resilience\"`")
                        .with_span(krate),
                );
                continue;
            }
        };
        match &root {
            Some((first, _)) if *first != krate.value() => errors.push(
                darling::Error::custom(format!(
                    "`crate` is already set to \"{first}\" on this stack: give it once"
                ))
                .with_span(krate),
            ),
            Some(_) => {}
            None => root = Some((krate.value(), quote!(#parsed))),
        }
    }
    root.map_or_else(|| quote!(::resilience), |(_, path)| path)
}
