//! One parser for every layer's options: each `key = value` is looked up
//! in the layer's table in `resilience-schema`, its value parsed by the
//! option's kind (with the messages of [`crate::value`] for a value of
//! the wrong kind), given to the schema's settings, and its span kept for
//! the schema's problems.

use std::collections::HashSet;

use darling::FromMeta;
use darling::ast::NestedMeta;
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use resilience_schema::retry::{Backoff, Jitter};
use resilience_schema::{self as schema, Kind, Options, Spec, Value};
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, LitStr, Meta, Path};

use crate::args::Common;
use crate::duration::DurationLit;
use crate::value;

/// A layer's options as written.
pub(crate) struct Parsed<S> {
    /// The settings of its instance, in the schema's terms.
    pub(crate) settings: S,
    /// Where each was written.
    pub(crate) spans: Spans,
    /// The options that act at the call site: predicates (`retry_if`).
    pub(crate) paths: Vec<(&'static str, Path)>,
    /// `name`, `with`, `crate`.
    pub(crate) common: Common,
}

impl<S: Options> Parsed<S> {
    /// The predicate written for `key`, if any.
    pub(crate) fn path(&mut self, key: &str) -> Option<Path> {
        let at = self.paths.iter().position(|(k, _)| *k == key)?;
        Some(self.paths.remove(at).1)
    }

    /// The layer `make` builds from the settings, and its placement.
    pub(crate) fn into_layer<L>(self, make: impl FnOnce(S) -> L) -> (L, Common) {
        (make(self.settings), self.common)
    }

    /// Reports the schema's problems with the settings, each at the option
    /// it names (or at `whole`, the attribute); none beside `with`, where
    /// the driver has refused every setting.
    pub(crate) fn checked(self, whole: Span) -> darling::Result<Self> {
        let mut errors = darling::Error::accumulator();
        if self.common.with.is_none() {
            self.spans
                .report(self.settings.problems(), whole, &mut errors);
        }
        errors.finish_with(self)
    }
}

/// Parses `args` (`key = value` items; the driver has refused literals)
/// into the settings `S`.
pub(crate) fn parse<S: Options>(args: &[NestedMeta]) -> darling::Result<Parsed<S>> {
    let mut errors = darling::Error::accumulator();
    let mut parsed = Parsed {
        settings: S::default(),
        spans: Spans::default(),
        paths: Vec::new(),
        common: Common::default(),
    };
    let mut seen = HashSet::new();
    for arg in args {
        let meta = match arg {
            NestedMeta::Meta(meta) => meta,
            other => {
                errors.push(darling::Error::unsupported_format("literal").with_span(other));
                continue;
            }
        };
        let path = meta.path();
        let key = value::path_text(path);
        if !seen.insert(key.clone()) {
            errors.push(darling::Error::duplicate_field_path(path).with_span(path));
            continue;
        }
        // `None`: a common option whose value is wrong, reported.
        if errors.handle(common(&mut parsed.common, &key, meta)) != Some(false) {
            continue;
        }
        let Some(spec) = S::OPTIONS.iter().find(|spec| spec.key == key) else {
            let known = schema::common::OPTIONS
                .iter()
                .chain(S::OPTIONS)
                .map(|spec| spec.key);
            errors.push(
                darling::Error::unknown_field_with_alts(&key, &known.collect::<Vec<_>>())
                    .with_span(path),
            );
            continue;
        };
        if let Kind::Path = spec.kind {
            if let Some(Some(path)) = errors.handle(value::predicate(meta)) {
                parsed.paths.push((spec.key, path));
            }
            continue;
        }
        let Some((value, span)) = errors.handle(value_of(spec, meta)) else {
            continue;
        };
        if parsed.settings.set(spec.key, &value) {
            parsed.spans.set(spec.key, Some(span));
        } else if let (Kind::Choice { words, .. }, Value::Word(word)) = (spec.kind, &value) {
            errors.push(unknown_word(spec.key, word, words).with_span(&span));
        } else {
            errors.push(
                darling::Error::custom(format!("`{key}` cannot hold this value")).with_span(&span),
            );
        }
    }
    errors.finish_with(parsed)
}

/// `name`, `with` and `crate`, the options of every layer: whether `key`
/// is one of them.
fn common(common: &mut Common, key: &str, meta: &Meta) -> darling::Result<bool> {
    match key {
        "name" => common.name = value::text(meta)?,
        "crate" => common.krate = value::text(meta)?,
        "with" => common.with = Some(Expr::from_meta(meta)?),
        _ => return Ok(false),
    }
    Ok(true)
}

/// The value of `meta` for the option `spec`, by its kind, and where it is.
fn value_of(spec: &Spec, meta: &Meta) -> darling::Result<(Value, Span)> {
    let key = spec.key;
    Ok(match spec.kind {
        Kind::Count { max, .. } => {
            let n = value::count::<u64>(meta)?.expect("a count");
            if *n > max {
                return Err(darling::Error::custom(format!(
                    "`{key} = {}` is too large: `{key}` is at most {max}",
                    *n
                ))
                .with_span(&n.span()));
            }
            (Value::Count(*n), n.span())
        }
        Kind::Number => {
            let n = value::number_value(meta)?;
            (Value::Number(*n), n.span())
        }
        Kind::Duration => {
            let d = DurationLit::from_meta(meta)?;
            (Value::Duration(d.value), d.span)
        }
        Kind::Switch => (
            Value::Switch(value::switch(meta)?.expect("a switch")),
            meta.span(),
        ),
        Kind::Flag => {
            value::word(meta)?;
            (Value::Switch(true), meta.span())
        }
        Kind::Choice { words, bare } => match (meta, bare) {
            (Meta::Path(_), Some(bare)) => (Value::Word(bare.to_owned()), meta.span()),
            _ => {
                let s = choice(meta, words, bare)?;
                (Value::Word(s.value()), s.span())
            }
        },
        Kind::CountOrDuration => window(meta)?,
        Kind::DurationOrAdaptive => delay(meta)?,
        Kind::Path | Kind::Text | Kind::Expr => {
            unreachable!("predicates and the common options are parsed apart")
        }
    })
}

/// The string of `key = "…"`, or the error for any other kind of value.
fn choice(
    meta: &Meta,
    values: &'static [&'static str],
    word: Option<&'static str>,
) -> darling::Result<LitStr> {
    let expected = Kind::Choice {
        words: values,
        bare: word,
    };
    let key = value::key(meta);
    match meta {
        Meta::NameValue(nv) => match value::strip_groups(&nv.value) {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => Ok(s.clone()),
            other => Err(value::wrong_kind(&key, other, expected)),
        },
        other => Err(value::not_key_value(&key, other, expected)),
    }
}

