//! Duration literals: `"250ms"`, `"2s"`, `"1m30s"`, checked at compile time.

use std::time::Duration;

use darling::FromMeta;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Expr, Lit, Meta};

use resilience_schema::Kind;

use crate::value;

pub(crate) use resilience_schema::parse::UNITS;

/// A duration written as a string literal, with the literal's span.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DurationLit {
    pub(crate) value: Duration,
    pub(crate) span: Span,
}

impl FromMeta for DurationLit {
    /// `key = "2s"`; any other kind of value is an error naming `key`.
    fn from_meta(meta: &Meta) -> darling::Result<Self> {
        let key = value::key(meta);
        match meta {
            Meta::NameValue(nv) => match value::strip_groups(&nv.value) {
                Expr::Lit(lit) if matches!(lit.lit, Lit::Str(_)) => Self::from_value(&lit.lit),
                other => Err(value::wrong_kind(&key, other, Kind::Duration)),
            },
            other => Err(value::not_key_value(&key, other, Kind::Duration)),
        }
    }

    /// A positional `"2s"` (`#[timeout("2s")]`).
    fn from_value(value: &Lit) -> darling::Result<Self> {
        match value {
            Lit::Str(s) => parse(&s.value())
                .map(|value| DurationLit {
                    value,
                    span: s.span(),
                })
                .map_err(|msg| darling::Error::custom(msg).with_span(s)),
            other => Err(darling::Error::custom(format!(
                "a duration is a string literal such as \"2s\" ({UNITS})"
            ))
            .with_span(other)),
        }
    }
}

/// `::core::time::Duration::from_nanos(n)` for `value`, usable in a `const`.
pub(crate) fn tokens(value: Duration) -> TokenStream {
    let nanos = u64::try_from(value.as_nanos()).unwrap_or(u64::MAX);
    quote!(::core::time::Duration::from_nanos(#nanos))
}

/// Parses `"1m30s"`-style text: the schema's parser, which the
/// configuration loader shares.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    resilience_schema::parse::duration(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_forms() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse("0ms"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "2", "ms", "2 s", "2sec", "2x", " 2s", "1..5s"] {
            assert!(parse(bad).is_err(), "{bad:?} should not parse");
        }
    }
}
