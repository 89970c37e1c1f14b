//! `#[rate_limiter]`, `RateLimiter`.

use std::time::Duration;

use crate::{Check, Fallback, Kind, Problem, collect, nonzero, positive, written};

/// The period of `rate`.
pub const PER: Duration = Duration::from_secs(1);
/// How long a call over the limit waits for its turn: not at all.
pub const MAX_WAIT: Duration = Duration::ZERO;
/// The longest stretch a rate limiter measures, 100 years: a full burst
/// must earn back within it.
pub const MAX_SPAN: Duration = Duration::from_secs(100 * 31_557_600);

crate::options! {
    /// `#[rate_limiter]`'s options as written (`None`: the default).
    rate: u32, Kind::Count { min: 1, max: u32::MAX as u64 }, Fallback::Unset, "Calls allowed per `per` (required).";
    per: Duration, Kind::Duration, Fallback::Duration(PER), "The period of `rate`.";
    burst: u32, Kind::Count { min: 1, max: u32::MAX as u64 }, Fallback::Unset, "Calls that may come at once after a quiet spell; unset: `rate`.";
    max_wait: Duration, Kind::Duration, Fallback::Duration(MAX_WAIT), "How long a call over the limit may wait for its turn; zero: refused at once.";
}

impl Settings {
    /// Every rule the settings break.
    pub fn problems(&self) -> Vec<Problem> {
        let rate = match self.rate {
            None => {
                return vec![Problem::whole(
                    "`#[rate_limiter]` needs `rate`, the calls allowed per period, e.g. `#[rate_limiter(rate = 100, per = \"1s\")]`",
                )];
            }
            Some(rate) => rate,
        };
        let per = self.per.unwrap_or(PER);
        let rate_ok = check_rate(rate);
        // The period's own rule, then those that divide it by the rate.
        let per_ok = match (check_period(per), rate_ok) {
            (Ok(()), Ok(())) => check_per(rate, per),
            (period, _) => period,
        };
        let burst = if rate_ok.is_ok() && per_ok.is_ok() {
            written(self.burst, |burst| check_burst(rate, per, burst))
        } else {
            written(self.burst, |burst| {
                nonzero("burst", burst as u64, BURST_ZERO)
            })
        };
        collect([rate_ok, per_ok, burst])
    }
}

/// At least one call per period.
pub const fn check_rate(rate: u32) -> Check {
    nonzero(
        "rate",
        rate as u64,
        "`rate = 0` would refuse every call: allow at least 1 call per period (stretch `per` for slower rates, e.g. `rate = 1, per = \"1m\"`)",
    )
}

/// A period is positive.
pub const fn check_period(per: Duration) -> Check {
    positive(
        "per",
        per,
        "`per` of zero is not a period: use a positive duration such as \"1s\"",
    )
}

/// A positive period, at least a nanosecond a call, and a default burst
/// (`rate` calls) that earns back within [`MAX_SPAN`] (`rate` checked).
pub const fn check_per(rate: u32, per: Duration) -> Check {
    if let Err(problem) = check_period(per) {
        return Err(problem);
    }
    let nanos = per.as_nanos();
    if nanos < rate as u128 {
        return Err(Problem::at(
            "per",
            "`rate` calls per `per` is more than one call per nanosecond: lengthen `per` or lower `rate`",
        ));
    }
    if nanos / rate as u128 * rate as u128 > MAX_SPAN.as_nanos() {
        return Err(Problem::at(
            "per",
            "`per` is longer than the 100 years a rate limiter can measure: use a shorter period, e.g. `rate = 1, per = \"24h\"` for one call a day",
        ));
    }
    Ok(())
}

const BURST_ZERO: &str = "`burst = 0` would refuse every call: `burst` is how many calls may come at once, at least 1 (it defaults to `rate`)";

/// At least 1, and a full burst earns back within [`MAX_SPAN`] (`rate`
/// and `per` already checked).
pub const fn check_burst(rate: u32, per: Duration, burst: u32) -> Check {
    if burst == 0 {
        return Err(Problem::at("burst", BURST_ZERO));
    }
    let interval = per.as_nanos() / rate as u128;
    if interval * burst as u128 > MAX_SPAN.as_nanos() {
        return Err(Problem::at(
            "burst",
            "a full burst takes longer to earn back (`burst` × `per / rate`) than the 100 years a rate limiter can measure: lower `burst`, or shorten `per`",
        ));
    }
    Ok(())
}
