//! `#[adaptive_concurrency]`, `AdaptiveConcurrency`.

use std::time::Duration;

use crate::{Check, Fallback, Kind, Problem, collect, count_in, fraction, positive, written};

/// The largest limit: the runtime's state word keeps the calls in flight
/// in 31 bits on the smallest target.
pub const MAX_LIMIT: u64 = (u32::MAX >> 1) as u64;
/// The algorithm unless one is written.
pub const ALGORITHM: Algorithm = Algorithm::Gradient2;
/// The smallest limit the algorithm may set.
pub const MIN: u64 = 1;
/// The largest limit the algorithm may set.
pub const MAX: u64 = 1000;
/// The limit before the first measurement.
pub const INITIAL: u64 = 20;
/// How long a call at the limit waits: not at all.
pub const MAX_WAIT: Duration = Duration::ZERO;
/// How long one measurement window lasts (the limit changes at most once a
/// window).
pub const WINDOW: Duration = Duration::from_millis(100);
/// The fewest calls a window needs before the limit is updated from it.
pub const MIN_SAMPLES: u64 = 10;
/// AIMD: the factor the limit is multiplied by after a drop.
pub const BACKOFF_RATIO: f64 = 0.9;
/// AIMD: a call slower than this counts as a drop.
pub const SLOW_CALL: Duration = Duration::from_secs(5);
/// Gradient2 and AIMD: how much slower than the no-load latency the recent
/// one may be before the limit shrinks.
pub const TOLERANCE: f64 = 1.5;
/// Gradient2: the weight of a new estimate in the limit.
pub const SMOOTHING: f64 = 0.2;
/// Under contention, the share of the limit that calls of lower priority
/// than a waiting call may hold.
pub const PRIORITY_SHARE: f64 = 0.5;

/// How the limit follows the measured latency (see the runtime's docs for
/// each update rule and its source).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// Netflix's Gradient2: the limit scales with no-load ÷ recent latency.
    Gradient2,
    /// TCP Vegas: the queue estimated from the no-load latency.
    Vegas,
    /// Additive increase, multiplicative decrease on drops.
    Aimd,
}

impl Algorithm {
    /// The algorithm a word names: `"gradient2"`, `"vegas"`, `"aimd"`.
    pub fn from_word(word: &str) -> Option<Algorithm> {
        Some(match word {
            "gradient2" => Algorithm::Gradient2,
            "vegas" => Algorithm::Vegas,
            "aimd" => Algorithm::Aimd,
            _ => return None,
        })
    }

    /// The word that names it.
    pub const fn word(self) -> &'static str {
        match self {
            Algorithm::Gradient2 => "gradient2",
            Algorithm::Vegas => "vegas",
            Algorithm::Aimd => "aimd",
        }
    }
}

impl crate::FromValue for Algorithm {
    fn from_value(value: &crate::Value) -> Option<Self> {
        match value {
            crate::Value::Word(w) => Algorithm::from_word(w),
            _ => None,
        }
    }
}

crate::options! {
    /// `#[adaptive_concurrency]`'s options as written (`None`: the default).
    algorithm: Algorithm, Kind::Choice { words: &["gradient2", "vegas", "aimd"], bare: None }, Fallback::Word("gradient2"), "How the limit follows latency: `\"gradient2\"`, `\"vegas\"` or `\"aimd\"`.";
    min: u64, Kind::Count { min: 1, max: u64::MAX }, Fallback::Count(MIN), "The smallest limit the algorithm may set.";
    max: u64, Kind::Count { min: 1, max: u64::MAX }, Fallback::Count(MAX), "The largest limit the algorithm may set (at most 2147483647).";
    initial: u64, Kind::Count { min: 1, max: u64::MAX }, Fallback::Count(INITIAL), "The limit before the first measurement (between `min` and `max`).";
    max_wait: Duration, Kind::Duration, Fallback::Duration(MAX_WAIT), "How long a call at the limit may wait for capacity; zero: refused at once.";
    max_queue: u64, Kind::Count { min: 1, max: u64::MAX }, Fallback::Unset, "With `max_wait`: calls allowed to wait at once (a higher-priority call displaces the lowest); unset: no bound.";
    window: Duration, Kind::Duration, Fallback::Duration(WINDOW), "How often the limit is updated, from the calls that ended in the window (at least 10).";
    backoff_ratio: f64, Kind::Number, Fallback::Number(BACKOFF_RATIO), "`aimd`: the limit is multiplied by this after a failed or slow call (between 0 and 1).";
    slow_call: Duration, Kind::Duration, Fallback::Duration(SLOW_CALL), "`aimd`: a window whose calls take longer than this on average counts as failed, whatever the no-load latency.";
    tolerance: f64, Kind::Number, Fallback::Number(TOLERANCE), "`gradient2` and `aimd`: how much slower than the no-load latency calls may get before the limit shrinks (at least 1).";
    smoothing: f64, Kind::Number, Fallback::Number(SMOOTHING), "`gradient2`: the weight of each new estimate in the limit (above 0, at most 1).";
    priority_share: f64, Kind::Number, Fallback::Number(PRIORITY_SHARE), "While a call of some priority waits, the share of the limit that calls of lower priority may hold (above 0, at most 1).";
    priority, Kind::Expr, Fallback::Unset, "The call's priority, a `u8` expression over the arguments (`priority = req.priority`); higher is more important; unset: 0.";
}

