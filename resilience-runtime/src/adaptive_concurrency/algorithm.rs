//! The limit algorithms: each turns one window's measurement into a new
//! limit. Plain data, no atomics: the limiter runs them under a lock once a
//! window, off the hot path.
//!
//! The rules are ours, written from the definitions in Netflix's
//! concurrency-limits (`AIMDLimit`, `VegasLimit`, `GradientLimit`,
//! `Gradient2Limit`, in
//! `concurrency-limits-core/src/main/java/com/netflix/concurrency/limits/limit/`)
//! and Envoy's adaptive concurrency filter (its periodic minimum-latency
//! measurement at a low limit), with two differences that hold for all
//! three:
//!
//! - They see one sample per window (its mean latency, the most calls in
//!   flight at a completion, and whether any call failed), as Netflix's
//!   `WindowedLimit` feeds them, not one per call.
//! - All three compare latency with one no-load latency, measured by a
//!   [`Probe`]: the limit is halved (and halved again while that lowers
//!   the latency by a tenth or more) until the queue it built has drained,
//!   and the latency seen there is the no-load latency until the next
//!   probe (between probes, any lower window mean replaces it). A baseline
//!   learnt while already queueing (Netflix's Vegas re-probe takes the next
//!   sample as it comes; Gradient2's long-term average follows the
//!   latency up) kept the limit at 1.5–2× the knee from a limit 5× too
//!   high (measured on tests/adaptive_concurrency_overload.rs).

use std::time::Duration;

use resilience_schema::adaptive_concurrency::Algorithm;

/// Gradient2's allowance for queueing, in calls (Netflix: `queueSize = 4`).
pub(crate) const GRADIENT2_QUEUE: f64 = 4.0;
/// Windows between two probes of the no-load latency (10 s at the default
/// window). Netflix's `GradientLimit` probes every 1000–2000 samples (at
/// random), Envoy every 60 s (jittered); counted in windows and without
/// jitter here, so runs repeat. A probe costs about two windows at half
/// the limit.
pub(crate) const PROBE_INTERVAL: u32 = 100;
/// A probe halves the limit again while halving it lowered the latency by
/// at least this share: the queue had not drained yet.
pub(crate) const PROBE_GAIN: f64 = 0.25;
/// A probe also starts early after this many windows in a row slower than
/// `PROBE_STALE ×` the no-load latency: either the dependency got slower
/// (and the rules, comparing with a stale no-load latency, would hold the
/// limit down) or the limit is far too high; the probe tells which.
pub(crate) const PROBE_STALE_WINDOWS: u32 = 10;
/// See `PROBE_STALE_WINDOWS`.
pub(crate) const PROBE_STALE: f64 = 2.0;
/// A probe waits at most this many windows for the calls in flight to come
/// down to its limit (calls that hang must not hold the probe forever).
pub(crate) const PROBE_DRAIN: u32 = 10;

/// One window's measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    /// Mean latency of the calls that ended in the window, in nanoseconds.
    pub(crate) rtt: f64,
    /// Calls that ended in the window.
    pub(crate) calls: u64,
    /// The most calls in flight seen at a completion.
    pub(crate) in_flight: usize,
    /// Whether a call failed (an error that is not `Permanent`).
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

/// A measurement of the no-load latency under way: the limit is lowered
/// to `at`, the calls in flight drain to it (`draining`), and one window
/// at that limit is measured. If that window was at least `PROBE_GAIN`
/// faster than the step before (`above`), the queue was still draining:
/// `at` is halved again. Otherwise the least latency seen is the no-load
/// latency, and the limit goes back to `resume`, or, if halving had
/// lowered the latency, to the lowest limit seen queueing (twice `at`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Probe {
    resume: f64,
    at: f64,
    above: f64,
    least: f64,
    /// Windows spent draining to `at`, or `None` once drained.
    draining: Option<u32>,
    /// Whether halving once lowered the latency by `PROBE_GAIN` or more.
    halved_again: bool,
}

