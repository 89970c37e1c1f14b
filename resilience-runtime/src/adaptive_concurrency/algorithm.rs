//! The limit algorithms: each turns one window's measurement into a new
//! limit. Plain data, no atomics: the limiter runs them under a lock once a
//! window, off the hot path.
//!
//! The rules are ours, written from the definitions in Netflix's
//! concurrency-limits (`AIMDLimit`, `VegasLimit`, `Gradient2Limit`, in
//! `concurrency-limits-core/src/main/java/com/netflix/concurrency/limits/limit/`),
//! with one difference that holds for all three: they see one sample per
//! window (its mean latency, the most calls in flight at a completion, and
//! whether any call failed), as Netflix's `WindowedLimit` feeds them, not
//! one per call.

use std::time::Duration;

use resilience_schema::adaptive_concurrency::Algorithm;

/// Gradient2's allowance for queueing, in calls (Netflix: `queueSize = 4`).
pub(crate) const GRADIENT2_QUEUE: f64 = 4.0;
/// Gradient2's long-term average spans about this many windows (10 s at
/// the default window). Netflix's `longWindow = 600` counts calls; counted
/// in calls, the average catches up with a latency that queueing raises
/// within a second at 1000 calls/s, and the limit drifts up without bound
/// (measured on tests/adaptive_concurrency_overload.rs: 3–8× the knee).
pub(crate) const GRADIENT2_LONG_WINDOW: f64 = 100.0;
/// Vegas re-measures its no-load latency after this many windows per unit
/// of limit (Netflix: `probeMultiplier = 30`, counted in samples and
/// jittered; here counted in windows, without jitter, so runs repeat).
pub(crate) const VEGAS_PROBE_MULTIPLIER: f64 = 30.0;

/// One window's measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    /// Mean latency of the calls that ended in the window, in nanoseconds.
    pub(crate) rtt: f64,
    /// Calls that ended in the window.
    pub(crate) calls: u64,
    /// The most calls in flight seen at a completion.
    pub(crate) in_flight: usize,
    /// Whether a call failed (an error that is not `Permanent`), or, for
    /// AIMD, was slower than `slow_call`.
    pub(crate) dropped: bool,
}

/// The settings of an algorithm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Params {
    pub(crate) algorithm: Algorithm,
    pub(crate) min: usize,
    pub(crate) max: usize,
    pub(crate) backoff_ratio: f64,
    pub(crate) slow_call: Duration,
    pub(crate) tolerance: f64,
    pub(crate) smoothing: f64,
}

/// An algorithm's state: the limit as a real number, and what it measures
/// latency against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Estimator {
    pub(crate) estimate: f64,
    /// Gradient2: the long-term mean latency (0: none yet).
    long_rtt: f64,
    /// Vegas: the no-load latency (0: none yet).
    rtt_noload: f64,
    /// Vegas: windows since the last probe.
    probe_count: f64,
}

impl Estimator {
    pub(crate) const fn new(initial: usize) -> Self {
        Estimator {
            estimate: initial as f64,
            long_rtt: 0.0,
            rtt_noload: 0.0,
            probe_count: 0.0,
        }
    }

    /// The limit now, a whole number of calls.
    pub(crate) fn limit(&self) -> usize {
        self.estimate as usize
    }

    /// Folds in one window; returns the new limit.
    pub(crate) fn update(&mut self, p: &Params, s: Sample) -> usize {
        let (min, max) = (p.min as f64, p.max as f64);
        let limit = self.estimate;
        let next = match p.algorithm {
            // AIMDLimit: a drop (or a call slower than `timeout`, our
            // `slow_call`) multiplies the limit by `backoffRatio` (at least
            // one less); otherwise, when at least half of it was in use, it
            // grows by one.
            Algorithm::Aimd => {
                let whole = limit.floor();
                if s.dropped || s.rtt > p.slow_call.as_nanos() as f64 {
                    (whole * p.backoff_ratio).floor().min(whole - 1.0)
                } else if s.in_flight as f64 * 2.0 >= whole {
                    whole + 1.0
                } else {
                    whole
                }
            }
            // VegasLimit: `rtt_noload` is the least latency seen (re-probed
            // every `probeMultiplier × limit` samples); the queue is
            // `ceil(limit × (1 − rtt_noload / rtt))`. With
            // `t = log10(limit)`: a drop gives `limit − t`; less than half in
            // use, no change; queue ≤ t: `limit + 6t` (beta); queue < 3t
            // (alpha): `limit + t`; queue > 6t: `limit − t`; else no change.
            // Smoothing 1 (Netflix's default): the new value replaces the old.
            Algorithm::Vegas => {
                self.probe_count += 1.0;
                if self.probe_count >= VEGAS_PROBE_MULTIPLIER * limit.max(1.0) {
                    self.probe_count = 0.0;
                    self.rtt_noload = s.rtt;
                    limit
                } else if self.rtt_noload == 0.0 || s.rtt < self.rtt_noload {
                    self.rtt_noload = s.rtt;
                    limit
                } else {
                    let queue = (limit * (1.0 - self.rtt_noload / s.rtt)).ceil();
                    let t = limit.max(1.0).log10().max(1.0);
                    let (alpha, beta) = (3.0 * t, 6.0 * t);
                    if s.dropped {
                        limit - t
                    } else if (s.in_flight as f64) * 2.0 < limit {
                        limit
                    } else if queue <= t {
                        limit + beta
                    } else if queue < alpha {
                        limit + t
                    } else if queue > beta {
                        limit - t
                    } else {
                        limit
                    }
                }
            }
            // Gradient2Limit: `longRtt` is an exponential average over
            // `longWindow` samples (here windows, see the constant); when it is more than twice the window's
            // latency it is cut by 10 % (recovery after a long overload).
            // Less than half in use: no change. Otherwise
            // `gradient = clamp(tolerance × longRtt / rtt, 0.5, 1)`,
            // `new = limit × gradient + queueSize`, and the limit moves
            // `smoothing` of the way to it.
            Algorithm::Gradient2 => {
                if self.long_rtt == 0.0 {
                    self.long_rtt = s.rtt;
                } else {
                    let keep = 1.0 - 2.0 / (GRADIENT2_LONG_WINDOW + 1.0);
                    self.long_rtt = self.long_rtt * keep + s.rtt * (1.0 - keep);
                }
                if self.long_rtt / s.rtt > 2.0 {
                    self.long_rtt *= 0.9;
                }
                if (s.in_flight as f64) < limit / 2.0 {
                    limit
                } else {
                    let gradient = (p.tolerance * self.long_rtt / s.rtt).clamp(0.5, 1.0);
                    let new = limit * gradient + GRADIENT2_QUEUE;
                    limit * (1.0 - p.smoothing) + new * p.smoothing
                }
            }
        };
        self.estimate = next.clamp(min, max);
        self.limit()
    }
}

