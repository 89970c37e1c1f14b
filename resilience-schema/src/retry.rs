//! `#[retry]`, `RetryPolicy`, `RetryBudget`.

use std::time::Duration;

use crate::{Check, Fallback, Kind, Problem, collect, fraction, needs, nonzero, positive, written};

/// Calls in all, the first included.
pub const MAX_ATTEMPTS: u32 = 3;
/// The first delay.
pub const BASE: Duration = Duration::from_millis(100);
/// The longest delay, unless `base` is longer: see [`max_delay`].
pub const MAX_DELAY: Duration = Duration::from_secs(30);
/// The floor of a retry budget (Finagle's): a quiet client may still retry
/// this often.
pub const MIN_RETRIES_PER_SEC: u32 = 10;

/// How the delay grows from one retry to the next, before jitter. For the
/// n-th retry (n = 1, 2, …), every kind capped at `max_delay`:
///
/// | kind | delay |
/// |---|---|
/// | `Fixed` | `base` |
/// | `Linear` | `base · n` |
/// | `Exponential` | `base · 2^(n−1)` |
/// | `Decorrelated` | uniform in `[base, 3 · previous]`, first `previous` = `base` |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backoff {
    /// `base` every time.
    Fixed,
    /// `base × n`.
    Linear,
    /// `base × 2ⁿ⁻¹`.
    Exponential,
    /// AWS's decorrelated jitter: random between `base` and 3 × the last.
    Decorrelated,
}

/// The words of `backoff`, in the order of the docs.
pub const BACKOFFS: &[&str] = &["fixed", "linear", "exp", "decorrelated"];

impl Backoff {
    /// The default.
    pub const DEFAULT: Backoff = Backoff::Exponential;

    /// `"exp"` (or `"exponential"`) → `Exponential`, …
    pub fn from_word(word: &str) -> Option<Backoff> {
        Some(match word {
            "fixed" => Backoff::Fixed,
            "linear" => Backoff::Linear,
            "exp" | "exponential" => Backoff::Exponential,
            "decorrelated" => Backoff::Decorrelated,
            _ => return None,
        })
    }
}

impl crate::FromValue for Backoff {
    fn from_value(value: &crate::Value) -> Option<Self> {
        match value {
            crate::Value::Word(w) => Backoff::from_word(w),
            _ => None,
        }
    }
}

/// How a computed delay is randomised, after the `max_delay` cap (so
/// jitter never exceeds `max_delay`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Jitter {
    /// The delay as computed.
    None,
    /// Random in `[0, delay]`.
    Full,
    /// Random in `[delay / 2, delay]`.
    Equal,
}

/// The words of `jitter`.
pub const JITTERS: &[&str] = &["full", "equal", "none"];

impl Jitter {
    /// The default (without `jitter`).
    pub const DEFAULT: Jitter = Jitter::None;
    /// What the bare key `jitter` means.
    pub const BARE: Jitter = Jitter::Full;

    /// `"full"` → `Full`, …
    pub fn from_word(word: &str) -> Option<Jitter> {
        Some(match word {
            "full" => Jitter::Full,
            "equal" => Jitter::Equal,
            "none" => Jitter::None,
            _ => return None,
        })
    }
}

impl crate::FromValue for Jitter {
    fn from_value(value: &crate::Value) -> Option<Self> {
        match value {
            crate::Value::Word(w) => Jitter::from_word(w),
            _ => None,
        }
    }
}

