//! `#[hedge(delay = "50ms", max_hedges = 1)]`: a second attempt when the
//! first is slow; the first `Ok` wins.

use darling::FromMeta;
use darling::ast::NestedMeta;
use darling::util::SpannedValue;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use resilience_schema::{
    self as schema,
    hedge::{Delay, Settings},
};
use syn::{Expr, ExprLit, Lit, Meta};

use crate::args::{Common, InstanceSpec, instance};
use crate::duration::DurationLit;
use crate::expand::Context;
use crate::layer::{Layer, Spans};
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
    settings: Settings,
    common: Common,
}

impl HedgeLayer {
    pub(crate) fn parse(args: &[NestedMeta], span: Span) -> darling::Result<Self> {
        let o = HedgeOptions::from_list(args)?;
        let settings = Settings {
            delay: o.delay.map(|d| match d {
                DelayArg::Fixed(d) => Delay::Fixed(d.value),
                DelayArg::Adaptive => Delay::Adaptive,
            }),
            max_hedges: o.max_hedges.as_deref().copied(),
        };
        let mut spans = Spans::default();
        spans.set(
            "delay",
            o.delay.and_then(|d| match d {
                DelayArg::Fixed(d) => Some(d.span),
                DelayArg::Adaptive => None,
            }),
        );
        spans.set("max_hedges", o.max_hedges.as_ref().map(|v| v.span()));
        let mut errors = darling::Error::accumulator();
        // Beside `with` the driver has refused every setting.
        if o.common.with.is_none() {
            spans.report(settings.problems(), span, &mut errors);
        }
        errors.finish()?;
        Ok(HedgeLayer {
            settings,
            common: o.common,
        })
    }
}

impl Layer for HedgeLayer {
    fn common(&self) -> &Common {
        &self.common
    }

    fn wrap(&self, cx: &Context, inner: TokenStream) -> TokenStream {
        let private = &cx.private;
        // Both are arguments of `Hedge::new`: the schema's default fills
        // `max_hedges` when it is not written.
        let max_hedges = self
            .settings
            .max_hedges
            .unwrap_or(schema::hedge::MAX_HEDGES);
        let delay = self.settings.delay.unwrap_or(Delay::Adaptive);
        let spec = InstanceSpec {
            ty: quote!(#private::Hedge),
            make: Box::new({
                let private = private.clone();
                move |name| match delay {
                    Delay::Fixed(d) => {
                        let d = crate::duration::tokens(d);
                        quote!(#private::Hedge::new(#name, #d, #max_hedges))
                    }
                    Delay::Adaptive => quote!(#private::Hedge::adaptive(#name, #max_hedges)),
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
