//! `#[timeout("2s")]`.

use darling::FromMeta;
use darling::ast::NestedMeta;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use crate::args::{Common, InstanceSpec, instance};
use crate::duration::DurationLit;
use crate::expand::{Context, respan};
use crate::layer::Layer;

#[derive(Debug, FromMeta)]
struct TimeoutOptions {
    duration: Option<DurationLit>,
    #[darling(flatten)]
    common: Common,
}

pub(crate) struct TimeoutLayer {
    /// `None` only with `with = …`, whose instance carries the duration.
    duration: Option<DurationLit>,
    common: Common,
    span: Span,
}

impl TimeoutLayer {
    pub(crate) fn parse(args: &[NestedMeta], span: Span) -> darling::Result<Self> {
        let mut errors = darling::Error::accumulator();
        // `#[timeout("2s", …)]`: the leading literal is the duration.
        let (positional, rest) = match args.split_first() {
            Some((NestedMeta::Lit(lit), rest)) => (Some(lit), rest),
            _ => (None, args),
        };
        let options = errors.handle(TimeoutOptions::from_list(rest));
        let wrote_duration = positional.is_some();
        let positional = positional.and_then(|lit| errors.handle(DurationLit::from_value(lit)));
        let Some(options) = options else {
            return Err(errors.finish().unwrap_err());
        };
        let duration = match (positional, options.duration) {
            (Some(d), None) | (None, Some(d)) => Some(d),
            (Some(_), Some(named)) => {
                errors.push(
                    darling::Error::custom("the duration is given twice: keep either `\"…\"` or `duration = \"…\"`")
                        .with_span(&named.span),
                );
                None
            }
            (None, None) => None,
        };
        match (&duration, &options.common.with) {
            (None, None) if !wrote_duration => errors.push(
                darling::Error::custom("`#[timeout]` needs a duration, e.g. `#[timeout(\"2s\")]`")
                    .with_span(&span),
            ),
            (Some(d), Some(_)) => errors.push(
                darling::Error::custom("with `with = …` the duration comes from that `Timeout`: remove the duration here")
                    .with_span(&d.span),
            ),
            _ => {}
        }
        if let Some(d) = duration
            && d.value.is_zero()
        {
            errors.push(
                darling::Error::custom("a timeout of zero would fail every call: use a positive duration such as \"100ms\"")
                    .with_span(&d.span),
            );
        }
        options.common.validate("timeout", &mut errors);
        errors.finish()?;
        Ok(TimeoutLayer {
            duration,
            common: options.common,
            span,
        })
    }
}

impl Layer for TimeoutLayer {
    fn common(&self) -> &Common {
        &self.common
    }

    fn wrap(&self, cx: &Context, inner: TokenStream) -> TokenStream {
        let private = &cx.private;
        let duration = self.duration.map(DurationLit::to_tokens);
        let spec = InstanceSpec {
            ty: quote!(#private::Timeout),
            make: Box::new({
                let private = private.clone();
                move |name| quote!(#private::Timeout::new(#name, #duration))
            }),
            lazy: false,
        };
        let instance = instance(cx, &self.common, &spec);
        let err = &cx.err;
        let call = respan(quote!(#private::call_with_timeout::<_, _, #err>), self.span);
        quote! { #call(#instance, #inner) }
    }
}
