//! `stale_cache(…)`, the built-in level of `#[fallback]`, and `StaleCache`.

use std::time::Duration;

use crate::{Check, Fallback, Kind, Problem, collect, nonzero, positive, written};

/// How long a good result is served.
pub const TTL: Duration = Duration::from_secs(600);
/// Argument tuples remembered.
pub const CAPACITY: u64 = 10_000;

crate::options! {
    /// `stale_cache(…)`'s settings as written (`None`: the default).
    ttl: Duration, Kind::Duration, Fallback::Duration(TTL), "How long a good result is served.";
    capacity: u64, Kind::Count { min: 1, max: u64::MAX }, Fallback::Count(CAPACITY), "Argument tuples (or keys) remembered.";
    with, Kind::Expr, Fallback::Unset, "A `StaleCache` you own; unset: one per function.";
    key, Kind::Expr, Fallback::Unset, "What results are keyed by; unset: the arguments.";
}

impl Settings {
    /// Every rule the settings break.
    pub fn problems(&self) -> Vec<Problem> {
        collect([
            written(self.ttl, check_ttl),
            written(self.capacity, check_capacity),
        ])
    }
}

/// A ttl of zero serves nothing.
pub const fn check_ttl(ttl: Duration) -> Check {
    positive(
        "ttl",
        ttl,
        "a `ttl` of zero would never serve anything: use a positive duration such as \"10m\"",
    )
}

/// At least one entry.
pub const fn check_capacity(capacity: u64) -> Check {
    nonzero(
        "capacity",
        capacity,
        "`capacity` is the number of argument tuples remembered: use a positive number such as 10_000",
    )
}
