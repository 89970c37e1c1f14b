//! The options of every layer of [`resilience`](https://docs.rs/resilience),
//! defined once: each option's key, kind, default and description (a table
//! per layer, for the macros' parsers and the docs), and the rules on its
//! value (`const fn`s, so the runtime's `const` builders run them too, and
//! a `static` with a bad setting fails to compile).
//!
//! The attribute macros, the runtime builders and the configuration loader
//! all read these defaults and run these rules; nothing else defines one.
//! A rule returns a [`Problem`]: the key to point at and one static
//! sentence that says the fix, the same words wherever it is reported.
//!
//! One module per layer: [`retry`], [`timeout`], [`circuit_breaker`],
//! [`bulkhead`], [`rate_limiter`], [`hedge`], [`chaos`], [`stale_cache`],
//! [`fallback`], [`fleet_rate_limiter`];
//! [`common`] holds the options every layer takes.

#![warn(missing_docs)]

pub mod adaptive_concurrency;
pub mod bulkhead;
pub mod chaos;
pub mod circuit_breaker;
pub mod common;
pub mod fallback;
pub mod fleet_rate_limiter;
pub mod hedge;
pub mod parse;
pub mod rate_limiter;
pub mod retry;
pub mod stale_cache;
pub mod timeout;

use std::fmt;
use std::time::Duration;

/// A setting a rule refuses: the option to point at and the sentence that
/// says the fix.
///
/// ```
/// use resilience_schema::retry;
///
/// let problem = retry::check_max_attempts(0).unwrap_err();
/// assert_eq!(problem.key, Some("max_attempts"));
/// assert!(problem.message.contains("at least 1"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Problem {
    /// The option at fault (`None`: the attribute as a whole, e.g. a
    /// required option is missing).
    pub key: Option<&'static str>,
    /// What is wrong and how to fix it, one sentence.
    pub message: &'static str,
}

impl Problem {
    /// A problem with the option `key`.
    pub const fn at(key: &'static str, message: &'static str) -> Problem {
        Problem {
            key: Some(key),
            message,
        }
    }

    /// A problem with the attribute (or builder) as a whole.
    pub const fn whole(message: &'static str) -> Problem {
        Problem { key: None, message }
    }

    /// Panics with the sentence: what a `const` builder does with a
    /// setting its rule refuses (at compile time in a `static`).
    #[track_caller]
    pub const fn fail(self) -> ! {
        panic!("{}", self.message)
    }
}

impl fmt::Display for Problem {
    /// The sentence, `{key}` replaced by the option's key: a few rules
    /// about combinations (which a `const` builder never reports) say the
    /// same of several options.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message.replace("{key}", self.key.unwrap_or("")))
    }
}

impl std::error::Error for Problem {}

/// The result of one rule.
pub type Check = Result<(), Problem>;

/// Panics with the problem's sentence if `check` failed: what a `const`
/// builder does, so that a bad setting in a `static` fails to compile.
///
/// ```compile_fail
/// use resilience_schema::{expect, retry};
///
/// const fn attempts(n: u32) -> u32 {
///     expect(retry::check_max_attempts(n));
///     n
/// }
/// static ATTEMPTS: u32 = attempts(0); // error: `max_attempts` counts every call…
/// ```
#[track_caller]
pub const fn expect(check: Check) {
    if let Err(problem) = check {
        problem.fail()
    }
}

/// What an option takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A whole number within `min..=max`: `max_attempts = 3`.
    Count {
        /// The smallest value allowed.
        min: u64,
        /// The largest value allowed.
        max: u64,
    },
    /// A number, whole or not: `budget = 0.2`.
    Number,
    /// A duration in a string: `base = "100ms"`.
    Duration,
    /// A number of calls or a duration: `window = 100` or `window = "10s"`.
    CountOrDuration,
    /// A duration, or the word `adaptive`: `delay = adaptive`.
    DurationOrAdaptive,
    /// One of a few words, in quotes: `backoff = "exp"`; `bare` is what
    /// the key alone means, if it may stand alone (`jitter`: `"full"`).
    Choice {
        /// The words, in the order of the docs.
        words: &'static [&'static str],
        /// The meaning of the bare key.
        bare: Option<&'static str>,
    },
    /// `true` or `false`; the bare key means `true`: `idempotent`.
    Switch,
    /// The bare key only: `adaptive`.
    Flag,
    /// The path of a predicate `fn(&E) -> bool`: `retry_if = is_retryable`.
    Path,
    /// A string literal: `name = "payments"`.
    Text,
    /// An expression: `with = &BREAKER`.
    Expr,
}

