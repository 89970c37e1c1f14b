//! Builds the function: the user's block in its own async block at the
//! centre, each layer wrapped around it, innermost first.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ItemFn;

use crate::layer::{Built, LayerKind};
use crate::signature::{Argument, Shape};

/// What every layer's expansion may refer to.
pub(crate) struct Context {
    /// `::resilience::__private` or the `crate = "…"` override's.
    pub(crate) private: TokenStream,
    /// The return type, `impl Trait` erased.
    pub(crate) ret: TokenStream,
    /// Where the return type is written.
    pub(crate) ret_span: Span,
    /// The error type `E`, named through the return type.
    pub(crate) err: TokenStream,
    /// The function's typed arguments, each held in a hidden local.
    pub(crate) args: Vec<Argument>,
    /// The return type as declared.
    pub(crate) declared_ret: syn::Type,
    /// Whether the function has type or const parameters.
    pub(crate) generic: bool,
    /// Whether the function is a method (`self`, `&self`, `self: Arc<Self>`).
    pub(crate) receiver: bool,
    /// The default name of the function's private instances:
    /// `module::stock_level`, or `module::<impl>::stock_level` for a method
    /// (one with a receiver). The attribute sees only the function, not the `impl`
    /// around it, so it cannot name the type; `std::any::type_name::<Self>()`
    /// is not `const` (a private instance is a `static`), is one string for
    /// every instantiation of a generic `impl`, and is not promised stable.
    pub(crate) instance_name: TokenStream,
    /// Whether a layer classified an error: the function's body then
    /// brings the classification traits into scope once, for all of them.
    pub(crate) classifies: std::cell::Cell<bool>,
}

