//! `#[hedge]`, `Hedge`.

use std::time::Duration;

use crate::{Check, Fallback, Kind, Problem, collect, nonzero, positive, written};

/// Extra attempts at most.
pub const MAX_HEDGES: u32 = 1;
/// The latency quantile an adaptive delay follows (P95).
pub const ADAPTIVE_QUANTILE: f64 = 0.95;

/// When the next attempt starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delay {
    /// After a fixed delay.
    Fixed(Duration),
    /// After the observed P95 latency.
    Adaptive,
}

crate::options! {
    /// `#[hedge]`'s options as written (`None`: the default).
    delay: Delay, Kind::DurationOrAdaptive, Fallback::Unset, "How long an attempt may run before the next starts: a duration, or `adaptive` (the observed P95 latency); required.";
    max_hedges: u32, Kind::Count { min: 1, max: u32::MAX as u64 }, Fallback::Count(MAX_HEDGES as u64), "Extra attempts at most.";
    retry_on_ok, Kind::Path, Fallback::Unset, "A `fn(&T) -> bool` that says which `Ok` values do not win (an `Ok(response)` with a 503): the other attempts go on; the last answer is returned if none wins; unset: the first `Ok` wins.";
}

impl crate::FromValue for Delay {
    fn from_value(value: &crate::Value) -> Option<Self> {
        match value {
            crate::Value::Duration(d) => Some(Delay::Fixed(*d)),
            crate::Value::Word(w) if w == "adaptive" => Some(Delay::Adaptive),
            _ => None,
        }
    }
}

impl Settings {
    /// Every rule the settings break.
    pub fn problems(&self) -> Vec<Problem> {
        collect([
            written(self.max_hedges, check_max_hedges),
            match self.delay {
                None => Err(Problem::whole(
                    "`#[hedge]` needs `delay = \"50ms\"` (how long to wait before a second attempt) or `delay = adaptive`",
                )),
                Some(Delay::Fixed(d)) => check_delay(d),
                Some(Delay::Adaptive) => Ok(()),
            },
        ])
    }
}

/// At least one hedge.
pub const fn check_max_hedges(n: u32) -> Check {
    nonzero(
        "max_hedges",
        n as u64,
        "`max_hedges` of 0 would never hedge: use at least 1, or remove `#[hedge]`",
    )
}

/// A delay of zero sends every hedge at once.
pub const fn check_delay(d: Duration) -> Check {
    positive(
        "delay",
        d,
        "a `delay` of zero would send every hedge at once and multiply load: use a delay near the P95 latency, or `adaptive`",
    )
}