crate::options! {
    /// `#[retry]`'s options as written (`None`: the default).
    max_attempts: u32, Kind::Count { min: 1, max: u32::MAX as u64 }, Fallback::Count(MAX_ATTEMPTS as u64), "Calls in all, the first included (1: no retry).";
    backoff: Backoff, Kind::Choice { words: BACKOFFS, bare: None }, Fallback::Word("exp"), "The growth of delays: `fixed`, `linear`, `exp` (doubling) or `decorrelated`.";
    base: Duration, Kind::Duration, Fallback::Duration(BASE), "The first delay, and the unit of growth.";
    max_delay: Duration, Kind::Duration, Fallback::Duration(MAX_DELAY), "The longest delay, and the longest `retry_after` hint honoured; by default never below `base`.";
    jitter: Jitter, Kind::Choice { words: JITTERS, bare: Some("full") }, Fallback::Word("none"), "The randomisation of each delay: `full`, `equal` or `none`; the bare key means `full`.";
    max_elapsed: Duration, Kind::Duration, Fallback::Unset, "A deadline from the first call: no attempt starts after it; unset: none.";
    retry_if, Kind::Path, Fallback::Unset, "A `fn(&E) -> bool` that says which errors are retried; unset: the error's `Classify`.";
    retry_on_ok, Kind::Path, Fallback::Unset, "A `fn(&T) -> bool` that says which `Ok` values are retried too (an `Ok(response)` with a 503); used up, the last `Ok` is returned; unset: every `Ok` is final.";
    idempotent: bool, Kind::Switch, Fallback::Switch(false), "Retry faults too (errors that may have had an effect), not only transient errors.";
    budget: f64, Kind::Number, Fallback::Unset, "The fraction of calls that may be retried, above 0 and at most 1 (e.g. 0.2); unset: no budget.";
    min_retries_per_sec: u32, Kind::Count { min: 0, max: u32::MAX as u64 }, Fallback::Count(MIN_RETRIES_PER_SEC as u64), "With `budget`: the retries a second allowed whatever the fraction.";
}

impl Settings {
    /// Every rule the settings break, in the order of the options.
    pub fn problems(&self) -> Vec<Problem> {
        let base = self.base.unwrap_or(BASE);
        collect([
            written(self.max_attempts, check_max_attempts),
            written(self.max_delay, |max| check_max_delay(base, max)),
            check_jitter(self.backoff.unwrap_or(Backoff::DEFAULT), self.jitter),
            written(self.max_elapsed, check_max_elapsed),
            written(self.budget, check_budget),
            check_budget_floor(self.budget.is_some(), self.min_retries_per_sec.is_some()),
        ])
    }
}

/// `max_attempts` counts the first call.
pub const fn check_max_attempts(n: u32) -> Check {
    nonzero(
        "max_attempts",
        n as u64,
        "`max_attempts` counts every call, the first included, so it must be at least 1 (1 means no retry)",
    )
}

/// `max_delay` caps every delay, the first (`base`) included.
pub const fn check_max_delay(base: Duration, max_delay: Duration) -> Check {
    if max_delay.as_nanos() < base.as_nanos() {
        Err(Problem::at(
            "max_delay",
            "`max_delay` is below `base`: every delay would be capped under the first one; raise `max_delay` or lower `base`",
        ))
    } else {
        Ok(())
    }
}

/// The cap on delays: `max_delay` as written, or else [`MAX_DELAY`] but
/// never below `base` (a long `base` alone is honoured, not capped).
pub const fn max_delay(written: Option<Duration>, base: Duration) -> Duration {
    match written {
        Some(max) => max,
        None if base.as_nanos() > MAX_DELAY.as_nanos() => base,
        None => MAX_DELAY,
    }
}

/// Decorrelated backoff draws each delay at random already.
pub const fn check_jitter(backoff: Backoff, jitter: Option<Jitter>) -> Check {
    match (backoff, jitter) {
        (Backoff::Decorrelated, Some(Jitter::Full | Jitter::Equal)) => Err(Problem::at(
            "jitter",
            "`backoff = \"decorrelated\"` already draws each delay at random: remove `jitter` (or use another backoff with jitter)",
        )),
        _ => Ok(()),
    }
}

/// A deadline of zero stops before the first retry.
pub const fn check_max_elapsed(d: Duration) -> Check {
    positive(
        "max_elapsed",
        d,
        "`max_elapsed` of zero would stop before the first retry: use a positive duration or remove it",
    )
}

/// A budget is a fraction in (0, 1].
pub const fn check_budget(ratio: f64) -> Check {
    fraction(
        "budget",
        ratio,
        "`budget` is the fraction of calls that may be retried, above 0 and at most 1 (e.g. 0.2)",
    )
}

/// `min_retries_per_sec` is the floor of a budget.
pub const fn check_budget_floor(budget: bool, floor: bool) -> Check {
    needs(
        "min_retries_per_sec",
        floor,
        budget,
        "`min_retries_per_sec` is the floor of a retry budget: add `budget = 0.2` (the fraction of calls that may be retried)",
    )
}
