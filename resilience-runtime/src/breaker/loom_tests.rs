//! loom models of the breaker's state machine under concurrent callers.
//!
//! ```text
//! LOOM_MAX_PREEMPTIONS=3 RUSTFLAGS="--cfg resilience_loom" \
//!     cargo test -p resilience-runtime --release --lib loom
//! ```

use std::time::Duration;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use super::engine::{Admission, Engine, Ticket, Verdict};
use super::{BreakerPolicy, State};

const OPEN_FOR: Duration = Duration::from_millis(10);
/// A time at which `OPEN_FOR` has long passed since `T0`.
const T0: u64 = 1_000_000;
const LATER: u64 = 2_000_000;

fn engine(policy: BreakerPolicy) -> Arc<Engine> {
    Arc::new(Engine::new("loom".into(), policy.open_for(OPEN_FOR)))
}

fn admitted(a: Admission) -> Option<Ticket> {
    match a {
        Admission::Admitted(ticket) => Some(ticket),
        Admission::Rejected { .. } => None,
    }
}

/// Opens `e` at `T0` with single failures.
fn trip(e: &Engine) {
    while e.state() != State::Open {
        let ticket = admitted(e.acquire(|| T0)).expect("closed admits");
        e.finish(ticket, Verdict::Failure, false, || T0);
    }
}

