//! Options every layer accepts: where its instance lives (`name`, `with`)
//! and the path of the `resilience` crate (`crate`).

use darling::FromMeta;
use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{Expr, LitStr};

use crate::expand::{Context, respan};

/// `name = "…"`, `with = <expr>` and `crate = "…"`, flattened into each
/// layer's options.
#[derive(Debug, Default, Clone, FromMeta)]
pub(crate) struct Common {
    /// A process-wide instance shared by every function naming it.
    #[darling(default, with = crate::value::text)]
    pub(crate) name: Option<LitStr>,
    /// An instance the caller owns: any expression that derefs to the
    /// layer's runtime type (`T`, `&T`, `Arc<T>`, `&Arc<T>`).
    pub(crate) with: Option<Expr>,
    /// The path of the `resilience` crate, for renamed dependencies.
    #[darling(rename = "crate", default, with = crate::value::text)]
    pub(crate) krate: Option<LitStr>,
}

/// How a layer's instance is built: `#private::<ty>::<ctor>(name, args…)
/// calls…`, in a `const` context.
pub(crate) struct InstanceSpec {
    /// The runtime type, e.g. `Retry`.
    pub(crate) ty: &'static str,
    /// Its constructor, e.g. `new`.
    pub(crate) ctor: &'static str,
    /// The constructor's arguments after the name.
    pub(crate) args: Vec<TokenStream>,
    /// Builder calls after the constructor: `.max_wait(…)`.
    pub(crate) calls: TokenStream,
}

impl InstanceSpec {
    /// `<ty>::new(name, args…)`.
    pub(crate) fn new(ty: &'static str, args: Vec<TokenStream>) -> InstanceSpec {
        InstanceSpec {
            ty,
            ctor: "new",
            args,
            calls: TokenStream::new(),
        }
    }

    fn ty(&self, private: &TokenStream) -> TokenStream {
        let ty = Ident::new(self.ty, Span::call_site());
        quote!(#private::#ty)
    }

    fn make(&self, private: &TokenStream, name: &TokenStream) -> TokenStream {
        let ty = self.ty(private);
        let ctor = Ident::new(self.ctor, Span::call_site());
        let (args, calls) = (&self.args, &self.calls);
        quote!(#ty::#ctor(#name #(, #args)*) #calls)
    }
}

/// An expression of type `&Instance` for the layer's placement: a private
/// `static`, a registry entry, or the caller's own instance.
pub(crate) fn instance(cx: &Context, common: &Common, spec: &InstanceSpec) -> TokenStream {
    let private = &cx.private;
    let ty = spec.ty(private);
    if let Some(with) = &common.with {
        return own_instance(private, with, &ty);
    }
    if let Some(name) = &common.name {
        let make = spec.make(private, &quote!(#name));
        return quote! {{
            static __RESILIENCE_SLOT: #private::NamedSlot<#ty> = #private::NamedSlot::new();
            __RESILIENCE_SLOT.get(#name, || #make)
        }};
    }
    // Registered on first use, under its default name, so that
    // `registry::instances()` lists it: one `Relaxed` load per call after.
    let make = spec.make(private, &cx.instance_name);
    quote! {{
        static __RESILIENCE_INSTANCE: #private::PrivateSlot<#ty> = #private::PrivateSlot::new(#make);
        __RESILIENCE_INSTANCE.get()
    }}
}

/// A layer that guards the call with its instance:
/// `#private::<call>::<_, _, E>(instance, inner)`, spanned at the
/// attribute so a missing `From<Rejection>` is reported there.
pub(crate) fn guard(
    cx: &Context,
    common: &Common,
    spec: &InstanceSpec,
    call: &str,
    span: Span,
    inner: TokenStream,
) -> TokenStream {
    let private = &cx.private;
    let err = &cx.err;
    let instance = instance(cx, common, spec);
    let call = Ident::new(call, Span::call_site());
    let call = respan(quote!(#private::#call::<_, _, #err>), span);
    quote! { #call(#instance, #inner) }
}

/// `with = <expr>` as an expression of type `&#ty`: `&(#with)` deref-coerced
/// to `&#ty`, so `T`, `&T`, `Arc<T>`, `&Arc<T>` (and a `LazyLock<T>` static)
/// all work. Coercion reborrows through the shared references it derefs, so
/// the result borrows the instance, not the temporary `&(…)` around it
/// (`with = &self.breaker` outlives the statement it is written in).
pub(crate) fn own_instance(private: &TokenStream, with: &Expr, ty: &TokenStream) -> TokenStream {
    // An invisible group keeps `with`'s precedence and lets a type error
    // underline the whole expression, not its first token.
    let span = with_span(with);
    let mut with = proc_macro2::Group::new(proc_macro2::Delimiter::None, quote!(#with));
    with.set_span(span);
    quote_spanned! {span=>
        #private::own_instance::<#ty>(&#with)
    }
}

fn with_span(expr: &Expr) -> proc_macro2::Span {
    syn::spanned::Spanned::span(expr)
}
