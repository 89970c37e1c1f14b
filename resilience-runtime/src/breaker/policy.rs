//! The policy: what a [`CircuitBreaker`](super::CircuitBreaker) does.

use std::time::Duration;

use super::{engine, window};

/// How many recent calls rate mode looks at: the last N calls, or the
/// calls that ended within the last duration (forgotten a tenth of the
/// window at a time; every call is counted, however many, the snapshot's
/// totals stopping at `u32::MAX`). The schema's `window` option, as
/// `#[circuit_breaker(window = …)]` and a configuration file write it.
///
/// ```
/// use resilience::breaker::{BreakerPolicy, WindowSize};
/// use std::time::Duration;
///
/// let last_100_calls = BreakerPolicy::new().failure_rate(0.5, WindowSize::Calls(100));
/// let last_10_seconds = BreakerPolicy::new().failure_rate(0.5, WindowSize::Time(Duration::from_secs(10)));
/// # let _ = (last_100_calls, last_10_seconds);
/// ```
pub use resilience_schema::circuit_breaker::Window as WindowSize;

use crate::live::{LiveDuration, LiveF64, LiveOption, LiveU32};
use resilience_schema::{circuit_breaker as schema, expect};

// The schema's limits are the engine's bit widths.
const _: () = assert!(schema::MAX_FAILURE_THRESHOLD == engine::MAX_FAILURE_THRESHOLD);
const _: () = assert!(schema::MAX_HALF_OPEN == engine::MAX_HALF_OPEN_COUNT);
const _: () = assert!(schema::MAX_WINDOW_CALLS == window::MAX_CALLS_WINDOW);

/// When the circuit opens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum TripRule {
    Consecutive {
        failure_threshold: u32,
    },
    Rate {
        failure_rate: f64,
        window: WindowSize,
        min_calls: u32,
    },
}

/// What a [`CircuitBreaker`](super::CircuitBreaker) does: when it opens, how long it stays open,
/// and how it probes the service before closing.
///
/// Built with `const` methods, so a policy can live in a `static`.
/// Defaults: open after 5 consecutive failures, stay open 60 s, admit 1
/// half-open trial at a time, close after 1 successful trial, no slow-call
/// rule, no `half_open_max_wait`.
///
/// Defaults and rules are the schema's (`resilience_schema::
/// circuit_breaker`), the same as `#[circuit_breaker]`'s: a value the
/// macro refuses at compile time panics here with the same sentence (in a
/// `static`, at compile time): thresholds and counts below 1,
/// `failure_threshold` above [`MAX_FAILURE_THRESHOLD`],
/// `half_open_max_calls` and `success_threshold` above 255, a count window
/// above 1,000,000 calls or of zero time, rates outside (0, 1], zero
/// durations, `min_calls` outside rate mode or above a count window.
///
/// ```
/// use resilience::breaker::{BreakerPolicy, WindowSize};
/// use std::time::Duration;
///
/// const PAYMENTS: BreakerPolicy = BreakerPolicy::new()
///     .failure_rate(0.5, WindowSize::Calls(100))
///     .min_calls(20)
///     .slow_call(Duration::from_secs(2))
///     .slow_call_rate(0.8)
///     .open_for(Duration::from_secs(30));
/// assert_eq!(PAYMENTS.get_open_for(), Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerPolicy {
    pub(super) trip: TripRule,
    pub(super) slow_call: Option<Duration>,
    pub(super) slow_call_rate: f64,
    pub(super) open_for: Duration,
    pub(super) success_threshold: u32,
    pub(super) half_open_max_calls: u32,
    pub(super) half_open_max_wait: Option<Duration>,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self::new()
    }
}

/// The largest `failure_threshold`, 536,870,911 (the count of failures
/// in a row shares the breaker's state word with a 32-bit generation).
///
/// ```
/// use resilience::breaker::{BreakerPolicy, MAX_FAILURE_THRESHOLD};
///
/// let p = BreakerPolicy::new().failure_threshold(MAX_FAILURE_THRESHOLD);
/// assert_eq!(p.get_failure_threshold(), Some(MAX_FAILURE_THRESHOLD));
/// ```
pub const MAX_FAILURE_THRESHOLD: u32 = engine::MAX_FAILURE_THRESHOLD;

