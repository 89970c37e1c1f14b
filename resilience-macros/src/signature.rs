//! The annotated function: checks its shape and rewrites its arguments so
//! each layer can move, clone and re-bind them.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::visit_mut::VisitMut;
use syn::{FnArg, ItemFn, Pat, PatIdent, ReturnType, Type};

/// One typed argument of the function.
#[derive(Clone)]
pub(crate) struct Argument {
    /// Its hidden local, `__resilience_argN`.
    pub(crate) alias: syn::Ident,
    /// What the hidden local starts as: the argument's own name, or the
    /// hidden name itself where the signature was rewritten to it.
    pub(crate) source: syn::Ident,
    /// The user's pattern, re-bound inside the body's own block.
    pub(crate) pattern: Pat,
    /// Its declared type.
    pub(crate) ty: Type,
    /// Where it is written, for errors about it.
    pub(crate) span: Span,
    /// Whether the type is `&mut T` (`#[retry]` reborrows it for each
    /// attempt; `#[hedge]` refuses it).
    pub(crate) is_mut_ref: bool,
}

/// What the expansion needs to know about the function.
pub(crate) struct Shape {
    /// Its typed arguments, in order.
    pub(crate) args: Vec<Argument>,
    /// Whether the function has type or const parameters (a `static` in it
    /// cannot name them).
    pub(crate) generic: bool,
    /// The declared return type.
    pub(crate) ret: Type,
    /// The return type with `impl Trait` erased to `_`, for a `let` type.
    pub(crate) ret_erased: TokenStream,
}

/// Checks that `item` can be annotated and rewrites its arguments:
/// `mut x: T` becomes `x: T` (the `mut` moves to the body's binding) and
/// destructuring patterns become `__resilience_argN: T`.
pub(crate) fn analyze(item: &mut ItemFn, layer: &str) -> Result<Shape, Vec<syn::Error>> {
    let mut errors = Vec::new();
    if item.sig.asyncness.is_none() {
        errors.push(syn::Error::new_spanned(
            item.sig.fn_token,
            format!("`#[{layer}]` applies to `async fn` only: make this an `async fn` (every layer awaits timers or other tasks)"),
        ));
    }
    let ret = match &item.sig.output {
        ReturnType::Type(_, ty) => Some((**ty).clone()),
        ReturnType::Default => {
            errors.push(syn::Error::new_spanned(
                &item.sig.ident,
                format!("`#[{layer}]` needs a function that returns `Result<T, E>`: add a return type such as `-> Result<(), MyError>`"),
            ));
            None
        }
    };
    if let Some(variadic) = &item.sig.variadic {
        errors.push(syn::Error::new_spanned(
            variadic,
            "variadic functions cannot be annotated",
        ));
    }
    let (Some(ret), true) = (ret, errors.is_empty()) else {
        return Err(errors);
    };

    let mut shape = Shape {
        args: Vec::new(),
        generic: item.sig.generics.type_params().next().is_some()
            || item.sig.generics.const_params().next().is_some(),
        ret_erased: erase_impl_trait(&ret),
        ret,
    };
    for (index, arg) in item.sig.inputs.iter_mut().enumerate() {
        let FnArg::Typed(typed) = arg else { continue };
        let span = syn::spanned::Spanned::span(&*typed.pat);
        let alias = format_ident!(
            "__resilience_arg{}",
            index,
            span = Span::mixed_site().located_at(span)
        );
        let pattern = (*typed.pat).clone();
        let source = match &mut *typed.pat {
            Pat::Ident(PatIdent {
                by_ref: None,
                subpat: None,
                mutability,
                ident,
                ..
            }) => {
                *mutability = None;
                ident.clone()
            }
            other => {
                *other = Pat::Ident(PatIdent {
                    attrs: Vec::new(),
                    by_ref: None,
                    mutability: None,
                    ident: alias.clone(),
                    subpat: None,
                });
                alias.clone()
            }
        };
        shape.args.push(Argument {
            alias,
            source,
            pattern,
            is_mut_ref: is_mut_reference(&typed.ty),
            ty: (*typed.ty).clone(),
            span,
        });
    }
    Ok(shape)
}

/// Whether an argument's declared type is `&mut T` (`#[retry]` reborrows
/// it for each attempt; `#[hedge]` refuses it).
pub(crate) fn is_mut_reference(ty: &Type) -> bool {
    match ty {
        Type::Reference(reference) => reference.mutability.is_some(),
        Type::Paren(inner) => is_mut_reference(&inner.elem),
        Type::Group(inner) => is_mut_reference(&inner.elem),
        _ => false,
    }
}

/// `impl Trait` cannot name a `let` binding's type; `_` infers the same.
fn erase_impl_trait(ty: &Type) -> TokenStream {
    struct Eraser;
    impl VisitMut for Eraser {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if let Type::ImplTrait(impl_trait) = ty {
                *ty = Type::Infer(syn::TypeInfer {
                    attrs: Vec::new(),
                    underscore_token: syn::Token![_](syn::spanned::Spanned::span(impl_trait)),
                });
                return;
            }
            syn::visit_mut::visit_type_mut(self, ty);
        }
    }
    let mut ty = ty.clone();
    Eraser.visit_type_mut(&mut ty);
    quote!(#ty)
}
