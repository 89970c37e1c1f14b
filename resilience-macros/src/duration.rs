//! Duration literals: `"250ms"`, `"2s"`, `"1m30s"`, checked at compile time.

use std::time::Duration;

use darling::FromMeta;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Expr, Lit, Meta};

use resilience_schema::Kind;

use crate::value;

pub(crate) const UNITS: &str =
    "units: `h`, `m`, `s`, `ms`, `us`, `ns`; e.g. \"250ms\", \"2s\", \"1m30s\"";

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

/// Parses `"1m30s"`-style text: one or more `<number><unit>` parts, where the
/// number may have a fraction (`"1.5s"`).
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}` is not a duration: write a number and a unit ({UNITS})");
    if text.contains(char::is_whitespace) {
        return Err(format!(
            "`{text}` is not a duration: write the number and unit together, without spaces ({UNITS})"
        ));
    }
    if text.is_empty() {
        return Err(bad());
    }
    let mut rest = text;
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
            .ok_or_else(|| format!("`{text}` has no unit: add one ({UNITS})"))?;
        if number_len == 0 {
            return Err(bad());
        }
        let number: f64 = rest[..number_len]
            .replace('_', "")
            .parse()
            .map_err(|_| bad())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" | "min" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            unit => {
                let hint = match unit {
                    "millis" | "msec" | "msecs" | "milliseconds" => " (did you mean `ms`?)",
                    "sec" | "secs" | "second" | "seconds" => " (did you mean `s`?)",
                    "mins" | "minute" | "minutes" => " (did you mean `m`?)",
                    "hr" | "hrs" | "hour" | "hours" => " (did you mean `h`?)",
                    "micros" => " (did you mean `us`?)",
                    "nanos" => " (did you mean `ns`?)",
                    _ => "",
                };
                return Err(format!(
                    "`{unit}` in `{text}` is not a unit of time{hint} ({UNITS})"
                ));
            }
        };
        rest = &rest[unit_len..];
        let part = Duration::try_from_secs_f64(number * seconds_per_unit).map_err(|_| bad())?;
        total = total.checked_add(part).ok_or_else(bad)?;
    }
    Ok(total)
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