impl BreakerPolicy {
    /// The default policy (see the type's docs).
    ///
    /// ```
    /// # use resilience::breaker::BreakerPolicy;
    /// assert_eq!(BreakerPolicy::new().get_failure_threshold(), Some(5));
    /// ```
    pub const fn new() -> Self {
        BreakerPolicy {
            trip: TripRule::Consecutive {
                failure_threshold: schema::FAILURE_THRESHOLD,
            },
            slow_call: None,
            slow_call_rate: schema::SLOW_CALL_RATE,
            open_for: schema::OPEN_FOR,
            success_threshold: schema::SUCCESS_THRESHOLD,
            half_open_max_calls: schema::HALF_OPEN_MAX_CALLS,
            half_open_max_wait: None,
        }
    }

    /// Consecutive mode: open after `n` failures in a row (a success resets
    /// the count), 1 to [`MAX_FAILURE_THRESHOLD`]. Replaces a rate rule.
    ///
    /// ```
    /// # use resilience::breaker::BreakerPolicy;
    /// assert_eq!(BreakerPolicy::new().failure_threshold(3).get_failure_threshold(), Some(3));
    /// ```
    pub const fn failure_threshold(mut self, n: u32) -> Self {
        expect(schema::check_failure_threshold(n));
        self.trip = TripRule::Consecutive {
            failure_threshold: n,
        };
        self
    }

    /// Rate mode: open when at least `rate` (in (0, 1]) of the calls in
    /// `window` failed, once the window holds [`min_calls`](Self::min_calls)
    /// calls (default 20, at most the window's size). Replaces a
    /// consecutive rule.
    ///
    /// ```
    /// # use resilience::breaker::{BreakerPolicy, WindowSize};
    /// let p = BreakerPolicy::new().failure_rate(0.25, WindowSize::Calls(10));
    /// assert_eq!(p.get_failure_threshold(), None);
    /// assert_eq!(p.get_min_calls(), Some(10));
    /// ```
    pub const fn failure_rate(mut self, rate: f64, window: WindowSize) -> Self {
        expect(schema::check_rate("failure_rate", rate));
        expect(schema::check_window(window));
        let min_calls = match self.trip {
            TripRule::Rate { min_calls, .. } => min_calls,
            TripRule::Consecutive { .. } => schema::MIN_CALLS,
        };
        self.trip = TripRule::Rate {
            failure_rate: rate,
            window,
            min_calls: cap_min_calls(min_calls, window),
        };
        self
    }

    /// Rate mode: how many calls the window must hold before its rates
    /// count, at most a count window's size; call it after
    /// [`failure_rate`](Self::failure_rate) (in consecutive mode it panics,
    /// as `#[circuit_breaker(min_calls = …)]` without a rate is refused).
    ///
    /// ```
    /// # use resilience::breaker::{BreakerPolicy, WindowSize};
    /// let p = BreakerPolicy::new().failure_rate(0.5, WindowSize::Calls(100)).min_calls(40);
    /// assert_eq!(p.get_min_calls(), Some(40));
    /// ```
    pub const fn min_calls(mut self, n: u32) -> Self {
        expect(schema::check_min_calls(n));
        let TripRule::Rate {
            failure_rate,
            window,
            ..
        } = self.trip
        else {
            expect(schema::check_min_calls_needs_rate(true));
            return self;
        };
        expect(schema::check_min_calls_within_window(n, window));
        self.trip = TripRule::Rate {
            failure_rate,
            window,
            min_calls: n,
        };
        self
    }

    /// A call that takes `d` or longer is slow. In consecutive mode and in
    /// half-open, a slow success counts as a failure; in rate mode, slow
    /// calls have their own rate, [`slow_call_rate`](Self::slow_call_rate).
    ///
    /// ```
    /// # use resilience::breaker::BreakerPolicy;
    /// # use std::time::Duration;
    /// let p = BreakerPolicy::new().slow_call(Duration::from_secs(2));
    /// # let _ = p;
    /// ```
    pub const fn slow_call(mut self, d: Duration) -> Self {
        expect(schema::check_slow_call(d));
        self.slow_call = Some(d);
        self
    }