#[test]
fn loom_concurrent_failures_reach_the_threshold_once() {
    loom::model(|| {
        let e = engine(BreakerPolicy::new().failure_threshold(2));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let e = e.clone();
                thread::spawn(move || {
                    let ticket = admitted(e.acquire(|| T0)).expect("closed admits");
                    e.finish(ticket, Verdict::Failure, false, || T0);
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(e.state(), State::Open);
        assert!(admitted(e.acquire(|| T0)).is_none(), "open rejects");
    });
}

#[test]
fn loom_a_failure_racing_a_call_leaves_it_open() {
    loom::model(|| {
        let e = engine(BreakerPolicy::new().failure_threshold(1));
        let failing = {
            let e = e.clone();
            thread::spawn(move || {
                let ticket = admitted(e.acquire(|| T0)).expect("closed admits");
                e.finish(ticket, Verdict::Failure, false, || T0);
            })
        };
        // Admitted before the trip, or rejected after it; its success is
        // stale once the circuit opened and must not close it.
        if let Some(ticket) = admitted(e.acquire(|| T0)) {
            e.finish(ticket, Verdict::Success, false, || T0);
        }
        failing.join().unwrap();
        assert_eq!(e.state(), State::Open);
    });
}

#[test]
fn loom_half_open_never_admits_more_trials_than_permits() {
    loom::model(|| {
        let e = engine(
            BreakerPolicy::new()
                .failure_threshold(1)
                .half_open_max_calls(1),
        );
        trip(&e);
        let running = Arc::new(AtomicUsize::new(0));
        let trials = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|i| {
                let (e, running, trials) = (e.clone(), running.clone(), trials.clone());
                thread::spawn(move || {
                    if let Some(ticket) = admitted(e.acquire(|| LATER)) {
                        if ticket == (Ticket::Closed { generation: 0 }) {
                            panic!("admitted as closed in a stale generation");
                        }
                        if !matches!(ticket, Ticket::Trial { .. }) {
                            // The other trial already closed the circuit.
                            e.finish(ticket, Verdict::Success, false, || LATER);
                            return;
                        }
                        trials.fetch_add(1, Ordering::SeqCst);
                        assert_eq!(
                            running.fetch_add(1, Ordering::SeqCst),
                            0,
                            "two trials at once"
                        );
                        running.fetch_sub(1, Ordering::SeqCst);
                        // One trial is cancelled (gives its permit back),
                        // the other succeeds.
                        let verdict = if i == 0 {
                            Verdict::Ignored
                        } else {
                            Verdict::Success
                        };
                        e.finish(ticket, verdict, false, || LATER);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let trials = trials.load(Ordering::SeqCst);
        assert!((1..=2).contains(&trials));
        let reading = e.read(|| LATER);
        assert_eq!(reading.trials_in_flight, 0, "a permit leaked");
        match e.state() {
            // The successful trial ran and closed it.
            State::Closed => {}
            // Only the cancelled trial ran: still half-open, permit free.
            State::HalfOpen => assert!(admitted(e.acquire(|| LATER)).is_some()),
            other => panic!("unexpected {other:?}"),
        }
    });
}

#[test]
fn loom_one_failed_trial_reopens_despite_a_concurrent_success() {
    loom::model(|| {
        let e = engine(
            BreakerPolicy::new()
                .failure_threshold(1)
                .half_open_max_calls(2)
                .success_threshold(2),
        );
        trip(&e);
        let a = admitted(e.acquire(|| LATER)).expect("first trial");
        let b = admitted(e.acquire(|| LATER)).expect("second trial");
        let succeeding = {
            let e = e.clone();
            thread::spawn(move || e.finish(a, Verdict::Success, false, || LATER))
        };
        e.finish(b, Verdict::Failure, false, || LATER);
        succeeding.join().unwrap();
        assert_eq!(e.state(), State::Open);
        assert_eq!(e.read(|| LATER).trials_in_flight, 0);
    });
}

#[test]
fn loom_reset_races_a_trip() {
    loom::model(|| {
        let e = engine(BreakerPolicy::new().failure_threshold(1));
        let ticket = admitted(e.acquire(|| T0)).expect("closed admits");
        let resetting = {
            let e = e.clone();
            thread::spawn(move || e.set(State::Closed))
        };
        e.finish(ticket, Verdict::Failure, false, || T0);
        resetting.join().unwrap();
        // Either the failure landed first and the reset closed it, or the
        // reset came first and made the failure stale: closed both ways.
        assert_eq!(e.state(), State::Closed);
        assert!(admitted(e.acquire(|| T0)).is_some());
    });
}

#[test]
fn loom_rate_mode_counts_every_concurrent_failure() {
    loom::model(|| {
        let e = engine(
            BreakerPolicy::new()
                .failure_rate(1.0, super::WindowSize::Calls(2))
                .min_calls(2),
        );
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let e = e.clone();
                thread::spawn(move || {
                    let ticket = admitted(e.acquire(|| T0)).expect("closed admits");
                    e.finish(ticket, Verdict::Failure, false, || T0);
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        // Whichever finished second saw both failures in the window.
        assert_eq!(e.state(), State::Open);
    });
}

#[test]
fn loom_a_fast_success_and_a_failure_both_land_in_the_window() {
    // The success goes through the closed-state fast path (ring slot taken
    // with one add, then a load), racing a failure recorded the long way.
    // Whichever lands second sees one failure in two calls and opens.
    loom::model(|| {
        let e = engine(
            BreakerPolicy::new()
                .failure_rate(0.5, super::WindowSize::Calls(2))
                .min_calls(2),
        );
        let failing = {
            let e = e.clone();
            thread::spawn(move || {
                let ticket = admitted(e.acquire(|| T0)).expect("closed admits");
                e.finish(ticket, Verdict::Failure, false, || T0);
            })
        };
        let ticket = admitted(e.acquire(|| T0)).expect("closed admits");
        e.succeed(ticket, || T0);
        failing.join().unwrap();
        assert_eq!(e.state(), State::Open, "a record was lost");
    });
}

#[test]
fn loom_three_callers_share_two_trial_permits_and_give_them_back() {
    loom::model(|| {
        let e = engine(
            BreakerPolicy::new()
                .failure_threshold(1)
                .half_open_max_calls(2),
        );
        trip(&e);
        let running = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (e, running) = (e.clone(), running.clone());
                thread::spawn(move || {
                    if let Some(ticket) = admitted(e.acquire(|| LATER)) {
                        assert!(matches!(ticket, Ticket::Trial { .. }));
                        assert!(
                            running.fetch_add(1, Ordering::SeqCst) < 2,
                            "three trials at once"
                        );
                        running.fetch_sub(1, Ordering::SeqCst);
                        // Cancelled: no verdict, the permit goes back.
                        e.finish(ticket, Verdict::Ignored, false, || LATER);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(e.state(), State::HalfOpen);
        assert_eq!(e.read(|| LATER).trials_in_flight, 0, "a permit leaked");
    });
}

#[test]
fn loom_a_late_call_never_brings_an_old_period_back_into_a_time_window() {
    // Ten buckets of 1 µs. One caller's failure ended at T0 but is recorded
    // late, when the clock has reached T0 + 10 (its bucket's next lap); the
    // other records a success at T0 + 10 in that same bucket. However the
    // two interleave, the window at T0 + 10 holds the success only.
    const LATE: u64 = T0 + 10;
    loom::model(|| {
        let e = engine(
            BreakerPolicy::new()
                .failure_rate(1.0, super::WindowSize::Time(Duration::from_micros(10)))
                .min_calls(5),
        );
        let late = {
            let e = e.clone();
            thread::spawn(move || {
                let ticket = admitted(e.acquire(|| T0)).expect("closed admits");
                let clock = std::cell::Cell::new(T0);
                e.finish(ticket, Verdict::Failure, false, || clock.replace(LATE));
            })
        };
        let ticket = admitted(e.acquire(|| LATE)).expect("closed admits");
        e.finish(ticket, Verdict::Success, false, || LATE);
        late.join().unwrap();
        let w = e.read(|| LATE).window;
        assert_eq!((w.calls, w.failures), (1, 0), "{w:?}");
    });
}

#[test]
fn loom_an_open_breaker_always_learns_when_it_opened() {
    // The time of an Open state is written after the CAS that opened it; a
    // caller between the two must not leave the breaker waiting for a time
    // that never comes: once `open_for` has passed on every reading, a
    // trial is admitted.
    loom::model(|| {
        let e = engine(BreakerPolicy::new().failure_threshold(1));
        let failing = {
            let e = e.clone();
            thread::spawn(move || {
                let ticket = admitted(e.acquire(|| T0)).expect("closed admits");
                e.finish(ticket, Verdict::Failure, false, || T0);
            })
        };
        if let Some(ticket) = admitted(e.acquire(|| LATER)) {
            e.finish(ticket, Verdict::Ignored, false, || LATER);
        }
        failing.join().unwrap();
        let after = LATER + OPEN_FOR.as_micros() as u64;
        assert!(admitted(e.acquire(|| after)).is_some(), "stuck open");
    });
}
