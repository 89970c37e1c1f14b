//! The stack of layers on one function: the first attribute to expand
//! collects every other attribute of this crate on the function, in the
//! order written (outermost first), and builds them all at once.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{ItemFn, Meta};

use crate::expand;
use crate::layer::{Layer, LayerKind};
use crate::signature;

/// One attribute of the stack, as written.
struct Written {
    kind: LayerKind,
    span: Span,
    args: TokenStream,
}

/// Expands the attribute `first` (with `args`) on `item`, together with the
/// rest of the stack found on `item`.
pub(crate) fn expand(first: LayerKind, args: TokenStream, item: TokenStream) -> TokenStream {
    if is_consumed(&args) {
        return item;
    }
    let mut item: ItemFn = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(_) => {
            let error = syn::Error::new(
                Span::call_site(),
                format!(
                    "`#[{}]` applies to `async fn` items (free functions and methods)",
                    first.name()
                ),
            );
            let error = error.to_compile_error();
            return quote!(#error #item);
        }
    };

    let mut errors = darling::Error::accumulator();
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
        // The attribute stays on the function, marked as consumed, so that
        // its path is still resolved (the user's `use` of it counts as used)
        // and its own expansion hands the function back unchanged.
        let path = attr.path().clone();
        let marker = syn::Ident::new(CONSUMED, Span::call_site());
        *attr = syn::parse_quote!(#[#path(#marker)]);
    }

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
            let consequence = match outer.kind.name() {
                "retry" => "nothing would ever be retried",
                "circuit_breaker" => "the breaker would never open",
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

    // Hedged attempts run at the same time: they cannot share `&mut self`.
    if written.iter().any(|w| w.kind == LayerKind::Hedge)
        && let Some(receiver) = item.sig.receiver()
        && is_mut_ref(receiver)
    {
        errors.push(
            darling::Error::custom(
                "`#[hedge]` runs attempts concurrently, so they cannot share `&mut self`: take `&self` (with interior mutability for what changes), or remove `#[hedge]`",
            )
            .with_span(&receiver.self_token),
        );
    }

    // Nor a `&mut` argument; `#[retry]` reborrows one per attempt.
    if written.iter().any(|w| w.kind == LayerKind::Hedge) {
        for arg in &item.sig.inputs {
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

    let layers: Vec<Box<dyn Layer>> = written
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
        (Ok(()), Some(_)) if layers.iter().all(|layer| layer.is_inert()) => quote!(#item),
        (Ok(()), Some(shape)) => expand::function(rewritten, shape, &layers, root),
        (result, _) => {
            // Still emit the function, without the layers, so the rest of
            // the crate type-checks and only the attribute errors show.
            let errors = result.err().map(darling::Error::write_errors);
            quote!(#errors #item)
        }
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
fn crate_root(layers: &[Box<dyn Layer>], errors: &mut darling::error::Accumulator) -> TokenStream {
    let mut root: Option<(String, TokenStream)> = None;
    for krate in layers.iter().filter_map(|l| l.common().krate.as_ref()) {
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
