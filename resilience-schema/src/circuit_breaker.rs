//! `#[circuit_breaker]`, `BreakerPolicy`.

use std::time::Duration;

use crate::{Check, Fallback, Kind, Problem, collect, count_in, needs, nonzero, positive, written};

/// Failures in a row that open the circuit (consecutive mode).
pub const FAILURE_THRESHOLD: u32 = 5;
/// The largest `failure_threshold`: the count of failures in a row shares
/// the breaker's state word with its generation.
pub const MAX_FAILURE_THRESHOLD: u32 = (1 << 29) - 1;
/// The failure rate that opens the circuit (rate mode, without
/// `failure_rate`).
pub const FAILURE_RATE: f64 = 0.5;
/// The window of rate mode, without `window`: the last 100 calls.
pub const WINDOW: Window = Window::Calls(WINDOW_CALLS);
const WINDOW_CALLS: u32 = 100;
/// The largest count window.
pub const MAX_WINDOW_CALLS: u32 = 1_000_000;
/// Calls the window must hold before its rates count (at most the
/// window's size).
pub const MIN_CALLS: u32 = 20;
/// How long the circuit stays open.
pub const OPEN_FOR: Duration = Duration::from_secs(60);
/// The slow-call rate that opens the circuit, once `slow_call` is set.
pub const SLOW_CALL_RATE: f64 = 1.0;
/// Successful trials that close the circuit.
pub const SUCCESS_THRESHOLD: u32 = 1;
/// Trial calls admitted at once in half-open.
pub const HALF_OPEN_MAX_CALLS: u32 = 1;
/// The largest `success_threshold` and `half_open_max_calls` (8-bit
/// counters: half-open trials are few by design).
pub const MAX_HALF_OPEN: u32 = 255;

/// A rate window: the last `n` calls, or the calls of the last `d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    /// The last `n` calls.
    Calls(u32),
    /// The calls of the last `d`.
    Time(Duration),
}

crate::options! {
    /// `#[circuit_breaker]`'s options as written (`None`: the default).
    failure_threshold: u32, Kind::Count { min: 1, max: u32::MAX as u64 }, Fallback::Count(FAILURE_THRESHOLD as u64), "Consecutive mode: open after this many failures in a row (at most 536870911).";
    failure_rate: f64, Kind::Number, Fallback::Number(FAILURE_RATE), "Rate mode: open when this fraction of the window's calls failed, in (0, 1].";
    window: Window, Kind::CountOrDuration, Fallback::Count(WINDOW_CALLS as u64), "Rate mode: the last N calls (`window = 100`) or the calls of a duration (`window = \"10s\"`).";
    min_calls: u32, Kind::Count { min: 1, max: u32::MAX as u64 }, Fallback::Count(MIN_CALLS as u64), "Rate mode: calls the window must hold before its rates count (at most the window's size).";
    open_for: Duration, Kind::Duration, Fallback::Duration(OPEN_FOR), "How long the circuit stays open before a trial call.";
    slow_call: Duration, Kind::Duration, Fallback::Unset, "A call this long or longer is slow (a failure in consecutive mode and half-open); unset: none is.";
    slow_call_rate: f64, Kind::Number, Fallback::Number(SLOW_CALL_RATE), "Rate mode, with `slow_call`: open when this fraction of the window's calls were slow.";
    success_threshold: u32, Kind::Count { min: 1, max: u32::MAX as u64 }, Fallback::Count(SUCCESS_THRESHOLD as u64), "Successful trials that close the circuit (at most 255).";
    half_open_max_calls: u32, Kind::Count { min: 1, max: u32::MAX as u64 }, Fallback::Count(HALF_OPEN_MAX_CALLS as u64), "Trial calls admitted at once in half-open (at most 255); the others are rejected.";
    half_open_max_wait: Duration, Kind::Duration, Fallback::Unset, "Re-open when no trial has reported for this long; unset: wait for the trials.";
    failure_if, Kind::Path, Fallback::Unset, "A `fn(&E) -> bool` that says which errors count as failures; unset: the error's `Classify`.";
    failure_on_ok, Kind::Path, Fallback::Unset, "A `fn(&T) -> bool` that says which `Ok` values count as failures (an `Ok(response)` with a 503), returned as they are; unset: every `Ok` is a success.";
}

