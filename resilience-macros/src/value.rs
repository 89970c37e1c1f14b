//! Option values, parsed from the whole `key = value` item so that a value
//! of the wrong kind (a path where a string is due, a closure where a path
//! is, `"3"` where a number is, …) gets a sentence naming the key and what
//! to write, not darling's "Unexpected type `path`".
//!
//! The options parser (`crate::options`) calls these by the option's kind
//! in the schema; kinds of their own (durations, choices) call
//! [`wrong_kind`].

use std::fmt::Display;
use std::str::FromStr;

use darling::FromMeta;
use darling::util::{Flag, SpannedValue};
use syn::spanned::Spanned;
use syn::{Expr, Lit, LitStr, Meta, Path};

use resilience_schema::Kind;

/// What an option takes, for the message about a value of another kind:
/// the option's kind in the schema.
pub(crate) type Expected = Kind;

/// A whole number, whatever its range (the schema's rules say the range).
pub(crate) const COUNT: Kind = Kind::Count {
    min: 0,
    max: u64::MAX,
};

/// The signature of a predicate on errors (`retry_if`, `failure_if`,
/// `fallback_if`).
const PREDICATE: &str = resilience_schema::parse::PREDICATE;

use resilience_schema::parse::{predicate_name, predicate_signature};

/// The error for `key = found` where `expected` was due: what the key
/// takes, and what to write instead.
pub(crate) fn wrong_kind(key: &str, found: &Expr, expected: Expected) -> darling::Error {
    darling::Error::custom(wrong_kind_message(key, found, expected)).with_span(found)
}

/// The sentence of [`wrong_kind`].
pub(crate) fn wrong_kind_message(key: &str, found: &Expr, expected: Expected) -> String {
    let takes = format!("`{key}` takes {}", expected.description());
    let example = expected.example(key);
    let fix = match (found, expected) {
        (Expr::Path(path), Kind::Choice { words: values, .. }) => {
            let word = path_text(&path.path);
            match values.iter().find(|v| word.starts_with(**v)) {
                Some(value) => format!("write `{key} = \"{value}\"`, in quotes"),
                None => format!("write e.g. {example}"),
            }
        }
        (Expr::Path(path), Kind::Text) if key == "name" => format!(
            "write the name itself, e.g. {example}; the macro runs before `{}` has a value, so it cannot read a `const` or a variable (for a name chosen at run time, build the instance yourself and pass it with `with = …`)",
            path_text(&path.path)
        ),
        (Expr::Path(path), _) => format!(
            "write the value itself, e.g. {example}; the macro runs before `{}` has a value, so it cannot read a `const` or a variable (to choose settings at run time, build the instance yourself and pass it with `with = …`)",
            path_text(&path.path)
        ),
        (Expr::Lit(lit), Kind::Count { .. } | Kind::Number) => match &lit.lit {
            Lit::Str(s) if s.value().trim().parse::<f64>().is_ok() => {
                format!("write `{key} = {}`, without quotes", s.value().trim())
            }
            Lit::Float(f) if matches!(expected, Kind::Count { .. }) => {
                format!("`{f}` is not one; write e.g. {example}")
            }
            _ => format!("write e.g. {example}"),
        },
        (Expr::Lit(lit), Kind::Duration) => match &lit.lit {
            Lit::Int(n) => format!(
                "`{n}` has no unit; write the number and its unit in quotes, e.g. `{key} = \"{n}ms\"` or `{key} = \"{n}s\"`"
            ),
            Lit::Float(n) => format!(
                "`{n}` has no unit; write the number and its unit in quotes, e.g. `{key} = \"{n}s\"`"
            ),
            _ => format!("write e.g. {example}"),
        },
        (
            Expr::Lit(lit),
            Kind::Choice {
                bare: word,
                words: values,
            },
        ) => match (&lit.lit, word) {
            (Lit::Bool(b), Some(word)) if b.value => format!(
                "write the bare key `{key}` (which means \"{word}\"), or name one, e.g. `{key} = \"{word}\"`"
            ),
            (Lit::Bool(_), Some(_)) => format!(
                "leave `{key}` out, or write `{key} = \"{}\"`",
                values.iter().find(|v| **v == "none").unwrap_or(&values[0])
            ),
            _ => format!("write e.g. {example}"),
        },
        (Expr::Lit(lit), Kind::Switch) => match &lit.lit {
            Lit::Str(s) if matches!(s.value().as_str(), "true" | "false") => {
                format!("write `{key} = {}`, without quotes", s.value())
            }
            _ => format!("write the bare key `{key}`, or {example}"),
        },
        (Expr::Call(_) | Expr::MethodCall(_), Kind::Duration) => match duration_text(found) {
            Some(text) => format!("write `{key} = \"{text}\"`"),
            None => format!(
                "write the duration itself, e.g. {example}; the macro cannot run code (to choose it at run time, build the instance yourself and pass it with `with = …`)"
            ),
        },
        (Expr::Closure(_), Kind::Path) => format!(
            "a closure cannot go here: move it into a function (`{}`) and write its path, e.g. {example}",
            predicate_signature(key).replacen(
                "fn(",
                &format!(
                    "fn {}({}: ",
                    predicate_name(key),
                    if key.ends_with("_on_ok") {
                        "value"
                    } else {
                        "error"
                    }
                ),
                1
            )
        ),
        (Expr::Macro(mac), _) => format!(
            "the macro cannot expand `{}!(…)` here: write the value itself, e.g. {example}",
            path_text(&mac.mac.path)
        ),
        (
            Expr::Unary(syn::ExprUnary {
                op: syn::UnOp::Neg(_),
                ..
            }),
            Kind::Count { .. },
        ) => {
            format!("`{key}` cannot be negative: write e.g. {example}")
        }
        _ => format!("write e.g. {example}"),
    };
    let takes = match expected {
        Kind::Path => takes.replace(PREDICATE, predicate_signature(key)),
        _ => takes,
    };
    format!("{takes}: {fix}")
}

