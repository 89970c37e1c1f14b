//! `#[hedge(delay = "50ms", max_hedges = 1)]`: a second attempt when the
//! first is slow; the first `Ok` wins.

use darling::FromMeta;
use darling::ast::NestedMeta;
use darling::util::SpannedValue;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Expr, ExprLit, Lit, Meta};

use crate::args::{Common, InstanceSpec, instance};
use crate::duration::DurationLit;
use crate::expand::Context;
use crate::layer::Layer;
use crate::value::{self, Expected};

/// `delay = "50ms"` or `delay = adaptive`.
#[derive(Debug, Clone, Copy)]
enum DelayArg {
    Fixed(DurationLit),
    Adaptive,
}

impl FromMeta for DelayArg {
    fn from_meta(meta: &Meta) -> darling::Result<Self> {
        let key = value::key(meta);
        let Meta::NameValue(nv) = meta else {
            return Err(value::not_key_value(&key, meta, Expected::Duration));
        };
        match value::strip_groups(&nv.value) {
            Expr::Path(path) if path.path.is_ident("adaptive") => Ok(DelayArg::Adaptive),
            Expr::Path(path) => Err(darling::Error::custom(format!(
                "`delay` takes a duration in a string, e.g. `delay = \"50ms\"`, or the word `adaptive` (the observed P95 latency); `{}` is neither (the macro cannot read a `const`: to choose the delay at run time, build a `Hedge` and pass it with `with = …`)",
                value::path_text(&path.path)
            ))
            .with_span(path)),
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) if s.value() == "adaptive" => Err(darling::Error::custom(
                "`adaptive` is a word, not a duration: write `delay = adaptive`, without quotes",
            )
            .with_span(s)),
            Expr::Lit(ExprLit {
                lit: lit @ Lit::Str(_),
                ..
            }) => DurationLit::from_value(lit).map(DelayArg::Fixed),
            other => Err(darling::Error::custom(format!(
                "{}; or write `delay = adaptive` (the observed P95 latency)",
                value::wrong_kind_message(&key, other, Expected::Duration)
            ))
            .with_span(other)),
        }
    }
}

#[derive(Debug, FromMeta)]
struct HedgeOptions {
    delay: Option<DelayArg>,
    #[darling(default, with = value::count)]
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
        if let Some(NestedMeta::Lit(lit)) = args.first() {
            let hint = match lit {
                Lit::Str(s) => format!("write `delay = \"{}\"`", s.value()),
                _ => "write options as `key = value`, e.g. `#[hedge(delay = \"50ms\")]`".to_owned(),
            };
            return Err(
                darling::Error::custom(format!("`#[hedge]` takes named options: {hint}"))
                    .with_span(lit),
            );
        }
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