    /// Rate mode: open when at least `rate` of the calls in the window were
    /// slow (default 1.0: all of them).
    ///
    /// ```
    /// # use resilience::breaker::BreakerPolicy;
    /// let p = BreakerPolicy::new().slow_call_rate(0.8);
    /// # let _ = p;
    /// ```
    pub const fn slow_call_rate(mut self, rate: f64) -> Self {
        expect(schema::check_rate("slow_call_rate", rate));
        self.slow_call_rate = rate;
        self
    }

    /// How long the circuit stays open before it admits a trial call.
    ///
    /// ```
    /// # use resilience::breaker::BreakerPolicy;
    /// # use std::time::Duration;
    /// let p = BreakerPolicy::new().open_for(Duration::from_secs(5));
    /// assert_eq!(p.get_open_for(), Duration::from_secs(5));
    /// ```
    pub const fn open_for(mut self, d: Duration) -> Self {
        expect(schema::check_open_for(d));
        self.open_for = d;
        self
    }

    /// Successful trials needed to close the circuit (1 to 255).
    ///
    /// ```
    /// # use resilience::breaker::BreakerPolicy;
    /// let p = BreakerPolicy::new().success_threshold(3);
    /// # let _ = p;
    /// ```
    pub const fn success_threshold(mut self, n: u32) -> Self {
        expect(schema::check_success_threshold(n));
        self.success_threshold = n;
        self
    }

    /// Trial calls admitted at once in half-open (1 to 255); the others are
    /// rejected.
    ///
    /// ```
    /// # use resilience::breaker::BreakerPolicy;
    /// let p = BreakerPolicy::new().half_open_max_calls(2);
    /// # let _ = p;
    /// ```
    pub const fn half_open_max_calls(mut self, n: u32) -> Self {
        expect(schema::check_half_open_max_calls(n));
        self.half_open_max_calls = n;
        self
    }

    /// When every trial permit is taken and no trial has reported for `d`,
    /// the next caller re-opens the circuit instead of being turned away
    /// (a hung trial cannot keep the breaker half-open forever).
    ///
    /// ```
    /// # use resilience::breaker::BreakerPolicy;
    /// # use std::time::Duration;
    /// let p = BreakerPolicy::new().half_open_max_wait(Duration::from_secs(10));
    /// # let _ = p;
    /// ```
    pub const fn half_open_max_wait(mut self, d: Duration) -> Self {
        expect(schema::check_half_open_max_wait(d));
        self.half_open_max_wait = Some(d);
        self
    }

    /// The consecutive-failure threshold, or `None` in rate mode.
    ///
    /// ```
    /// # use resilience::breaker::BreakerPolicy;
    /// assert_eq!(BreakerPolicy::new().get_failure_threshold(), Some(5));
    /// ```
    pub const fn get_failure_threshold(&self) -> Option<u32> {
        match self.trip {
            TripRule::Consecutive { failure_threshold } => Some(failure_threshold),
            TripRule::Rate { .. } => None,
        }
    }

    /// The minimum number of calls in the window, or `None` in consecutive
    /// mode.
    ///
    /// ```
    /// # use resilience::breaker::BreakerPolicy;
    /// assert_eq!(BreakerPolicy::new().get_min_calls(), None);
    /// ```
    pub const fn get_min_calls(&self) -> Option<u32> {
        match self.trip {
            TripRule::Rate { min_calls, .. } => Some(min_calls),
            TripRule::Consecutive { .. } => None,
        }
    }

    /// How long the circuit stays open.
    ///
    /// ```
    /// # use resilience::breaker::BreakerPolicy;
    /// # use std::time::Duration;
    /// assert_eq!(BreakerPolicy::new().get_open_for(), Duration::from_secs(60));
    /// ```
    pub const fn get_open_for(&self) -> Duration {
        self.open_for
    }
}

/// The default `min_calls`, at most a count window's size.
const fn cap_min_calls(min_calls: u32, window: WindowSize) -> u32 {
    match window {
        WindowSize::Calls(n) if min_calls > n => n,
        _ => min_calls,
    }
}