impl crate::FromValue for Window {
    fn from_value(value: &crate::Value) -> Option<Self> {
        match value {
            crate::Value::Count(n) => u32::try_from(*n).ok().map(Window::Calls),
            crate::Value::Duration(d) => Some(Window::Time(*d)),
            _ => None,
        }
    }
}

impl Settings {
    /// Whether the options choose rate mode (`failure_rate`, `window` or
    /// `slow_call_rate` written, `failure_threshold` not).
    pub fn rate_mode(&self) -> bool {
        self.failure_threshold.is_none()
            && (self.failure_rate.is_some()
                || self.window.is_some()
                || self.slow_call_rate.is_some())
    }

    /// Every rule the settings break.
    pub fn problems(&self) -> Vec<Problem> {
        let mut checks = vec![
            written(self.failure_threshold, check_failure_threshold),
            written(self.success_threshold, check_success_threshold),
            written(self.half_open_max_calls, check_half_open_max_calls),
            written(self.min_calls, check_min_calls),
            written(self.failure_rate, |r| check_rate("failure_rate", r)),
            written(self.slow_call_rate, |r| check_rate("slow_call_rate", r)),
            written(self.open_for, check_open_for),
            written(self.slow_call, check_slow_call),
            written(self.half_open_max_wait, check_half_open_max_wait),
            written(self.window, check_window),
            check_slow_call_rate_needs_slow_call(
                self.slow_call_rate.is_some(),
                self.slow_call.is_some(),
            ),
        ];
        if self.failure_threshold.is_some() {
            let rate_options = [
                ("failure_rate", self.failure_rate.is_some()),
                ("window", self.window.is_some()),
                ("min_calls", self.min_calls.is_some()),
                ("slow_call_rate", self.slow_call_rate.is_some()),
            ];
            checks.extend(
                rate_options
                    .iter()
                    .filter(|(_, written)| *written)
                    .map(|(key, _)| rate_option_in_consecutive_mode(key)),
            );
        } else if self.rate_mode() {
            checks.push(written(self.min_calls, |min| {
                check_min_calls_within_window(min, self.window.unwrap_or(WINDOW))
            }));
        } else {
            checks.push(check_min_calls_needs_rate(self.min_calls.is_some()));
        }
        collect(checks)
    }
}

/// 1 to [`MAX_FAILURE_THRESHOLD`].
pub const fn check_failure_threshold(n: u32) -> Check {
    count_in(
        "failure_threshold",
        n as u64,
        MAX_FAILURE_THRESHOLD as u64,
        "`failure_threshold = 0` would open the circuit before any failure (the default is 5): use at least 1",
        "`failure_threshold` is at most 536870911 failures in a row; for a busy service use a rate, e.g. `failure_rate = 0.5, window = \"10s\"`",
    )
}

/// 1 to [`MAX_HALF_OPEN`].
pub const fn check_success_threshold(n: u32) -> Check {
    count_in(
        "success_threshold",
        n as u64,
        MAX_HALF_OPEN as u64,
        "`success_threshold = 0` would close the circuit without a single successful trial: use at least 1",
        "`success_threshold` is at most 255 (half-open trials are few by design)",
    )
}

/// 1 to [`MAX_HALF_OPEN`].
pub const fn check_half_open_max_calls(n: u32) -> Check {
    count_in(
        "half_open_max_calls",
        n as u64,
        MAX_HALF_OPEN as u64,
        "`half_open_max_calls = 0` would never admit a trial call, so the circuit could never close again: use at least 1",
        "`half_open_max_calls` is at most 255 (half-open trials are few by design)",
    )
}

/// At least 1.
pub const fn check_min_calls(n: u32) -> Check {
    nonzero(
        "min_calls",
        n as u64,
        "`min_calls = 0` would judge a rate on no calls at all: use at least 1",
    )
}