/// An algorithm's state: the limit as a real number, and the latency it
/// measures against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Estimator {
    pub(crate) estimate: f64,
    /// The no-load latency (0: none yet).
    rtt_noload: f64,
    /// Windows since the last probe ended.
    since_probe: u32,
    /// Windows in a row slower than `PROBE_STALE × rtt_noload`.
    stale: u32,
    probe: Option<Probe>,
}

impl Estimator {
    pub(crate) const fn new(initial: usize) -> Self {
        Estimator {
            estimate: initial as f64,
            rtt_noload: 0.0,
            // The first probe comes early: the first windows measured
            // while the queue was still building.
            since_probe: PROBE_INTERVAL - PROBE_STALE_WINDOWS,
            stale: 0,
            probe: None,
        }
    }

    /// The limit now, a whole number of calls.
    pub(crate) fn limit(&self) -> usize {
        self.estimate as usize
    }

    /// Whether a probe has lowered the limit.
    #[cfg(test)]
    pub(crate) fn probing(&self) -> bool {
        self.probe.is_some()
    }

    /// The no-load latency the rules compare with, in nanoseconds (0:
    /// none yet).
    #[cfg(test)]
    pub(crate) fn rtt_noload(&self) -> f64 {
        self.rtt_noload
    }

    /// Folds in one window; returns the new limit.
    pub(crate) fn update(&mut self, p: &Params, s: Sample) -> usize {
        let (min, max) = (p.min as f64, p.max as f64);
        if self.rtt_noload == 0.0 {
            self.rtt_noload = s.rtt;
        }
        if (self.probe.is_some()
            || self.since_probe >= PROBE_INTERVAL
            || self.stale >= PROBE_STALE_WINDOWS)
            && let Some(limit) = self.probe(min, s)
        {
            self.estimate = limit.clamp(min, max);
            return self.limit();
        }
        self.since_probe += 1;
        self.rtt_noload = self.rtt_noload.min(s.rtt);
        let (limit, noload) = (self.estimate, self.rtt_noload);
        let next = match p.algorithm {
            // AIMDLimit: a drop, or a call slower than `timeout` (our
            // `slow_call`), multiplies the limit by `backoffRatio` (at
            // least one less); otherwise, when at least half of it was in
            // use, it grows by one. Ours also backs off when the window is
            // slower than `tolerance ×` the no-load latency, so that it
            // follows a dependency whose latency changes (Netflix's only
            // latency signal is the absolute timeout).
            Algorithm::Aimd => {
                let whole = limit.floor();
                if s.dropped
                    || s.rtt > p.slow_call.as_nanos() as f64
                    || s.rtt > p.tolerance * noload
                {
                    (whole * p.backoff_ratio).floor().min(whole - 1.0)
                } else if s.in_flight as f64 * 2.0 >= whole {
                    whole + 1.0
                } else {
                    whole
                }
            }
            // VegasLimit: the queue is `ceil(limit × (1 − rtt_noload /
            // rtt))`. With `t = log10(limit)`: a drop gives `limit − t`;
            // less than half in use, no change; queue ≤ t: `limit + 6t`
            // (beta); queue < 3t (alpha): `limit + t`; queue > 6t:
            // `limit − t`; else no change. Smoothing 1 (Netflix's default):
            // the new value replaces the old.
            Algorithm::Vegas => {
                let queue = (limit * (1.0 - noload / s.rtt)).ceil();
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
            // Gradient2Limit's update, against the probed no-load latency
            // as `GradientLimit` measures it (Gradient2's long-term average
            // in its place learns queueing as normal). Less than half in
            // use: no change. Otherwise
            // `gradient = clamp(tolerance × rtt_noload / rtt, 0.5, 1)`,
            // `new = limit × gradient + queueSize`, and the limit moves
            // `smoothing` of the way to it.
            Algorithm::Gradient2 => {
                if (s.in_flight as f64) < limit / 2.0 {
                    limit
                } else {
                    let gradient = (p.tolerance * noload / s.rtt).clamp(0.5, 1.0);
                    let new = limit * gradient + GRADIENT2_QUEUE;
                    limit * (1.0 - p.smoothing) + new * p.smoothing
                }
            }
        };
        self.estimate = next.clamp(min, max);
        if s.rtt > PROBE_STALE * self.rtt_noload {
            self.stale += 1;
        } else {
            self.stale = 0;
        }
        self.limit()
    }

    /// Starts or moves the probe on; `Some(limit)` while it holds the
    /// limit, `None` when the rules take over again with `rtt_noload`
    /// measured.
    fn probe(&mut self, min: f64, s: Sample) -> Option<f64> {
        let Some(probe) = &mut self.probe else {
            let at = (self.estimate / 2.0).floor().max(min);
            if at >= self.estimate {
                // At `min` already: nothing lower to measure at.
                self.rtt_noload = s.rtt;
                self.since_probe = 0;
                self.stale = 0;
                return None;
            }
            self.probe = Some(Probe {
                resume: self.estimate,
                at,
                above: s.rtt,
                least: s.rtt,
                draining: Some(0),
                halved_again: false,
            });
            return Some(at);
        };
        if let Some(windows) = probe.draining {
            if s.in_flight as f64 > probe.at && windows + 1 < PROBE_DRAIN {
                probe.draining = Some(windows + 1);
            } else {
                probe.draining = None;
            }
            return Some(probe.at);
        }
        probe.least = probe.least.min(s.rtt);
        if s.rtt <= probe.above * (1.0 - PROBE_GAIN) && probe.at > min {
            probe.above = s.rtt;
            probe.at = (probe.at / 2.0).floor().max(min);
            probe.draining = Some(0);
            probe.halved_again = true;
            return Some(probe.at);
        }
        // Halved again: the step above `at` was still queueing, and any
        // limit above the one before that (2 × `at`) was too.
        let resume = if probe.halved_again {
            probe.resume.min(probe.at * 2.0)
        } else {
            probe.resume
        };
        self.rtt_noload = probe.least;
        self.since_probe = 0;
        self.stale = 0;
        self.probe = None;
        Some(resume)
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

    /// A window at `rtt` with the whole limit in use.
    fn busy(e: &Estimator, rtt: f64) -> Sample {
        Sample {
            rtt,
            calls: 50,
            in_flight: e.limit(),
            dropped: false,
        }
    }

    /// AIMD, the ten-line reference: the rule as Netflix's `AIMDLimit`
    /// states it, on whole numbers, plus ours: slower than `tolerance ×`
    /// the least latency seen is a drop.
    fn aimd_model(limit: u64, least: f64, s: &Sample, p: &Params) -> u64 {
        let slow = s.rtt > p.slow_call.as_nanos() as f64 || s.rtt > p.tolerance * least;
        let next = if s.dropped || slow {
            ((limit as f64 * p.backoff_ratio) as u64).min(limit - 1)
        } else if s.in_flight as u64 * 2 >= limit {
            limit + 1
        } else {
            limit
        };
        next.clamp(p.min as u64, p.max as u64)
    }

    /// AIMD backs off for a window slower than `slow_call` or than
    /// `tolerance ×` the no-load latency, not for one exactly at either.
    #[test]
    fn aimd_backs_off_past_slow_call_or_tolerance_not_at_them() {
        let mut p = params(Algorithm::Aimd);
        p.slow_call = Duration::from_millis(10);
        p.tolerance = 100.0;
        let mut e = Estimator::new(10);
        assert_eq!(e.update(&p, busy(&e, 1.0e7)), 11, "at slow_call: grows");
        assert_eq!(e.update(&p, busy(&e, 1.0e7 + 1.0)), 9, "past it: backs off");

        let p = params(Algorithm::Aimd);
        let mut e = Estimator::new(10);
        assert_eq!(e.update(&p, busy(&e, 1.0e7)), 11, "the no-load latency");
        assert_eq!(e.update(&p, busy(&e, 1.5e7)), 12, "at 1.5 × it: grows");
        assert_eq!(
            e.update(&p, busy(&e, 1.5e7 + 1.0)),
            10,
            "past it: backs off"
        );
    }

    /// A probe starts after PROBE_STALE_WINDOWS windows slower than twice
    /// the no-load latency; windows at exactly twice it are not stale.
    #[test]
    fn only_windows_slower_than_twice_the_no_load_latency_are_stale() {
        let p = params(Algorithm::Vegas);
        for (rtt, probes) in [(2.0e7, false), (2.0e7 + 1.0, true)] {
            let mut e = Estimator::new(100);
            e.rtt_noload = 1.0e7;
            e.since_probe = 0; // past the first, early probe
            for _ in 0..=PROBE_STALE_WINDOWS {
                e.update(&p, busy(&e, rtt));
            }
            assert_eq!(e.probing(), probes, "windows at {rtt} ns");
        }
    }

    /// A probe waits for the calls in flight to drain to its limit for at
    /// most PROBE_DRAIN windows, then measures.
    #[test]
    fn a_probe_waits_at_most_probe_drain_windows_for_the_calls_to_drain() {
        let p = params(Algorithm::Vegas);
        let mut e = Estimator::new(100);
        e.rtt_noload = 1.0e7;
        e.since_probe = PROBE_INTERVAL;
        let crowded = |e: &Estimator| Sample {
            in_flight: 100,
            ..busy(e, 1.0e7)
        };
        assert_eq!(e.update(&p, crowded(&e)), 50, "the probe holds half");
        let draining = |e: &Estimator| e.probe.as_ref().map(|probe| probe.draining.is_some());
        for window in 1..PROBE_DRAIN {
            e.update(&p, crowded(&e));
            assert_eq!(draining(&e), Some(true), "window {window}");
        }
        e.update(&p, crowded(&e));
        assert_eq!(draining(&e), Some(false), "measuring after {PROBE_DRAIN}");
    }

    /// A probe already at `min` does not halve again, however much
    /// faster the calls got: it resumes with what it measured.
    #[test]
    fn a_probe_at_min_resumes_instead_of_halving() {
        let p = params(Algorithm::Vegas);
        let mut e = Estimator::new(4);
        e.rtt_noload = 1.0e7;
        e.since_probe = PROBE_INTERVAL;
        assert_eq!(e.update(&p, busy(&e, 4.0e7)), 2, "probes at min");
        let settled = |e: &Estimator, rtt| Sample {
            in_flight: 2,
            ..busy(e, rtt)
        };
        e.update(&p, settled(&e, 4.0e7)); // drained
        assert_eq!(e.update(&p, settled(&e, 1.0e7)), 4, "resumes");
        assert!(!e.probing());
    }

    /// A probe whose halving made the calls a quarter faster or more
    /// halves again; done, it resumes at no more than twice where it
    /// ended (the step above was still queueing).
    #[test]
    fn a_probe_that_halves_again_resumes_at_twice_where_it_ended() {
        let p = params(Algorithm::Vegas);
        let mut e = Estimator::new(100);
        e.rtt_noload = 1.0e7;
        e.since_probe = PROBE_INTERVAL;
        let at = |e: &Estimator, in_flight, rtt| Sample {
            in_flight,
            ..busy(e, rtt)
        };
        assert_eq!(e.update(&p, busy(&e, 4.0e7)), 50, "probes at half");
        e.update(&p, at(&e, 50, 4.0e7)); // drained
        assert_eq!(e.update(&p, at(&e, 50, 2.0e7)), 25, "halves again");
        e.update(&p, at(&e, 25, 2.0e7)); // drained
        assert_eq!(e.update(&p, at(&e, 25, 1.9e7)), 50, "resumes at 2 × 25");
        assert!(!e.probing());
    }

    /// Vegas at a limit of 100 (`t = log10(100) = 2`, alpha `3t` = 6,
    /// beta `6t` = 12): a queue of 5 is under alpha, so the limit grows by
    /// `t`; a queue of 10 is between alpha and beta, so it stays.
    #[test]
    fn vegas_moves_by_its_thresholds_in_units_of_log10_limit() {
        let p = params(Algorithm::Vegas);
        // `queue = ceil(limit × (1 − rtt_noload / rtt))`.
        let rtt_for_queue = |queue: f64| 1.0e7 / (1.0 - (queue - 0.5) / 100.0);
        let at = |queue: f64| {
            let mut e = Estimator::new(100);
            e.rtt_noload = 1.0e7;
            e.update(&p, busy(&e, rtt_for_queue(queue)))
        };
        assert_eq!(at(5.0), 102, "under alpha: + t");
        assert_eq!(at(6.0), 100, "at alpha: no change");
        assert_eq!(at(10.0), 100, "between alpha and beta: no change");
        assert_eq!(at(12.0), 100, "at beta: no change");
        assert_eq!(at(13.0), 98, "over beta: − t");
        assert_eq!(at(2.0), 112, "at most t: + beta");
        // A drop: − t, whatever the queue.
        let mut e = Estimator::new(100);
        e.rtt_noload = 1.0e7;
        let dropped = Sample {
            dropped: true,
            ..busy(&e, rtt_for_queue(2.0))
        };
        assert_eq!(e.update(&p, dropped), 98);
        // Half the limit in use is in use (under half: no change).
        for (in_flight, limit) in [(50, 112), (49, 100)] {
            let mut e = Estimator::new(100);
            e.rtt_noload = 1.0e7;
            let half = Sample {
                in_flight,
                ..busy(&e, rtt_for_queue(2.0))
            };
            assert_eq!(e.update(&p, half), limit, "{in_flight} of 100 in flight");
        }
    }

    proptest! {
        /// Outside probes, AIMD follows the reference rule.
        #[test]
        fn aimd_follows_the_reference_rule(
            initial in 2usize..200,
            samples in proptest::collection::vec(sample(), 1..80),
        ) {
            let p = params(Algorithm::Aimd);
            let mut e = Estimator::new(initial);
            for s in samples {
                let was_probing = e.probing();
                let least = if e.rtt_noload() == 0.0 { s.rtt } else { e.rtt_noload().min(s.rtt) };
                let model = aimd_model(e.limit() as u64, least, &s, &p);
                let after = e.update(&p, s) as u64;
                // (`since_probe` 1: a probe at `min` measured afresh.)
                if !was_probing && !e.probing() && e.since_probe > 1 {
                    prop_assert_eq!(after, model);
                }
            }
        }

        /// Every algorithm keeps the limit within `min..=max`, and outside
        /// probes a window with less than half the limit in use and no
        /// failure never moves it (the "app-limited" rule all three share;
        /// AIMD's latency signal aside).
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
                let was_probing = e.probing();
                let slow = s.rtt > p.tolerance * e.rtt_noload().min(s.rtt) && e.rtt_noload() > 0.0;
                let idle = !s.dropped && (s.in_flight * 2) < before && !(algorithm == Algorithm::Aimd && slow);
                let after = e.update(&p, s);
                prop_assert!((p.min..=p.max).contains(&after), "{after}");
                if idle && !was_probing && !e.probing() && e.since_probe > 1 {
                    prop_assert_eq!(after, before);
                }
            }
        }

        /// Every algorithm: latency steady at its floor, with the limit in
        /// use, only ever grows the limit outside probes; a failure never
        /// grows it.
        #[test]
        fn steady_latency_grows_and_failures_never_grow(
            algorithm in prop_oneof![Just(Algorithm::Aimd), Just(Algorithm::Vegas), Just(Algorithm::Gradient2)],
            initial in 2usize..150,
            dropped in proptest::collection::vec(any::<bool>(), 1..60),
        ) {
            let p = params(algorithm);
            let mut e = Estimator::new(initial);
            for dropped in dropped {
                let before = e.estimate;
                let was_probing = e.probing();
                let s = Sample { dropped, ..busy(&e, 1.0e7) };
                e.update(&p, s);
                if was_probing || e.probing() {
                    continue;
                }
                if dropped && algorithm != Algorithm::Gradient2 {
                    prop_assert!(e.estimate <= before);
                } else if !dropped {
                    prop_assert!(e.estimate >= before, "{} < {before}", e.estimate);
                }
            }
        }

        /// Whatever the latency was before, a probe on a dependency that
        /// queues past `knee` calls (latency ∝ calls in flight beyond it)
        /// measures the latency below the knee, and resumes at no more than
        /// the limit it started from.
        #[test]
        fn a_probe_measures_the_latency_below_the_knee(
            algorithm in prop_oneof![Just(Algorithm::Aimd), Just(Algorithm::Vegas), Just(Algorithm::Gradient2)],
            knee in 4usize..60,
            initial in 2usize..200,
        ) {
            let p = params(algorithm);
            let service = 4.0e7;
            let rtt = |limit: usize| service * (limit.max(knee) as f64 / knee as f64);
            let mut e = Estimator::new(initial);
            // Windows until the first probe has come and gone.
            let (mut probed, mut from) = (false, initial);
            for _ in 0..(PROBE_INTERVAL as usize) {
                let s = busy(&e, rtt(e.limit()));
                let was = e.probing();
                if !was {
                    from = e.limit();
                }
                e.update(&p, s);
                if was && !e.probing() {
                    probed = true;
                    break;
                }
            }
            if probed {
                prop_assert!((e.rtt_noload() - service).abs() < 1.0, "{} ≠ {service}", e.rtt_noload());
                prop_assert!(e.limit() <= from, "{} > {from}", e.limit());
            } else {
                // Only a limit at `min` is never probed: nothing below.
                prop_assert_eq!(e.limit(), p.min);
            }
        }
    }