/// A [`BreakerPolicy`] a reload can change in place (issue 14): each
/// value one atomic word, read as cheaply as the field it replaces. The
/// trip rule's mode and window stay as built: the window's storage is
/// shaped by them.
pub(crate) struct LivePolicy {
    /// Consecutive mode (`failure_threshold`) or rate mode (the rest).
    rate_mode: bool,
    window: WindowSize,
    failure_threshold: LiveU32,
    pub(super) failure_rate: LiveF64,
    pub(super) min_calls: LiveU32,
    pub(super) slow_call: LiveOption,
    pub(super) slow_call_rate: LiveF64,
    pub(super) open_for: LiveDuration,
    pub(super) success_threshold: LiveU32,
    pub(super) half_open_max_calls: LiveU32,
    pub(super) half_open_max_wait: LiveOption,
}

impl LivePolicy {
    pub(super) const fn new(p: BreakerPolicy) -> Self {
        let (rate_mode, window, failure_threshold, failure_rate, min_calls) = match p.trip {
            TripRule::Consecutive { failure_threshold } => (
                false,
                WindowSize::Calls(0),
                failure_threshold,
                schema::FAILURE_RATE,
                schema::MIN_CALLS,
            ),
            TripRule::Rate {
                failure_rate,
                window,
                min_calls,
            } => (true, window, 0, failure_rate, min_calls),
        };
        LivePolicy {
            rate_mode,
            window,
            failure_threshold: LiveU32::new(failure_threshold),
            failure_rate: LiveF64::new(failure_rate),
            min_calls: LiveU32::new(min_calls),
            slow_call: LiveOption::new(p.slow_call),
            slow_call_rate: LiveF64::new(p.slow_call_rate),
            open_for: LiveDuration::new(p.open_for),
            success_threshold: LiveU32::new(p.success_threshold),
            half_open_max_calls: LiveU32::new(p.half_open_max_calls),
            half_open_max_wait: LiveOption::new(p.half_open_max_wait),
        }
    }

    /// Whether the trip rule is a rate (without reading the threshold).
    #[inline]
    pub(super) fn rate_mode(&self) -> bool {
        self.rate_mode
    }

    /// The consecutive-failure threshold, `None` in rate mode.
    #[inline]
    pub(super) fn failure_threshold(&self) -> Option<u32> {
        if self.rate_mode {
            None
        } else {
            Some(self.failure_threshold.get())
        }
    }

    pub(super) fn get(&self) -> BreakerPolicy {
        BreakerPolicy {
            trip: match self.failure_threshold() {
                Some(failure_threshold) => TripRule::Consecutive { failure_threshold },
                None => TripRule::Rate {
                    failure_rate: self.failure_rate.get(),
                    window: self.window,
                    min_calls: self.min_calls.get(),
                },
            },
            slow_call: self.slow_call.get(),
            slow_call_rate: self.slow_call_rate.get(),
            open_for: self.open_for.get(),
            success_threshold: self.success_threshold.get(),
            half_open_max_calls: self.half_open_max_calls.get(),
            half_open_max_wait: self.half_open_max_wait.get(),
        }
    }

    /// Whether `p` has this policy's trip mode and window, which a running
    /// breaker keeps.
    pub(super) fn same_shape(&self, p: &BreakerPolicy) -> bool {
        match p.trip {
            TripRule::Consecutive { .. } => !self.rate_mode,
            TripRule::Rate { window, .. } => self.rate_mode && self.window == window,
        }
    }

    /// Takes every value of `p` (of the same shape).
    pub(super) fn set(&self, p: &BreakerPolicy) {
        match p.trip {
            TripRule::Consecutive { failure_threshold } => {
                self.failure_threshold.set(failure_threshold)
            }
            TripRule::Rate {
                failure_rate,
                min_calls,
                ..
            } => {
                self.failure_rate.set(failure_rate);
                self.min_calls.set(min_calls);
            }
        }
        self.slow_call.set(p.slow_call);
        self.slow_call_rate.set(p.slow_call_rate);
        self.open_for.set(p.open_for);
        self.success_threshold.set(p.success_threshold);
        self.half_open_max_calls.set(p.half_open_max_calls);
        self.half_open_max_wait.set(p.half_open_max_wait);
    }
}

