//! `#[hedge(delay = "50ms", max_hedges = 1)]`: a second attempt when the
//! first is slow; the first `Ok` wins.

use darling::FromMeta;
use darling::ast::NestedMeta;
use darling::util::SpannedValue;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Expr, Lit};

use crate::args::{Common, InstanceSpec, instance};
use crate::duration::DurationLit;
use crate::expand::Context;
use crate::layer::Layer;

/// `delay = "50ms"` or `delay = adaptive`.
#[derive(Debug, Clone, Copy)]
enum DelayArg {
    Fixed(DurationLit),
    Adaptive,
}

impl FromMeta for DelayArg {
    fn from_value(value: &Lit) -> darling::Result<Self> {
        DurationLit::from_value(value).map(DelayArg::Fixed)
    }

    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        match expr {
            Expr::Lit(lit) => Self::from_value(&lit.lit),
            Expr::Path(path) if path.path.is_ident("adaptive") => Ok(DelayArg::Adaptive),
            other => Err(darling::Error::custom(
                "`delay` is a duration such as \"50ms\", or `adaptive` (the observed P95 latency)",
            )
            .with_span(other)),
        }
    }
}

#[derive(Debug, FromMeta)]
struct HedgeOptions {
    delay: Option<DelayArg>,
    max_hedges: Option<SpannedValue<u32>>,
    #[darling(flatten)]
    common: Common,
}

pub(crate) struct HedgeLayer {
    delay: DelayArg,
    max_hedges: u32,
    common: Common,
}

impl HedgeLayer {
    pub(crate) fn parse(args: &[NestedMeta], span: Span) -> darling::Result<Self> {
        let options = HedgeOptions::from_list(args)?;
        let mut errors = darling::Error::accumulator();
        let max_hedges = options.max_hedges.as_ref().map_or(1, |m| **m);
        if let Some(m) = &options.max_hedges
            && **m == 0
        {
            errors.push(
                darling::Error::custom(
                    "`max_hedges` of 0 would never hedge: use at least 1, or remove `#[hedge]`",
                )
                .with_span(&m.span()),
            );
        }
        let delay = match options.delay {
            Some(DelayArg::Fixed(d)) if d.value.is_zero() => {
                errors.push(
                    darling::Error::custom("a `delay` of zero would send every hedge at once and multiply load: use a delay near the P95 latency, or `adaptive`")
                        .with_span(&d.span),
                );
                DelayArg::Fixed(d)
            }
            Some(delay) => delay,
            None if options.common.with.is_some() => DelayArg::Adaptive,
            None => {
                errors.push(
                    darling::Error::custom("`#[hedge]` needs `delay = \"50ms\"` (how long to wait before a second attempt) or `delay = adaptive`")
                        .with_span(&span),
                );
                DelayArg::Adaptive
            }
        };
        options.common.validate("hedge", &mut errors);
        errors.finish()?;
        Ok(HedgeLayer {
            delay,
            max_hedges,
            common: options.common,
        })
    }
}

impl Layer for HedgeLayer {
    fn common(&self) -> &Common {
        &self.common
    }

    fn wrap(&self, cx: &Context, inner: TokenStream) -> TokenStream {
        let private = &cx.private;
        let max_hedges = self.max_hedges;
        let delay = self.delay;
        let spec = InstanceSpec {
            ty: quote!(#private::Hedge),
            make: Box::new({
                let private = private.clone();
                move |name| match delay {
                    DelayArg::Fixed(d) => {
                        let d = crate::duration::tokens(d.value);
                        quote!(#private::Hedge::new(#name, #d, #max_hedges))
                    }
                    DelayArg::Adaptive => quote!(#private::Hedge::adaptive(#name, #max_hedges)),
                }
            }),
        };
        let instance = instance(cx, &self.common, &spec);
        let sources = cx.attempt_sources();
        let clones = cx.attempt_copies();
        quote! {
            async {
                #(#sources)*
                #private::Hedge::call(#instance, || {
                    #(#clones)*
                    #inner
                })
                .await
            }
        }
    }
}
