//! `#[timeout]`, `Timeout`, `AdaptiveTimeout`.

use std::time::Duration;

use crate::{Check, Fallback, Kind, Problem, collect, fraction, needs, positive, written};

/// The observed latency quantile an adaptive timeout follows (P99).
pub const QUANTILE: f64 = 0.99;
/// How far above that quantile it cuts.
pub const MULTIPLIER: f64 = 2.0;
/// Its floor.
pub const MIN: Duration = Duration::from_millis(50);
/// Its ceiling (and its value until latency has been observed).
pub const MAX: Duration = Duration::from_secs(5);

crate::options! {
    /// `#[timeout]`'s options as written; the duration may also come
    /// first, alone: `#[timeout("2s")]`.
    duration: Duration, Kind::Duration, Fallback::Unset, "How long a call may run (also written first, alone: `#[timeout(\"2s\")]`).";
    adaptive: bool [call_site], Kind::Flag, Fallback::Switch(false), "Follow observed latency instead of a fixed duration: `quantile × multiplier`, within `[min, max]`.";
    quantile: f64, Kind::Number, Fallback::Number(QUANTILE), "With `adaptive`: the latency quantile followed, above 0 and at most 1 (0.99 is P99).";
    multiplier: f64, Kind::Number, Fallback::Number(MULTIPLIER), "With `adaptive`: how far above the quantile to cut, at least 1.";
    min: Duration, Kind::Duration, Fallback::Duration(MIN), "With `adaptive`: the floor.";
    max: Duration, Kind::Duration, Fallback::Duration(MAX), "With `adaptive`: the ceiling, and the timeout until latency has been observed.";
}

impl Settings {
    /// Whether `adaptive` is written.
    pub fn is_adaptive(&self) -> bool {
        self.adaptive == Some(true)
    }

    /// Every rule the settings break.
    pub fn problems(&self) -> Vec<Problem> {
        let tuning = [
            ("quantile", self.quantile.is_some()),
            ("multiplier", self.multiplier.is_some()),
            ("min", self.min.is_some()),
            ("max", self.max.is_some()),
        ];
        let mut checks = vec![
            written(self.duration, check_duration),
            check_needs_duration(self.duration.is_some(), self.is_adaptive()),
        ];
        if self.is_adaptive() {
            checks.extend([
                check_adaptive_duration(self.duration.is_some()),
                written(self.quantile, check_quantile),
                written(self.multiplier, check_multiplier),
                written(self.min, check_min),
                check_min_below_max(self.min, self.max),
            ]);
        } else {
            checks.extend(
                tuning
                    .iter()
                    .filter(|(_, written)| *written)
                    .map(|(key, _)| tuning_needs_adaptive(key)),
            );
        }
        collect(checks)
    }
}

/// A timeout of zero fails every call.
pub const fn check_duration(d: Duration) -> Check {
    positive(
        "duration",
        d,
        "a timeout of zero would fail every call: use a positive duration such as \"100ms\"",
    )
}

/// A fixed timeout needs its duration.
pub const fn check_needs_duration(duration: bool, adaptive: bool) -> Check {
    if duration || adaptive {
        Ok(())
    } else {
        Err(Problem::whole(
            "`#[timeout]` needs a duration, e.g. `#[timeout(\"2s\")]`, or `adaptive`",
        ))
    }
}

/// An adaptive timeout sets its own duration.
pub const fn check_adaptive_duration(duration: bool) -> Check {
    needs(
        "duration",
        duration,
        false,
        "an adaptive timeout sets its own duration from observed latency: remove the fixed duration, or remove `adaptive`",
    )
}

/// `quantile`, `multiplier`, `min` and `max` tune an adaptive timeout only.
pub const fn tuning_needs_adaptive(key: &'static str) -> Check {
    Err(Problem::at(
        key,
        "`{key}` tunes an adaptive timeout: add `adaptive`, e.g. `#[timeout(adaptive, {key} = …)]`, or remove it",
    ))
}

/// A quantile is a fraction in (0, 1].
pub const fn check_quantile(q: f64) -> Check {
    fraction(
        "quantile",
        q,
        "`quantile` is a fraction of calls, above 0 and at most 1 (0.99 is P99)",
    )
}

/// Below 1, calls as slow as the quantile would time out.
pub const fn check_multiplier(m: f64) -> Check {
    if m >= 1.0 && m.is_finite() {
        Ok(())
    } else {
        Err(Problem::at(
            "multiplier",
            "`multiplier` scales the observed quantile and must be at least 1 (below it, calls as slow as the quantile itself would time out)",
        ))
    }
}

/// A floor of zero lets the timeout shrink to nothing.
pub const fn check_min(min: Duration) -> Check {
    positive(
        "min",
        min,
        "`min` of zero would let the timeout shrink to nothing: use a positive floor such as \"50ms\"",
    )
}

/// The timeout moves between `min` and `max` (as written; the defaults
/// otherwise); the problem is at `max` if written, else at `min`.
pub const fn check_min_below_max(min: Option<Duration>, max: Option<Duration>) -> Check {
    let key = if max.is_some() { "max" } else { "min" };
    let min = match min {
        Some(min) => min,
        None => MIN,
    };
    let max = match max {
        Some(max) => max,
        None => MAX,
    };
    if min.as_nanos() < max.as_nanos() {
        Ok(())
    } else {
        Err(Problem::at(
            key,
            "`min` must be below `max`: the timeout moves between them",
        ))
    }
}