impl Context {
    /// `let argN = argN;` for every argument, moving it into the layer's
    /// future (`let mut` for a `&mut T` argument, which the attempts
    /// reborrow).
    pub(crate) fn attempt_sources(&self) -> Vec<TokenStream> {
        self.args
            .iter()
            .map(|arg| {
                let alias = &arg.alias;
                match arg.is_mut_ref {
                    true => quote!(let mut #alias = #alias;),
                    false => quote!(let #alias = #alias;),
                }
            })
            .collect()
    }

    /// What one attempt of `#[retry]` or `#[hedge]` consumes of each
    /// argument: `let argN = clone_for_attempt(&argN);`, or for a `&mut T`
    /// argument `let argN = reborrow_for_attempt(&mut argN);` (attempts of
    /// `#[retry]` run one after another, so each borrows it in turn;
    /// `#[hedge]` refuses `&mut` arguments).
    pub(crate) fn attempt_copies(&self) -> Vec<TokenStream> {
        let private = &self.private;
        self.args
            .iter()
            .map(
                |Argument {
                     alias: arg,
                     span,
                     is_mut_ref,
                     ..
                 }| {
                    // One hygiene context for the whole statement, located at
                    // the argument, so a missing `Clone` is reported there.
                    let span = Span::mixed_site().located_at(*span);
                    if *is_mut_ref {
                        let reborrow = respan(quote!(#private::reborrow_for_attempt), span);
                        return quote_spanned!(span=> let #arg = #reborrow(&mut #arg););
                    }
                    let clone = respan(quote!(#private::clone_for_attempt), span);
                    quote_spanned!(span=> let #arg = #clone(&#arg);)
                },
            )
            .collect()
    }

    /// The return type built from `value`, an `Ok` value (`from_ok`) or an
    /// `Err` value (`from_err`); spanned like [`Context::to_result`].
    pub(crate) fn wrap_result(&self, constructor: &str, value: &TokenStream) -> TokenStream {
        let private = &self.private;
        let ret = &self.ret;
        let constructor = syn::Ident::new(constructor, self.ret_span);
        quote_spanned!(self.ret_span=> <#ret as #private::IsResult>::#constructor(#value))
    }

    /// `Result<T, E>` from `result`, a value of the return type.
    pub(crate) fn to_result(&self, result: &TokenStream) -> TokenStream {
        let private = &self.private;
        let ret = &self.ret;
        quote_spanned!(self.ret_span=> <#ret as #private::IsResult>::into_result(#result))
    }

    /// The [`Outcome`] of `error` (`&E`): `E`'s `Classify` impl where the
    /// compiler can see one, transient otherwise.
    pub(crate) fn classify(&self, error: &TokenStream) -> TokenStream {
        let private = &self.private;
        self.classifies.set(true);
        quote!((&&&#private::Classifier(#error)).__resilience_outcome())
    }

    /// `error` (`&E`) as events and logs show it: by `Display` where `E`
    /// has it, else by `Debug`, else by its type's name.
    pub(crate) fn error_text(&self, error: &TokenStream) -> TokenStream {
        let private = &self.private;
        quote! {{
            #[allow(unused_imports)]
            use #private::{ViaDisplay as _, ViaDebug as _, ViaTypeName as _};
            (&&&#private::ErrorText(#error)).__resilience_error_text()
        }}
    }
}

/// Emits `item` with its body wrapped in `layers` (outermost first).
pub(crate) fn function(
    item: ItemFn,
    shape: Shape,
    layers: &[Built],
    root: TokenStream,
) -> TokenStream {
    let private = quote!(#root::__private);
    let ret_span = syn::spanned::Spanned::span(&shape.ret);
    let erased = &shape.ret_erased;
    let fn_name = match item.sig.receiver() {
        Some(_) => format!("<impl>::{}", item.sig.ident),
        None => item.sig.ident.to_string(),
    };
    let cx = Context {
        err: quote_spanned!(ret_span=> <#erased as #private::IsResult>::Err),
        private,
        instance_name: quote!(::core::concat!(::core::module_path!(), "::", #fn_name)),
        ret_span,
        ret: shape.ret_erased.clone(),
        args: shape.args.clone(),
        declared_ret: shape.ret.clone(),
        generic: shape.generic,
        receiver: item.sig.receiver().is_some(),
        classifies: std::cell::Cell::new(false),
    };

    let block = braces_of_the_expansion(&item.block);
    let private_path = &cx.private;
    // `_` would drop the argument at once; a named (unused) binding keeps it
    // to the end of the body, as for a function without attributes.
    let bindings: Vec<TokenStream> = shape
        .args
        .iter()
        .map(|Argument { pattern, alias, .. }| match pattern {
            syn::Pat::Wild(_) => {
                let kept = quote::format_ident!("{}_unused", alias);
                quote! {
                    #[allow(unused_variables)]
                    let #kept = #private_path::Arg::into_inner(#alias);
                }
            }
            other => quote!(let #other = #private_path::Arg::into_inner(#alias);),
        })
        .collect();
    let aliases = shape.args.iter().map(|arg| &arg.alias);
    let ret = &cx.ret;
    // The user's block runs in its own async block so that `return` and `?`
    // leave only the call, not the layers around it. The never-taken
    // `return` pins the block's type to the declared one, so `?` converts
    // errors as it would in the original function.
    let mut call = quote! {
        async {
            #(#bindings)*
            #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::empty_loop, clippy::needless_return)]
            if false {
                let __resilience_fake_return: #ret = loop {};
                return __resilience_fake_return;
            }
            #block
        }
    };
    for built in layers.iter().rev() {
        call = built.layer.wrap(&cx, &built.common, call);
    }

    let sources = shape.args.iter().map(|arg| &arg.source);
    let private_path = &cx.private;
    // The result is taken apart and rebuilt rather than returned whole:
    // returned whole, it was copied from the layers' output slot in 16-byte
    // chunks right after the `Ok` was written in 8-byte words, a
    // store-forwarding stall on every call.
    // (One call of an inlined function rather than the match written out:
    // the same code, a dozen lines less per function to expand.)
    let rebuild = respan(quote!(#private_path::rebuild::<#ret>), cx.ret_span);
    // Anonymous imports of traits with one `__resilience_` method: nothing
    // the user's block could name or clash with.
    let classification = cx.classifies.get().then(|| {
        quote! {
            #[allow(unused_imports)]
            use #private_path::{ViaClassify as _, ViaDeref as _, ViaDefault as _};
        }
    });
    // Emitted as tokens, not parsed back into `item.block` and printed
    // again: the body is most of the expansion, and a round trip through
    // syn's parser cost more than building it (issue 23, compile time).
    let (outer, inner): (Vec<_>, Vec<_>) = item
        .attrs
        .iter()
        .partition(|a| matches!(a.style, syn::AttrStyle::Outer));
    // The rest of the stack, built here and marked as consumed, moves off
    // the function onto an empty item in its body: its paths still
    // resolve (the user's `use` of them counts as used), and each one's
    // own expansion is handed that item instead of this whole function,
    // which rustc would otherwise pass over and parse again once per
    // attribute.
    let (consumed, outer): (Vec<_>, Vec<_>) = outer
        .into_iter()
        .partition(|a| LayerKind::from_path(a.path()).is_some());
    let consumed = (!consumed.is_empty()).then(|| quote!(#(#consumed)* const _: () = ();));
    let (vis, sig) = (&item.vis, &item.sig);
    quote! {
        #(#outer)* #vis #sig {
            #(#inner)*
            #consumed
            #classification
            #(let #aliases = #private_path::Arg::new(#sources);)*
            let __resilience_call = #call;
            #rebuild(__resilience_call.await)
        }
    }
}

/// The user's block, its braces re-spanned as the expansion's own (at the
/// same place). Re-emitted with the user's span, `{ Ok(1) }` as the tail of
/// the macro's async block reads to rustc as braces the user wrote around
/// a block's value, and `unused_braces` fires on every one-line body.
fn braces_of_the_expansion(block: &syn::Block) -> TokenStream {
    let stmts = &block.stmts;
    let mut braces = proc_macro2::Group::new(proc_macro2::Delimiter::Brace, quote!(#(#stmts)*));
    braces.set_span(Span::call_site().located_at(block.brace_token.span.join()));
    quote!(#braces)
}

/// `tokens` with every token moved to `span`, so that a compiler error
/// about the whole expression points at the user's code.
pub(crate) fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let proc_macro2::TokenTree::Group(group) = &tree {
                let mut inner =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                tree = proc_macro2::TokenTree::Group(inner);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}