/// The schema's settings of a policy, both ways (issue 14: what a
/// configuration overlays).
#[cfg(feature = "config")]
impl BreakerPolicy {
    /// The settings `#[circuit_breaker]` would write for this policy.
    pub(crate) fn to_settings(self) -> schema::Settings {
        let (failure_threshold, failure_rate, window, min_calls) = match self.trip {
            TripRule::Consecutive { failure_threshold } => {
                (Some(failure_threshold), None, None, None)
            }
            TripRule::Rate {
                failure_rate,
                window,
                min_calls,
            } => (None, Some(failure_rate), Some(window), Some(min_calls)),
        };
        schema::Settings {
            failure_threshold,
            failure_rate,
            window,
            min_calls,
            open_for: Some(self.open_for),
            slow_call: self.slow_call,
            slow_call_rate: self.slow_call.map(|_| self.slow_call_rate),
            success_threshold: Some(self.success_threshold),
            half_open_max_calls: Some(self.half_open_max_calls),
            half_open_max_wait: self.half_open_max_wait,
        }
    }

    /// The policy of `settings` (checked by the schema's rules), as
    /// `#[circuit_breaker]` builds it: defaults for what they leave out.
    pub(crate) fn from_settings(s: &schema::Settings) -> BreakerPolicy {
        let mut p = BreakerPolicy::new();
        if let Some(n) = s.failure_threshold {
            p = p.failure_threshold(n);
        } else if s.rate_mode() {
            p = p.failure_rate(
                s.failure_rate.unwrap_or(schema::FAILURE_RATE),
                s.window.unwrap_or(schema::WINDOW),
            );
            if let Some(n) = s.min_calls {
                p = p.min_calls(n);
            }
        }
        if let Some(d) = s.slow_call {
            p = p.slow_call(d);
        }
        if let Some(r) = s.slow_call_rate {
            p = p.slow_call_rate(r);
        }
        if let Some(d) = s.open_for {
            p = p.open_for(d);
        }
        if let Some(n) = s.success_threshold {
            p = p.success_threshold(n);
        }
        if let Some(n) = s.half_open_max_calls {
            p = p.half_open_max_calls(n);
        }
        if let Some(d) = s.half_open_max_wait {
            p = p.half_open_max_wait(d);
        }
        p
    }
}

#[cfg(all(test, not(resilience_loom)))]
mod tests {
    use super::*;

    /// Each setting `#[circuit_breaker]` refuses panics with the macro's
    /// sentence (they used to be clamped silently).
    #[test]
    fn policy_refuses_what_the_macro_refuses() {
        let refused = |build: fn() -> BreakerPolicy| {
            let panic = std::panic::catch_unwind(build).expect_err("refused");
            panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap()
        };
        assert!(
            refused(|| BreakerPolicy::new().failure_threshold(0))
                .starts_with("`failure_threshold = 0`")
        );
        assert!(
            refused(|| BreakerPolicy::new().failure_rate(7.0, WindowSize::Calls(10)))
                .starts_with("`failure_rate` is a fraction")
        );
        assert!(
            refused(|| BreakerPolicy::new().failure_rate(0.5, WindowSize::Calls(0)))
                .starts_with("`window = 0`")
        );
        assert!(
            refused(|| BreakerPolicy::new()
                .failure_rate(0.5, WindowSize::Calls(10))
                .min_calls(50))
            .starts_with("`min_calls` is more")
        );
        assert!(
            refused(|| BreakerPolicy::new().min_calls(5))
                .starts_with("`min_calls` applies to rate mode")
        );
        assert!(
            refused(|| BreakerPolicy::new().success_threshold(0))
                .starts_with("`success_threshold = 0`")
        );
        assert!(
            refused(|| BreakerPolicy::new().half_open_max_calls(1000))
                .starts_with("`half_open_max_calls` is at most 255")
        );
        assert!(
            refused(|| BreakerPolicy::new().open_for(Duration::ZERO))
                .starts_with("`open_for` of zero")
        );
    }

    #[test]
    fn the_default_min_calls_fits_a_small_window() {
        let p = BreakerPolicy::new().failure_rate(0.5, WindowSize::Calls(10));
        assert_eq!(p.get_min_calls(), Some(10));
        // A window larger than the default keeps the default (20).
        let p = BreakerPolicy::new().failure_rate(0.5, WindowSize::Calls(100));
        assert_eq!(p.get_min_calls(), Some(20));
        let p = BreakerPolicy::new().failure_rate(0.5, WindowSize::Time(Duration::from_secs(60)));
        assert_eq!(p.get_min_calls(), Some(20));
    }
}