/// The error for `key` written alone (`word`) or as `key(…)` (`list`) where
/// `key = value` was due.
pub(crate) fn not_key_value(key: &str, meta: &Meta, expected: Expected) -> darling::Error {
    let example = expected.example(key);
    let message = match meta {
        Meta::List(_) => format!("write `{key} = …`, not `{key}(…)`: e.g. {example}"),
        _ => format!("`{key}` needs a value: write e.g. {example}"),
    };
    darling::Error::custom(message).with_span(meta)
}

/// The key of an option, as written.
pub(crate) fn key(meta: &Meta) -> String {
    path_text(meta.path())
}

pub(crate) fn path_text(path: &Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

/// The value of `key = value`, or the error for a key without one.
fn value_of(meta: &Meta, expected: Expected) -> darling::Result<&Expr> {
    match meta {
        Meta::NameValue(nv) => Ok(strip_groups(&nv.value)),
        _ => Err(not_key_value(&key(meta), meta, expected)),
    }
}

/// Values passed through `macro_rules!` arrive wrapped in invisible groups.
pub(crate) fn strip_groups(expr: &Expr) -> &Expr {
    match expr {
        Expr::Group(group) => strip_groups(&group.expr),
        Expr::Paren(paren) => strip_groups(&paren.expr),
        other => other,
    }
}

/// A whole number: `max_attempts = 3`.
pub(crate) fn count<T>(meta: &Meta) -> darling::Result<Option<SpannedValue<T>>>
where
    T: FromStr,
    T::Err: Display,
{
    let key = key(meta);
    let value = value_of(meta, COUNT)?;
    match value {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(n), ..
        }) if n.base10_digits().starts_with('-') => Err(darling::Error::custom(format!(
            "`{key}` cannot be negative: write e.g. {}",
            COUNT.example(&key)
        ))
        .with_span(n)),
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(n), ..
        }) => n
            .base10_parse::<T>()
            .map(|parsed| Some(SpannedValue::new(parsed, n.span())))
            .map_err(|_| {
                darling::Error::custom(format!(
                    "`{key} = {n}` is too large: `{key}` is a `{}`",
                    std::any::type_name::<T>()
                ))
                .with_span(n)
            }),
        other => Err(wrong_kind(&key, other, COUNT)),
    }
}