/// An option's default, for the docs table (`Unset`: what happens without it is in the description).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fallback {
    /// A whole number.
    Count(u64),
    /// A number.
    Number(f64),
    /// A duration.
    Duration(Duration),
    /// One of the option's words.
    Word(&'static str),
    /// `true` or `false`.
    Switch(bool),
    /// No default: unset unless written (what that means is in the
    /// option's description).
    Unset,
}

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Fallback::Count(n) => write!(f, "{n}"),
            Fallback::Number(n) => write!(f, "{n}"),
            Fallback::Duration(d) => write!(f, "\"{}\"", duration_text(d)),
            Fallback::Word(w) => write!(f, "\"{w}\""),
            Fallback::Switch(b) => write!(f, "{b}"),
            Fallback::Unset => f.write_str("unset"),
        }
    }
}

/// `"100ms"`, `"30s"`, `"10m"`: a duration as an option is written.
pub fn duration_text(d: Duration) -> String {
    let nanos = d.as_nanos();
    for (unit, per) in [
        ("h", 3_600_000_000_000u128),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
    ] {
        if nanos >= per && nanos.is_multiple_of(per) {
            return format!("{}{unit}", nanos / per);
        }
    }
    format!("{nanos}ns")
}

/// One option of a layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spec {
    /// The key, as written: `max_attempts`.
    pub key: &'static str,
    /// What it takes.
    pub kind: Kind,
    /// Its default.
    pub default: Fallback,
    /// Whether it acts where the layer is called, not on the instance, and
    /// so still applies beside `with = …` (`retry_if`).
    pub at_call_site: bool,
    /// One line for the docs table.
    pub doc: &'static str,
}

impl Spec {
    /// An option of the instance.
    pub const fn new(key: &'static str, kind: Kind, default: Fallback, doc: &'static str) -> Spec {
        Spec {
            key,
            kind,
            default,
            at_call_site: false,
            doc,
        }
    }
}

/// A value as written, before it is given to its option: what the macros
/// parse from an attribute and the configuration loader from a file.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A whole number.
    Count(u64),
    /// A number, whole or not.
    Number(f64),
    /// A duration.
    Duration(Duration),
    /// A word: a choice, or `adaptive`.
    Word(String),
    /// `true` or `false` (a bare key or flag is `true`).
    Switch(bool),
}

/// A setting's type, read from a [`Value`] (`None`: not of this type).
pub trait FromValue: Sized {
    /// The setting `value` gives, if it is of this type.
    fn from_value(value: &Value) -> Option<Self>;
}

/// `FromValue` for a type a single [`Value`] variant holds.
macro_rules! from_value {
    ($($ty:ty: $variant:ident($n:ident) => $convert:expr;)*) => {$(
        impl FromValue for $ty {
            fn from_value(value: &Value) -> Option<Self> {
                match value {
                    Value::$variant($n) => $convert,
                    _ => None,
                }
            }
        }
    )*};
}

from_value! {
    u32: Count(n) => u32::try_from(*n).ok();
    u64: Count(n) => Some(*n);
    Duration: Duration(d) => Some(*d);
    bool: Switch(b) => Some(*b);
}

impl FromValue for f64 {
    /// A number, or a whole one (`budget = 1`).
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Number(n) => Some(*n),
            Value::Count(n) => Some(*n as f64),
            _ => None,
        }
    }
}

/// A layer's settings as written: its table of options, how a value is
/// given to one, and its rules.
pub trait Options: core::default::Default {
    /// Every option, in the order of the docs.
    const OPTIONS: &'static [Spec];

    /// Gives `value` to the option `key`; `false` if there is no such
    /// setting (an option that acts at the call site has none) or the
    /// value is not of its type.
    fn set(&mut self, key: &str, value: &Value) -> bool;

    /// Every rule the settings break, in the order of the options.
    fn problems(&self) -> Vec<Problem>;
}