fn unknown_word(key: &str, value: &str, allowed: &[&str]) -> darling::Error {
    darling::Error::custom(schema::parse::unknown_word(key, value, allowed))
}

/// `window = 100` (the last 100 calls) or `window = "10s"`.
fn window(meta: &Meta) -> darling::Result<(Value, Span)> {
    let Meta::NameValue(nv) = meta else {
        return Err(value::not_key_value("window", meta, value::COUNT));
    };
    let lit = match value::strip_groups(&nv.value) {
        Expr::Lit(lit) => &lit.lit,
        other => {
            return Err(darling::Error::custom(format!(
                "{}; or a duration such as `window = \"10s\"` (the calls of the last 10 s)",
                value::wrong_kind_message("window", other, value::COUNT)
            ))
            .with_span(other));
        }
    };
    match lit {
        Lit::Int(n) => n
            .base10_parse::<u32>()
            .map(|n| (Value::Count(n.into()), lit.span()))
            .map_err(|_| {
                darling::Error::custom("`window` holds at most 4294967295 calls").with_span(lit)
            }),
        Lit::Str(_) => DurationLit::from_value(lit).map(|d| (Value::Duration(d.value), d.span)),
        _ => Err(darling::Error::custom(
            "`window` is a number of calls (`window = 100`: the last 100 calls) or a duration (`window = \"10s\"`: the calls of the last 10 s)",
        )
        .with_span(lit)),
    }
}