/// A number, whole or not, possibly negative (ranges are the schema's to
/// check): `budget = 0.2`.
pub(crate) fn number_value(meta: &Meta) -> darling::Result<SpannedValue<f64>> {
    let key = key(meta);
    let value = value_of(meta, Kind::Number)?;
    let (negative, literal) = match value {
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => (true, strip_groups(expr)),
        other => (false, other),
    };
    let parsed = match literal {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Float(f), ..
        }) => f.base10_parse::<f64>().ok(),
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse::<f64>().ok(),
        _ => None,
    };
    match parsed {
        Some(n) => Ok(SpannedValue::new(
            if negative { -n } else { n },
            value.span(),
        )),
        None => Err(wrong_kind(&key, value, Kind::Number)),
    }
}

/// `true` or `false`; the bare key means `true`: `idempotent`.
pub(crate) fn switch(meta: &Meta) -> darling::Result<Option<bool>> {
    match meta {
        Meta::Path(_) => Ok(Some(true)),
        _ => match value_of(meta, Kind::Switch)? {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Bool(b), ..
            }) => Ok(Some(b.value)),
            other => Err(wrong_kind(&key(meta), other, Kind::Switch)),
        },
    }
}

/// The bare key only: `adaptive`.
pub(crate) fn word(meta: &Meta) -> darling::Result<Flag> {
    match meta {
        Meta::Path(_) => Flag::from_meta(meta),
        other => {
            let key = key(other);
            Err(darling::Error::custom(format!(
                "`{key}` takes no value: write the bare key `{key}` (leave it out for off)"
            ))
            .with_span(other))
        }
    }
}

/// The path of a predicate `fn(&E) -> bool`: `retry_if = is_retryable`
/// (a path in a string is accepted too).
pub(crate) fn predicate(meta: &Meta) -> darling::Result<Option<Path>> {
    let expected = Kind::Path;
    match value_of(meta, expected)? {
        Expr::Path(path) => Ok(Some(path.path.clone())),
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => s.parse().map(Some).map_err(|_| {
            wrong_kind(
                &key(meta),
                &Expr::Lit(syn::ExprLit {
                    attrs: Vec::new(),
                    lit: Lit::Str(s.clone()),
                }),
                expected,
            )
        }),
        other => Err(wrong_kind(&key(meta), other, expected)),
    }
}

/// A string literal: `name = "payments"`, `crate = "::resilience"`.
pub(crate) fn text(meta: &Meta) -> darling::Result<Option<LitStr>> {
    let key = key(meta);
    let expected = Kind::Text;
    match value_of(meta, expected)? {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(Some(s.clone())),
        Expr::Path(path) if key == "crate" => Err(darling::Error::custom(format!(
            "`crate` takes the path of the `resilience` crate in a string: write `crate = \"{}\"`",
            path_text(&path.path)
        ))
        .with_span(path)),
        other => Err(wrong_kind(&key, other, expected)),
    }
}

/// `"800ms"` for `Duration::from_millis(800)` and its kin (whole numbers
/// only), so a message can give the literal to write.
pub(crate) fn duration_text(expr: &Expr) -> Option<String> {
    let Expr::Call(call) = strip_groups(expr) else {
        return None;
    };
    let Expr::Path(func) = &*call.func else {
        return None;
    };
    let unit = match func.path.segments.last()?.ident.to_string().as_str() {
        "from_secs" => "s",
        "from_millis" => "ms",
        "from_micros" => "us",
        "from_nanos" => "ns",
        "from_mins" => "m",
        "from_hours" => "h",
        _ => return None,
    };
    let [arg] = call.args.iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    match strip_groups(arg) {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(n), ..
        }) => Some(format!("{}{unit}", n.base10_digits())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(code: &str) -> Option<String> {
        duration_text(&syn::parse_str(code).unwrap())
    }

    #[test]
    fn duration_constructors_give_the_literal_to_write() {
        assert_eq!(
            text_of("Duration::from_millis(800)").as_deref(),
            Some("800ms")
        );
        assert_eq!(
            text_of("std::time::Duration::from_secs(2)").as_deref(),
            Some("2s")
        );
        assert_eq!(text_of("Duration::from_secs_f64(0.5)"), None);
        assert_eq!(text_of("Duration::from_millis(n)"), None);
    }
}