#[cfg(all(test, not(resilience_loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params(algorithm: Algorithm) -> Params {
        Params {
            algorithm,
            min: 2,
            max: 200,
            backoff_ratio: 0.9,
            slow_call: Duration::from_secs(5),
            tolerance: 1.5,
            smoothing: 0.2,
        }
    }

    fn sample() -> impl Strategy<Value = Sample> {
        (1.0e6f64..1.0e9, 1u64..500, 0usize..400, any::<bool>()).prop_map(
            |(rtt, calls, in_flight, dropped)| Sample {
                rtt,
                calls,
                in_flight,
                dropped,
            },
        )
    }

    /// AIMD, the ten-line reference: the rule as Netflix's `AIMDLimit`
    /// states it, on whole numbers.
    fn aimd_model(limit: u64, s: &Sample, p: &Params) -> u64 {
        let next = if s.dropped || s.rtt > p.slow_call.as_nanos() as f64 {
            ((limit as f64 * p.backoff_ratio) as u64).min(limit - 1)
        } else if s.in_flight as u64 * 2 >= limit {
            limit + 1
        } else {
            limit
        };
        next.clamp(p.min as u64, p.max as u64)
    }

    proptest! {
        #[test]
        fn aimd_follows_the_reference_rule(
            initial in 2usize..200,
            samples in proptest::collection::vec(sample(), 1..80),
        ) {
            let p = params(Algorithm::Aimd);
            let mut e = Estimator::new(initial);
            let mut model = initial as u64;
            for s in samples {
                model = aimd_model(model, &s, &p);
                prop_assert_eq!(e.update(&p, s) as u64, model);
            }
        }

        /// Every algorithm keeps the limit within `min..=max`, and a window
        /// with less than half the limit in use and no failure never moves
        /// it (the "app-limited" rule all three share).
        #[test]
        fn limits_stay_in_bounds_and_idle_windows_change_nothing(
            algorithm in prop_oneof![Just(Algorithm::Aimd), Just(Algorithm::Vegas), Just(Algorithm::Gradient2)],
            initial in 2usize..200,
            samples in proptest::collection::vec(sample(), 1..80),
        ) {
            let p = params(algorithm);
            let mut e = Estimator::new(initial);
            for s in samples {
                let before = e.limit();
                let idle = !s.dropped && (s.in_flight * 2) < before && s.rtt <= 5.0e9;
                let probing = algorithm == Algorithm::Vegas;
                let after = e.update(&p, s);
                prop_assert!((p.min..=p.max).contains(&after), "{after}");
                if idle && !probing {
                    prop_assert_eq!(after, before);
                }
            }
        }

        /// Gradient2 and Vegas: latency steady at its floor, with the limit
        /// in use, only ever grows the limit; a failure never grows it.
        #[test]
        fn steady_latency_grows_and_failures_never_grow(
            algorithm in prop_oneof![Just(Algorithm::Vegas), Just(Algorithm::Gradient2)],
            initial in 2usize..150,
            dropped in proptest::collection::vec(any::<bool>(), 1..60),
        ) {
            let p = params(algorithm);
            let mut e = Estimator::new(initial);
            for dropped in dropped {
                let before = e.estimate;
                let s = Sample { rtt: 1.0e7, calls: 50, in_flight: 400, dropped };
                e.update(&p, s);
                if dropped && algorithm == Algorithm::Vegas {
                    prop_assert!(e.estimate <= before);
                } else if !dropped {
                    prop_assert!(e.estimate >= before, "{} < {before}", e.estimate);
                }
            }
        }
    }

    #[test]
    fn gradient2_shrinks_by_at_most_half_a_window_when_latency_jumps() {
        let p = params(Algorithm::Gradient2);
        let mut e = Estimator::new(100);
        let steady = Sample {
            rtt: 1.0e7,
            calls: 50,
            in_flight: 100,
            dropped: false,
        };
        e.update(&p, steady);
        let slow = Sample {
            rtt: 1.0e8,
            ..steady
        };
        let before = e.estimate;
        e.update(&p, slow);
        // gradient clamps at 0.5: limit × (0.8 + 0.2 × 0.5) + 0.2 × 4.
        assert!(
            (e.estimate - (before * 0.9 + 0.8)).abs() < 1e-9,
            "{}",
            e.estimate
        );
    }
}
