//! `#[chaos]`, `Chaos`.

use std::time::Duration;

use crate::{Check, Fallback, Kind, Problem, collect, needs, written};

/// The fraction of calls failed: none.
pub const ERROR_RATE: f64 = 0.0;
/// The fraction of calls delayed once `latency` is set: all.
pub const LATENCY_RATE: f64 = 1.0;

crate::options! {
    /// `#[chaos]`'s options as written (`None`: the default).
    error_rate: f64, Kind::Number, Fallback::Number(ERROR_RATE), "The fraction of calls failed with `Rejection::Injected`, 0 to 1.";
    latency: Duration, Kind::Duration, Fallback::Unset, "The latency added to delayed calls; unset: none.";
    latency_rate: f64, Kind::Number, Fallback::Number(LATENCY_RATE), "With `latency`: the fraction of calls delayed, 0 to 1.";
}

impl Settings {
    /// Every rule the settings break.
    pub fn problems(&self) -> Vec<Problem> {
        collect([
            written(self.error_rate, |r| check_rate("error_rate", r)),
            written(self.latency_rate, |r| check_rate("latency_rate", r)),
            check_latency_rate_needs_latency(self.latency_rate.is_some(), self.latency.is_some()),
        ])
    }
}

/// A rate is a fraction in [0, 1].
pub const fn check_rate(key: &'static str, rate: f64) -> Check {
    if rate >= 0.0 && rate <= 1.0 {
        return Ok(());
    }
    Err(if matches!(key.as_bytes(), b"error_rate") {
        Problem::at(
            "error_rate",
            "`error_rate` is the fraction of calls affected, between 0 and 1 (e.g. 0.1 for one call in ten)",
        )
    } else {
        Problem::at(
            "latency_rate",
            "`latency_rate` is the fraction of calls affected, between 0 and 1 (e.g. 0.1 for one call in ten)",
        )
    })
}

/// `latency_rate` says how often to add `latency`.
pub const fn check_latency_rate_needs_latency(rate: bool, latency: bool) -> Check {
    needs(
        "latency_rate",
        rate,
        latency,
        "`latency_rate` says how often to add latency, but no `latency` is set: add e.g. `latency = \"200ms\"`",
    )
}