    /// A first window, then the first probe on a dependency with no queue:
    /// returns the estimator with the no-load latency `rtt` measured.
    fn measured(p: &Params, initial: usize, rtt: f64) -> Estimator {
        let mut e = Estimator::new(initial);
        while e.since_probe != 0 || e.rtt_noload() == 0.0 || e.probing() {
            let s = busy(&e, rtt);
            e.update(p, s);
        }
        e
    }

    #[test]
    fn gradient2_shrinks_by_at_most_half_a_window_when_latency_jumps() {
        let p = params(Algorithm::Gradient2);
        let mut e = measured(&p, 100, 1.0e7);
        let before = e.estimate;
        let slow = busy(&e, 1.0e8);
        e.update(&p, slow);
        // gradient clamps at 0.5: limit × (0.8 + 0.2 × 0.5) + 0.2 × 4.
        assert!(
            (e.estimate - (before * 0.9 + 0.8)).abs() < 1e-9,
            "{}",
            e.estimate
        );
    }

    #[test]
    fn aimd_backs_off_from_latency_above_tolerance_times_the_no_load_latency() {
        let p = params(Algorithm::Aimd);
        let mut e = measured(&p, 100, 1.0e7);
        let before = e.limit();
        let s = busy(&e, 1.4e7);
        assert_eq!(e.update(&p, s), before + 1, "1.4× is within 1.5×");
        let s = busy(&e, 1.6e7);
        assert_eq!(e.update(&p, s), (before + 1) * 9 / 10, "1.6× is not");
    }

    #[test]
    fn a_slower_dependency_is_probed_after_ten_slow_windows() {
        let p = params(Algorithm::Gradient2);
        let mut e = measured(&p, 100, 1.0e7);
        for _ in 0..PROBE_STALE_WINDOWS {
            assert!(!e.probing());
            let s = busy(&e, 4.0e7);
            e.update(&p, s);
        }
        let s = busy(&e, 4.0e7);
        e.update(&p, s);
        assert!(e.probing(), "the eleventh slow window probes");
        while e.probing() {
            let s = busy(&e, 4.0e7);
            e.update(&p, s);
        }
        assert_eq!(e.rtt_noload(), 4.0e7, "the new no-load latency");
    }
}