/// `delay = "50ms"` or `delay = adaptive`.
fn delay(meta: &Meta) -> darling::Result<(Value, Span)> {
    let key = value::key(meta);
    let Meta::NameValue(nv) = meta else {
        return Err(value::not_key_value(&key, meta, Kind::Duration));
    };
    match value::strip_groups(&nv.value) {
        Expr::Path(path) if path.path.is_ident("adaptive") => {
            Ok((Value::Word("adaptive".to_owned()), path.span()))
        }
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
        }) => DurationLit::from_value(lit).map(|d| (Value::Duration(d.value), d.span)),
        other => Err(darling::Error::custom(format!(
            "{}; or write `delay = adaptive` (the observed P95 latency)",
            value::wrong_kind_message(&key, other, Kind::Duration)
        ))
        .with_span(other)),
    }
}

/// Where each option was written (its value, or the bare key), for the
/// schema's problems.
#[derive(Default)]
pub(crate) struct Spans(Vec<(&'static str, Span)>);

impl Spans {
    /// Records where `key` was written, if it was.
    pub(crate) fn set(&mut self, key: &'static str, span: Option<Span>) {
        if let Some(span) = span {
            self.0.push((key, span));
        }
    }

    /// Where `key` was written (the call site if it was not).
    pub(crate) fn of(&self, key: &str) -> Span {
        self.0
            .iter()
            .find(|(k, _)| *k == key)
            .map_or_else(Span::call_site, |(_, span)| *span)
    }

    /// Each of the schema's `problems` as an error at the option it names
    /// (at `whole`, the attribute, for a problem of the whole or with an
    /// option that was not written).
    pub(crate) fn report(
        &self,
        problems: Vec<schema::Problem>,
        whole: Span,
        errors: &mut darling::error::Accumulator,
    ) {
        for problem in problems {
            let span = problem
                .key
                .and_then(|key| self.0.iter().find(|(k, _)| *k == key))
                .map_or(whole, |(_, span)| *span);
            errors.push(darling::Error::custom(problem).with_span(&span));
        }
    }
}

/// A setting as the argument of its builder method, e.g. `5` or
/// `::core::time::Duration::from_nanos(…)` (numbers unsuffixed, so the
/// method's parameter type decides).
pub(crate) trait Arg {
    fn arg(&self, private: &TokenStream) -> TokenStream;
}

impl Arg for u32 {
    fn arg(&self, _: &TokenStream) -> TokenStream {
        proc_macro2::Literal::u32_unsuffixed(*self).into_token_stream()
    }
}

impl Arg for u64 {
    fn arg(&self, _: &TokenStream) -> TokenStream {
        proc_macro2::Literal::u64_unsuffixed(*self).into_token_stream()
    }
}

impl Arg for f64 {
    fn arg(&self, _: &TokenStream) -> TokenStream {
        proc_macro2::Literal::f64_unsuffixed(*self).into_token_stream()
    }
}

impl Arg for bool {
    fn arg(&self, _: &TokenStream) -> TokenStream {
        self.into_token_stream()
    }
}

impl Arg for std::time::Duration {
    fn arg(&self, _: &TokenStream) -> TokenStream {
        crate::duration::tokens(*self)
    }
}

/// A choice of the schema, as the runtime's enum of the same name and
/// variants: `#private::Backoff::Exponential`.
macro_rules! variant_arg {
    ($($ty:ident),*) => {$(
        impl Arg for $ty {
            fn arg(&self, private: &TokenStream) -> TokenStream {
                let variant = syn::Ident::new(&format!("{self:?}"), Span::call_site());
                quote!(#private::$ty::#variant)
            }
        }
    )*};
}

variant_arg!(Backoff, Jitter);

/// `.key(value)` for each of the settings' `keys` that was written, and
/// nothing for the others: the runtime's builder keeps its own default.
macro_rules! setters {
    ($private:expr, $settings:expr => $($key:ident),* $(,)?) => {{
        let private: &::proc_macro2::TokenStream = $private;
        let settings = &$settings;
        let mut calls = ::proc_macro2::TokenStream::new();
        $(
            if let Some(value) = &settings.$key {
                let value = $crate::options::Arg::arg(value, private);
                calls.extend(::quote::quote!(.$key(#value)));
            }
        )*
        calls
    }};
}
pub(crate) use setters;
