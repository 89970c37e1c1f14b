//! The policy: what a [`CircuitBreaker`](super::CircuitBreaker) does.

use std::time::Duration;

use super::{engine, window};

/// How many recent calls rate mode looks at.
///
/// ```
/// use resilience::breaker::{BreakerPolicy, WindowSize};
/// use std::time::Duration;
///
/// let last_100_calls = BreakerPolicy::new().failure_rate(0.5, WindowSize::Calls(100));
/// let last_10_seconds = BreakerPolicy::new().failure_rate(0.5, WindowSize::Time(Duration::from_secs(10)));
/// # let _ = (last_100_calls, last_10_seconds);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WindowSize {
    /// The last N calls.
    Calls(u32),
    /// The calls that ended within the last duration, forgotten a tenth of
    /// the window at a time. Every call is counted, however many (the
    /// snapshot's totals stop at `u32::MAX`).
    Time(Duration),
}

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
/// Out-of-range values are clamped (the macro rejects them at compile
/// time): thresholds and counts to at least 1, `failure_threshold` to at
/// most [`MAX_FAILURE_THRESHOLD`], `half_open_max_calls` and
/// `success_threshold` to at most 255, a count window to at most 1,000,000
/// calls, rates into (0, 1].
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

const fn at_least_one(n: u32) -> u32 {
    if n == 0 { 1 } else { n }
}

const fn clamp_rate(rate: f64) -> f64 {
    if rate.is_nan() || rate <= 0.0 {
        f64::MIN_POSITIVE
    } else if rate > 1.0 {
        1.0
    } else {
        rate
    }
}

const DEFAULT_MIN_CALLS: u32 = 20;

/// The largest `failure_threshold`, 536,870,911 (the count of failures
/// in a row shares the breaker's state word with a 32-bit generation).
///
/// ```
/// use resilience::breaker::{BreakerPolicy, MAX_FAILURE_THRESHOLD};
///
/// let p = BreakerPolicy::new().failure_threshold(u32::MAX);
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
                failure_threshold: 5,
            },
            slow_call: None,
            slow_call_rate: 1.0,
            open_for: Duration::from_secs(60),
            success_threshold: 1,
            half_open_max_calls: 1,
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
        let n = if n > MAX_FAILURE_THRESHOLD {
            MAX_FAILURE_THRESHOLD
        } else {
            at_least_one(n)
        };
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
        let window = match window {
            WindowSize::Calls(n) if n > window::MAX_CALLS_WINDOW => {
                WindowSize::Calls(window::MAX_CALLS_WINDOW)
            }
            WindowSize::Calls(n) => WindowSize::Calls(at_least_one(n)),
            WindowSize::Time(t) => WindowSize::Time(t),
        };
        let min_calls = match self.trip {
            TripRule::Rate { min_calls, .. } => min_calls,
            TripRule::Consecutive { .. } => DEFAULT_MIN_CALLS,
        };
        self.trip = TripRule::Rate {
            failure_rate: clamp_rate(rate),
            window,
            min_calls: cap_min_calls(min_calls, window),
        };
        self
    }

    /// Rate mode: how many calls the window must hold before its rates
    /// count. No effect in consecutive mode; call it after
    /// [`failure_rate`](Self::failure_rate).
    ///
    /// ```
    /// # use resilience::breaker::{BreakerPolicy, WindowSize};
    /// let p = BreakerPolicy::new().failure_rate(0.5, WindowSize::Calls(100)).min_calls(40);
    /// assert_eq!(p.get_min_calls(), Some(40));
    /// ```
    pub const fn min_calls(mut self, n: u32) -> Self {
        if let TripRule::Rate {
            failure_rate,
            window,
            ..
        } = self.trip
        {
            self.trip = TripRule::Rate {
                failure_rate,
                window,
                min_calls: cap_min_calls(at_least_one(n), window),
            };
        }
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
        self.slow_call_rate = clamp_rate(rate);
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
        self.success_threshold = clamp_small(n);
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
        self.half_open_max_calls = clamp_small(n);
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

const fn clamp_small(n: u32) -> u32 {
    if n == 0 {
        1
    } else if n > engine::MAX_HALF_OPEN_COUNT {
        engine::MAX_HALF_OPEN_COUNT
    } else {
        n
    }
}

const fn cap_min_calls(min_calls: u32, window: WindowSize) -> u32 {
    match window {
        WindowSize::Calls(n) if min_calls > n => n,
        _ => min_calls,
    }
}

#[cfg(all(test, not(resilience_loom)))]
mod tests {
    use super::*;

    #[test]
    fn policy_clamps_out_of_range_values() {
        let p = BreakerPolicy::new()
            .failure_rate(7.0, WindowSize::Calls(0))
            .min_calls(50)
            .success_threshold(0)
            .half_open_max_calls(1000);
        assert_eq!(p.get_min_calls(), Some(1));
        assert!(matches!(p.trip, TripRule::Rate { failure_rate, .. } if failure_rate == 1.0));
        assert_eq!((p.success_threshold, p.half_open_max_calls), (1, 255));
        assert_eq!(
            BreakerPolicy::new()
                .failure_threshold(0)
                .get_failure_threshold(),
            Some(1)
        );
    }
}
