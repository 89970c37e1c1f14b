//! Options every layer accepts: where its instance lives (`name`, `with`)
//! and the path of the `resilience` crate (`crate`).

use darling::FromMeta;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::{Expr, LitStr};

use crate::expand::Context;

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

/// How a layer's instance is built, given the expression of its name.
pub(crate) struct InstanceSpec {
    /// The runtime type, e.g. `#private::Retry`.
    pub(crate) ty: TokenStream,
    /// Builds the instance, in a `const` context, from a `&'static str`
    /// name expression.
    pub(crate) make: Box<dyn Fn(&TokenStream) -> TokenStream>,
}

/// An expression of type `&Instance` for the layer's placement: a private
/// `static`, a registry entry, or the caller's own instance.
pub(crate) fn instance(cx: &Context, common: &Common, spec: &InstanceSpec) -> TokenStream {
    let private = &cx.private;
    let ty = &spec.ty;
    if let Some(with) = &common.with {
        return own_instance(private, with, ty);
    }
    if let Some(name) = &common.name {
        let make = (spec.make)(&quote!(#name));
        return quote! {{
            static __RESILIENCE_SLOT: #private::NamedSlot<#ty> = #private::NamedSlot::new();
            __RESILIENCE_SLOT.get(#name, || #make)
        }};
    }
    let make = (spec.make)(&cx.instance_name);
    quote! {{
        static __RESILIENCE_INSTANCE: #ty = #make;
        &__RESILIENCE_INSTANCE
    }}
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
