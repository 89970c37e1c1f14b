//! `#[retry]`, `RetryPolicy`, `RetryBudget`.

use std::time::Duration;

use crate::{Check, Fallback, Kind, Problem, Spec, collect, nonzero, positive, written};

/// Calls in all, the first included.
pub const MAX_ATTEMPTS: u32 = 3;
/// The first delay.
pub const BASE: Duration = Duration::from_millis(100);
/// The longest delay, unless `base` is longer: see [`max_delay`].
pub const MAX_DELAY: Duration = Duration::from_secs(30);
/// The floor of a retry budget (Finagle's): a quiet client may still retry
/// this often.
pub const MIN_RETRIES_PER_SEC: u32 = 10;

/// The growth of delays.
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

/// The randomisation of each delay.
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

/// Every option of `#[retry]`.
pub const OPTIONS: &[Spec] = &[
    Spec::new(
        "max_attempts",
        Kind::Count {
            min: 1,
            max: u32::MAX as u64,
        },
        Fallback::Count(MAX_ATTEMPTS as u64),
        "Calls in all, the first included (1: no retry).",
    ),
    Spec::new(
        "backoff",
        Kind::Choice(BACKOFFS),
        Fallback::Word("exp"),
        "The growth of delays: `fixed`, `linear`, `exp` (doubling) or `decorrelated`.",
    ),
    Spec::new(
        "base",
        Kind::Duration,
        Fallback::Duration(BASE),
        "The first delay, and the unit of growth.",
    ),
    Spec::new(
        "max_delay",
        Kind::Duration,
        Fallback::Duration(MAX_DELAY),
        "The longest delay, and the longest `retry_after` hint honoured; by default never below `base`.",
    ),
    Spec::new(
        "jitter",
        Kind::Choice(JITTERS),
        Fallback::Word("none"),
        "The randomisation of each delay: `full`, `equal` or `none`; the bare key means `full`.",
    ),
    Spec::new(
        "max_elapsed",
        Kind::Duration,
        Fallback::Unset,
        "A deadline from the first call: no attempt starts after it; unset: none.",
    ),
    Spec::new(
        "retry_if",
        Kind::Path,
        Fallback::Unset,
        "A `fn(&E) -> bool` that says which errors are retried; unset: the error's `Classify`.",
    )
    .at_call_site(),
    Spec::new(
        "idempotent",
        Kind::Switch,
        Fallback::Switch(false),
        "Retry faults too (errors that may have had an effect), not only transient errors.",
    ),
    Spec::new(
        "budget",
        Kind::Number,
        Fallback::Unset,
        "The fraction of calls that may be retried, above 0 and at most 1 (e.g. 0.2); unset: no budget.",
    ),
    Spec::new(
        "min_retries_per_sec",
        Kind::Count {
            min: 0,
            max: u32::MAX as u64,
        },
        Fallback::Count(MIN_RETRIES_PER_SEC as u64),
        "With `budget`: the retries a second allowed whatever the fraction.",
    ),
];

/// The options as written; `None` is the default.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Settings {
    /// `max_attempts`.
    pub max_attempts: Option<u32>,
    /// `backoff`.
    pub backoff: Option<Backoff>,
    /// `base`.
    pub base: Option<Duration>,
    /// `max_delay`.
    pub max_delay: Option<Duration>,
    /// `jitter`.
    pub jitter: Option<Jitter>,
    /// `max_elapsed`.
    pub max_elapsed: Option<Duration>,
    /// `idempotent`.
    pub idempotent: Option<bool>,
    /// `budget`.
    pub budget: Option<f64>,
    /// `min_retries_per_sec`.
    pub min_retries_per_sec: Option<u32>,
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
    if ratio > 0.0 && ratio <= 1.0 {
        Ok(())
    } else {
        Err(Problem::at(
            "budget",
            "`budget` is the fraction of calls that may be retried, above 0 and at most 1 (e.g. 0.2)",
        ))
    }
}

/// `min_retries_per_sec` is the floor of a budget.
pub const fn check_budget_floor(budget: bool, floor: bool) -> Check {
    if floor && !budget {
        Err(Problem::at(
            "min_retries_per_sec",
            "`min_retries_per_sec` is the floor of a retry budget: add `budget = 0.2` (the fraction of calls that may be retried)",
        ))
    } else {
        Ok(())
    }
}