/// Defines a layer's options once: the `Settings` struct (one `Option`
/// field per setting, `None` until written), its [`Options`] impl, and the
/// `OPTIONS` table. A row is `key: Type, kind, default, "description";`;
/// a row without a type (`key, …`) is an option that acts at the call
/// site, with no setting of the instance; `key: Type [call_site], …` is a
/// setting that acts at the call site too (kept beside `with`).
macro_rules! options {
    (
        $(#[$doc:meta])*
        $( $key:ident $(: $ty:ty)? $([$mark:ident])?, $kind:expr, $default:expr, $text:literal; )*
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Default)]
        pub struct Settings {
            $( $(
                #[doc = $text]
                pub $key: Option<$ty>,
            )? )*
        }

        /// Every option, in the order of the docs.
        pub const OPTIONS: &[$crate::Spec] = &[ $(
            $crate::Spec {
                key: stringify!($key),
                kind: $kind,
                default: $default,
                at_call_site: $crate::options!(@call_site $($ty)?; $($mark)?),
                doc: $text,
            },
        )* ];

        impl $crate::Options for Settings {
            const OPTIONS: &'static [$crate::Spec] = OPTIONS;

            // `value` is unused in a table of call-site options only (`#[fallback]`'s).
            #[allow(unused_variables)]
            fn set(&mut self, key: &str, value: &$crate::Value) -> bool {
                match key {
                    $( $(
                        stringify!($key) => {
                            self.$key = <$ty as $crate::FromValue>::from_value(value);
                            self.$key.is_some()
                        }
                    )? )*
                    _ => false,
                }
            }

            fn problems(&self) -> Vec<$crate::Problem> {
                Settings::problems(self)
            }
        }
    };
    (@call_site ;) => { true };
    (@call_site $ty:ty ;) => { false };
    (@call_site $ty:ty ; call_site) => { true };
}
pub(crate) use options;

/// Every layer's options, by attribute name (`"retry"`, …; `stale_cache`
/// is the `#[fallback]` level, `fallback` the attribute's own), for the docs and for scripts that list
/// them (`cargo run -p resilience-schema --example options`).
pub const LAYERS: [(&str, &[Spec]); 11] = [
    ("retry", retry::OPTIONS),
    ("timeout", timeout::OPTIONS),
    ("circuit_breaker", circuit_breaker::OPTIONS),
    ("bulkhead", bulkhead::OPTIONS),
    ("rate_limiter", rate_limiter::OPTIONS),
    ("hedge", hedge::OPTIONS),
    ("chaos", chaos::OPTIONS),
    ("stale_cache", stale_cache::OPTIONS),
    ("fallback", fallback::OPTIONS),
    ("adaptive_concurrency", adaptive_concurrency::OPTIONS),
    ("fleet_rate_limiter", fleet_rate_limiter::OPTIONS),
];

/// The docs table of `options`: one row per option, key, default and
/// description, in Markdown.
///
/// ```
/// let table = resilience_schema::markdown(resilience_schema::retry::OPTIONS);
/// assert!(table.contains("| `max_attempts` | 3 |"));
/// ```
pub fn markdown(options: &[Spec]) -> String {
    let mut table = String::from("| option | default | meaning |\n| --- | --- | --- |\n");
    for spec in options {
        let default = match spec.default {
            Fallback::Unset => "—".to_owned(),
            other => other.to_string(),
        };
        table.push_str(&format!("| `{}` | {default} | {} |\n", spec.key, spec.doc));
    }
    table
}

/// The option `key` of `options`.
pub fn find(options: &'static [Spec], key: &str) -> Option<&'static Spec> {
    options.iter().find(|spec| spec.key == key)
}

/// A count of zero is refused with `message`.
pub(crate) const fn nonzero(key: &'static str, n: u64, message: &'static str) -> Check {
    if n == 0 {
        Err(Problem::at(key, message))
    } else {
        Ok(())
    }
}

/// A count from 1 to `max`: zero is refused with `zero`, more with
/// `too_many`.
pub(crate) const fn count_in(
    key: &'static str,
    n: u64,
    max: u64,
    zero: &'static str,
    too_many: &'static str,
) -> Check {
    if n > max {
        Err(Problem::at(key, too_many))
    } else {
        nonzero(key, n, zero)
    }
}

/// A fraction in (0, 1]; anything else is refused with `message`.
pub(crate) const fn fraction(key: &'static str, x: f64, message: &'static str) -> Check {
    if x > 0.0 && x <= 1.0 {
        Ok(())
    } else {
        Err(Problem::at(key, message))
    }
}

/// `key`, when written, needs the option it is about: refused with
/// `message` when that is missing.
pub(crate) const fn needs(
    key: &'static str,
    written: bool,
    needed: bool,
    message: &'static str,
) -> Check {
    if written && !needed {
        Err(Problem::at(key, message))
    } else {
        Ok(())
    }
}

/// A zero duration is refused with `message`.
pub(crate) const fn positive(key: &'static str, d: Duration, message: &'static str) -> Check {
    if d.is_zero() {
        Err(Problem::at(key, message))
    } else {
        Ok(())
    }
}

/// Pushes the problem of every failed check.
pub(crate) fn collect(checks: impl IntoIterator<Item = Check>) -> Vec<Problem> {
    checks.into_iter().filter_map(Result::err).collect()
}

/// Runs `check` on a written value.
pub(crate) fn written<T: Copy>(value: Option<T>, check: impl Fn(T) -> Check) -> Check {
    match value {
        Some(v) => check(v),
        None => Ok(()),
    }
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;

#[cfg(test)]
mod mutants_tests;