/// A rate (`failure_rate`, `slow_call_rate`) is a fraction in (0, 1].
pub const fn check_rate(key: &'static str, rate: f64) -> Check {
    if rate > 0.0 && rate <= 1.0 {
        return Ok(());
    }
    let failure = matches!(key.as_bytes(), b"failure_rate");
    // `50` most likely means 50 %; `1.5` is not a percentage anyone writes.
    let percent = rate > 1.0 && rate <= 100.0 && rate == (rate as u64) as f64;
    Err(Problem::at(
        if failure {
            "failure_rate"
        } else {
            "slow_call_rate"
        },
        match (failure, percent) {
            (true, false) => {
                "`failure_rate` is a fraction of calls in (0, 1], e.g. `failure_rate = 0.5` for 50%"
            }
            (true, true) => {
                "`failure_rate` is a fraction of calls in (0, 1], not a percentage: write 50% as `failure_rate = 0.5`"
            }
            (false, false) => {
                "`slow_call_rate` is a fraction of calls in (0, 1], e.g. `slow_call_rate = 0.5` for 50%"
            }
            (false, true) => {
                "`slow_call_rate` is a fraction of calls in (0, 1], not a percentage: write 50% as `slow_call_rate = 0.5`"
            }
        },
    ))
}

/// An open time of zero lets calls through at once.
pub const fn check_open_for(d: Duration) -> Check {
    positive(
        "open_for",
        d,
        "`open_for` of zero would let calls through the moment the circuit opens: use a positive duration such as \"30s\" (the default is \"60s\")",
    )
}

/// A slow-call duration of zero makes every call slow.
pub const fn check_slow_call(d: Duration) -> Check {
    positive(
        "slow_call",
        d,
        "`slow_call` of zero would make every call slow: use the duration above which a call is too slow, such as \"2s\"",
    )
}

/// A wait of zero re-opens while the first trial runs.
pub const fn check_half_open_max_wait(d: Duration) -> Check {
    positive(
        "half_open_max_wait",
        d,
        "`half_open_max_wait` of zero would re-open the circuit while its first trial runs: use a positive duration longer than a call, such as \"10s\"",
    )
}

/// A window holds 1 to [`MAX_WINDOW_CALLS`] calls, or a positive duration.
pub const fn check_window(window: Window) -> Check {
    match window {
        Window::Calls(0) => Err(Problem::at(
            "window",
            "`window = 0` holds no calls: use e.g. `window = 100` (the last 100 calls) or `window = \"10s\"`",
        )),
        Window::Calls(n) if n > MAX_WINDOW_CALLS => Err(Problem::at(
            "window",
            "`window` holds at most 1000000 calls; for busier services use a time window such as `window = \"10s\"`",
        )),
        Window::Time(d) if d.is_zero() => Err(Problem::at(
            "window",
            "a `window` of zero time holds no calls: use e.g. `window = \"10s\"` or `window = 100` (the last 100 calls)",
        )),
        _ => Ok(()),
    }
}

/// `slow_call_rate` counts calls slower than `slow_call`.
pub const fn check_slow_call_rate_needs_slow_call(rate: bool, slow_call: bool) -> Check {
    needs(
        "slow_call_rate",
        rate,
        slow_call,
        "`slow_call_rate` needs `slow_call = \"…\"`, the duration from which a call counts as slow: add it, or remove `slow_call_rate`",
    )
}

/// Rate options beside `failure_threshold`: two trip rules.
pub const fn rate_option_in_consecutive_mode(key: &'static str) -> Check {
    Err(Problem::at(
        key,
        "`{key}` belongs to rate mode, but `failure_threshold` selects consecutive mode (open after N failures in a row): keep one rule, either remove `{key}` or replace `failure_threshold` with `failure_rate = …`",
    ))
}

/// `min_calls` above a count window is never reached.
pub const fn check_min_calls_within_window(min_calls: u32, window: Window) -> Check {
    match window {
        Window::Calls(size) if min_calls > size && size > 0 => Err(Problem::at(
            "min_calls",
            "`min_calls` is more than the calls the window holds, so the rate would never be checked: lower `min_calls` or widen `window` (without `window`, it holds the last 100 calls)",
        )),
        _ => Ok(()),
    }
}

/// `min_calls` belongs to rate mode.
pub const fn check_min_calls_needs_rate(min_calls: bool) -> Check {
    needs(
        "min_calls",
        min_calls,
        false,
        "`min_calls` applies to rate mode: add `failure_rate = …` (and `window = …`), or remove it",
    )
}