impl Settings {
    /// Every rule the settings break.
    pub fn problems(&self) -> Vec<Problem> {
        let algorithm = self.algorithm.unwrap_or(ALGORITHM);
        let min = self.min.unwrap_or(MIN);
        let max = self.max.unwrap_or(MAX);
        let max_ok = check_max(max);
        collect([
            check_min(min),
            max_ok,
            match (self.min, self.max) {
                (Some(min), Some(max)) if max_ok.is_ok() => check_min_max(min, max),
                (Some(min), None) if min > MAX => Err(Problem::at(
                    "min",
                    "`min` is above the default `max` of 1000: lower `min`, or raise `max`",
                )),
                _ => Ok(()),
            },
            written(self.initial, |initial| check_initial(min, max, initial)),
            written(self.max_queue, |q| {
                crate::bulkhead::check_max_queue(q, self.max_wait)
            }),
            written(self.window, check_window),
            written(self.backoff_ratio, |r| {
                only_for(algorithm, Algorithm::Aimd, "backoff_ratio").and(check_backoff_ratio(r))
            }),
            written(self.slow_call, |d| {
                only_for(algorithm, Algorithm::Aimd, "slow_call").and(check_slow_call(d))
            }),
            written(self.tolerance, |t| {
                if algorithm == Algorithm::Vegas {
                    Err(Problem::at(
                        "tolerance",
                        "`tolerance` tunes `algorithm = \"gradient2\"` and `\"aimd\"` only and would be ignored: write one of them or remove `tolerance`",
                    ))
                } else {
                    check_tolerance(t)
                }
            }),
            written(self.smoothing, |s| {
                only_for(algorithm, Algorithm::Gradient2, "smoothing").and(check_smoothing(s))
            }),
            written(self.priority_share, check_priority_share),
        ])
    }
}

/// An option of one algorithm, written for another: it would do nothing.
fn only_for(algorithm: Algorithm, of: Algorithm, key: &'static str) -> Check {
    if algorithm == of {
        return Ok(());
    }
    Err(Problem::at(
        key,
        match of {
            Algorithm::Aimd => {
                "`{key}` tunes `algorithm = \"aimd\"` only and would be ignored: write `algorithm = \"aimd\"` or remove `{key}`"
            }
            Algorithm::Gradient2 => {
                "`{key}` tunes `algorithm = \"gradient2\"` only and would be ignored: write `algorithm = \"gradient2\"` or remove `{key}`"
            }
            Algorithm::Vegas => {
                "`{key}` tunes `algorithm = \"vegas\"` only and would be ignored: write `algorithm = \"vegas\"` or remove `{key}`"
            }
        },
    ))
}

/// At least 1.
pub const fn check_min(min: u64) -> Check {
    count_in(
        "min",
        min,
        MAX_LIMIT,
        "`min = 0` would let the limit refuse every call: the smallest limit is at least 1",
        "`min` can be at most 2147483647",
    )
}

/// 1 to [`MAX_LIMIT`].
pub const fn check_max(max: u64) -> Check {
    count_in(
        "max",
        max,
        MAX_LIMIT,
        "`max = 0` would refuse every call: allow at least 1 call in flight",
        "`max` can be at most 2147483647; for no limit, remove `#[adaptive_concurrency]`",
    )
}

/// `min` ≤ `max` (each checked).
pub const fn check_min_max(min: u64, max: u64) -> Check {
    if min > max {
        Err(Problem::at(
            "min",
            "`min` is above `max`, so no limit fits: make `min` at most `max`",
        ))
    } else {
        Ok(())
    }
}

/// `min` ≤ `initial` ≤ `max`.
pub const fn check_initial(min: u64, max: u64, initial: u64) -> Check {
    if initial < min || initial > max {
        Err(Problem::at(
            "initial",
            "`initial` is outside `min..=max` (1..=1000 unless written): start the limit between `min` and `max`",
        ))
    } else {
        Ok(())
    }
}

/// A window has a length.
pub const fn check_window(window: Duration) -> Check {
    positive(
        "window",
        window,
        "`window` of zero measures nothing: use a positive duration such as \"100ms\" (about ten times a typical call)",
    )
}

/// In (0, 1).
pub const fn check_backoff_ratio(ratio: f64) -> Check {
    if ratio > 0.0 && ratio < 1.0 {
        Ok(())
    } else {
        Err(Problem::at(
            "backoff_ratio",
            "`backoff_ratio` must be between 0 and 1 (exclusive) so a drop shrinks the limit, e.g. `backoff_ratio = 0.9`",
        ))
    }
}

/// Positive.
pub const fn check_slow_call(slow_call: Duration) -> Check {
    positive(
        "slow_call",
        slow_call,
        "`slow_call` of zero would count every call as failed: use a positive duration such as \"5s\"",
    )
}

/// At least 1.
pub const fn check_tolerance(tolerance: f64) -> Check {
    if tolerance >= 1.0 && tolerance <= 1e6 {
        Ok(())
    } else {
        Err(Problem::at(
            "tolerance",
            "`tolerance` below 1 would shrink the limit while latency is normal: use at least 1, e.g. `tolerance = 1.5`",
        ))
    }
}

/// In (0, 1].
pub const fn check_smoothing(smoothing: f64) -> Check {
    fraction(
        "smoothing",
        smoothing,
        "`smoothing` is the weight of a new estimate: above 0 (0 never moves the limit) and at most 1, e.g. `smoothing = 0.2`",
    )
}

/// In (0, 1].
pub const fn check_priority_share(share: f64) -> Check {
    fraction(
        "priority_share",
        share,
        "`priority_share` is a share of the limit: above 0 and at most 1, e.g. `priority_share = 0.5`",
    )
}
