//! What mutation testing (issue 22) found no test pinning down in the
//! breaker's engine (among the runtime's unit tests): the transitions a
//! subscriber is told about, a snapshot's counters, the disabled and
//! forced-open states, slow calls, the rate rule's exact boundaries, stale
//! verdicts, and the half-open state's waits.

use std::time::Duration;

use super::engine::{Admission, Engine, Ticket, Verdict};
use super::{BreakerPolicy, CircuitBreaker, State};
use crate::events::{self, Event, Subscription};

const OPEN_FOR: Duration = Duration::from_secs(10);
const T0: u64 = 1_000_000_000;

fn transitions(sub: &mut Subscription, name: &str) -> Vec<(State, State)> {
    sub.drain()
        .into_iter()
        .filter_map(|event| match event {
            Event::StateTransition { name: n, from, to } if n == name => Some((from, to)),
            _ => None,
        })
        .collect()
}

fn admitted(a: Admission) -> Ticket {
    match a {
        Admission::Admitted(ticket) => ticket,
        Admission::Rejected { retry_after } => panic!("rejected for {retry_after:?}"),
    }
}

/// Outside a tokio runtime no timer reports HalfOpen when `open_for` ends:
/// the call that starts the half-open state reports it, once; admitting a
/// second trial or giving one back is no transition.
#[test]
fn without_a_timer_each_transition_is_reported_once_by_the_call_that_makes_it() {
    let name = "mutants-untimed";
    let mut sub = events::subscribe();
    let e = Engine::new(
        name.into(),
        BreakerPolicy::new()
            .failure_threshold(1)
            .open_for(OPEN_FOR)
            .half_open_max_calls(2)
            .success_threshold(2),
    );
    let ticket = admitted(e.acquire(|| T0));
    e.finish(ticket, Verdict::Failure, false, || T0);
    assert_eq!(transitions(&mut sub, name), [(State::Closed, State::Open)]);

    assert_eq!(
        e.acquire(|| T0 + 4_000_000),
        Admission::Rejected {
            retry_after: Duration::from_secs(6)
        },
        "the rest of `open_for`"
    );
    let later = T0 + OPEN_FOR.as_micros() as u64;
    assert_eq!(
        e.acquire(|| later - 1),
        Admission::Rejected {
            retry_after: Duration::from_micros(1)
        },
        "open until `open_for` has passed"
    );
    let first = admitted(e.acquire(|| later));
    assert!(matches!(first, Ticket::Trial { .. }));
    assert_eq!(
        transitions(&mut sub, name),
        [(State::Open, State::HalfOpen)]
    );
    let second = admitted(e.acquire(|| later));
    e.finish(second, Verdict::Ignored, false, || later);
    e.finish(first, Verdict::Success, false, || later);
    assert_eq!(
        transitions(&mut sub, name),
        [],
        "a second trial, a trial given back and one success move nothing"
    );
    let third = admitted(e.acquire(|| later));
    e.finish(third, Verdict::Success, false, || later);
    assert_eq!(
        transitions(&mut sub, name),
        [(State::HalfOpen, State::Closed)]
    );
    assert_eq!(e.state(), State::Closed);
}

/// Once the timer has reported HalfOpen, a reset before any call closes a
/// circuit the subscriber knows as half-open.
#[tokio::test(start_paused = true)]
async fn a_reset_after_the_timer_reported_half_open_is_reported_from_half_open() {
    let name = "mutants-reset-after-timer";
    let mut sub = events::subscribe();
    let b = CircuitBreaker::new(
        name,
        BreakerPolicy::new().failure_threshold(1).open_for(OPEN_FOR),
    );
    b.try_acquire().unwrap().failure();
    tokio::time::advance(OPEN_FOR).await;
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        transitions(&mut sub, name),
        [(State::Closed, State::Open), (State::Open, State::HalfOpen)]
    );
    b.reset();
    assert_eq!(
        transitions(&mut sub, name),
        [(State::HalfOpen, State::Closed)]
    );
}

/// `consecutive_failures` counts the failures in a row of a closed
/// consecutive-mode breaker, and nothing else: a success starts it over,
/// and the half-open state's trials are not failures.
#[tokio::test(start_paused = true)]
async fn a_snapshot_counts_the_failures_in_a_row_only_while_closed() {
    let b = CircuitBreaker::new(
        "mutants-consecutive",
        BreakerPolicy::new()
            .failure_threshold(3)
            .open_for(OPEN_FOR)
            .half_open_max_calls(2),
    );
    let closed = b.try_acquire().unwrap();
    assert!(!closed.is_trial(), "a closed circuit's permit is no trial");
    closed.failure();
    b.try_acquire().unwrap().failure();
    assert_eq!(b.snapshot().consecutive_failures, 2);
    b.try_acquire().unwrap().success();
    assert_eq!(b.snapshot().consecutive_failures, 0);
    for _ in 0..3 {
        b.try_acquire().unwrap().failure();
    }
    assert_eq!(b.state(), State::Open);
    tokio::time::advance(OPEN_FOR).await;
    let trials = [b.try_acquire().unwrap(), b.try_acquire().unwrap()];
    assert!(trials.iter().all(|trial| trial.is_trial()));
    assert!(
        b.try_acquire().is_err(),
        "no more trials than half_open_max_calls"
    );
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.trials_in_flight, s.consecutive_failures),
        (State::HalfOpen, 2, 0)
    );
    drop(trials);
}

fn retry_after(b: &CircuitBreaker) -> Duration {
    match b.try_acquire() {
        Err(crate::Rejection::CircuitOpen { retry_after, .. }) => retry_after,
        Err(other) => panic!("expected an open circuit, got {other}"),
        Ok(permit) => panic!("admitted {permit:?}"),
    }
}

/// A disabled breaker lets every call through as a plain call (never a
/// trial, so never limited to `half_open_max_calls`) and records nothing;
/// a forced-open one rejects every call for `open_for` at a time.
#[tokio::test(start_paused = true)]
async fn disabled_admits_every_call_untracked_and_forced_open_admits_none() {
    let b = CircuitBreaker::new(
        "mutants-manual",
        BreakerPolicy::new()
            .failure_threshold(1)
            .open_for(OPEN_FOR)
            .half_open_max_calls(1),
    );
    b.disable();
    let held: Vec<_> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
    assert!(held.iter().all(|permit| !permit.is_trial()));
    held.into_iter().for_each(|permit| permit.failure());
    for _ in 0..3 {
        b.try_acquire().unwrap().failure();
    }
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.consecutive_failures, s.rejections),
        (State::Disabled, 0, 0)
    );

    b.force_open();
    assert_eq!(b.state(), State::ForcedOpen);
    assert_eq!(retry_after(&b), OPEN_FOR);
    tokio::time::advance(OPEN_FOR * 2).await;
    assert_eq!(retry_after(&b), OPEN_FOR, "open until reset, however long");
    b.reset();
    assert!(!b.try_acquire().unwrap().is_trial());
}

/// In consecutive mode a success slower than `slow_call` is a failure,
/// even on the closed state's fast path.
#[tokio::test(start_paused = true)]
async fn a_slow_success_counts_as_a_failure_in_a_row() {
    let b = CircuitBreaker::new(
        "mutants-slow-consecutive",
        BreakerPolicy::new()
            .failure_threshold(1)
            .slow_call(Duration::from_secs(1))
            .open_for(OPEN_FOR),
    );
    let quick = b.try_acquire().unwrap();
    tokio::time::advance(Duration::from_millis(999)).await;
    quick.success();
    assert_eq!(b.state(), State::Closed);
    let slow = b.try_acquire().unwrap();
    tokio::time::advance(Duration::from_secs(1)).await;
    slow.success();
    assert_eq!(b.state(), State::Open);
}

/// In a count window a success that takes the slot of an old failure
/// replaces it: the failure no longer counts.
#[test]
fn a_success_replaces_the_failure_whose_slot_it_takes() {
    let b = CircuitBreaker::new(
        "mutants-ring",
        BreakerPolicy::new()
            .failure_rate(1.0, super::WindowSize::Calls(2))
            .min_calls(2)
            .open_for(OPEN_FOR),
    );
    b.try_acquire().unwrap().failure();
    b.try_acquire().unwrap().success();
    // The ring wraps: this success takes the failure's slot.
    b.try_acquire().unwrap().success();
    assert_eq!(b.snapshot().failures_in_window, 0);
    b.try_acquire().unwrap().failure();
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.calls_in_window, s.failures_in_window),
        (State::Closed, 2, 1)
    );
    b.reset();
    let s = b.snapshot();
    assert_eq!(
        (s.calls_in_window, s.failures_in_window),
        (0, 0),
        "a reset forgets the window"
    );
}

/// The rate rule trips at exactly its rate (3 of 10 calls is 30 %, for all
/// the float arithmetic), and not below it; a slow-call rule with no slow
/// call adds nothing.
#[test]
fn a_failure_rate_trips_at_exactly_its_rate() {
    let b = CircuitBreaker::new(
        "mutants-rate",
        BreakerPolicy::new()
            .failure_rate(0.3, super::WindowSize::Calls(10))
            .min_calls(10)
            .slow_call(Duration::from_secs(60))
            .open_for(OPEN_FOR),
    );
    for _ in 0..9 {
        b.try_acquire().unwrap().success();
    }
    b.try_acquire().unwrap().failure();
    b.try_acquire().unwrap().failure();
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.calls_in_window, s.failures_in_window),
        (State::Closed, 10, 2)
    );
    b.try_acquire().unwrap().failure();
    assert_eq!(b.state(), State::Open, "3 of the last 10 calls failed");
}

/// Below `min_calls` no rate trips; the call that reaches it can.
#[test]
fn a_failure_rate_waits_for_min_calls() {
    let b = CircuitBreaker::new(
        "mutants-min-calls",
        BreakerPolicy::new()
            .failure_rate(0.5, super::WindowSize::Calls(4))
            .min_calls(4)
            .open_for(OPEN_FOR),
    );
    for _ in 0..3 {
        b.try_acquire().unwrap().failure();
    }
    assert_eq!(b.state(), State::Closed, "3 calls, below min_calls");
    b.try_acquire().unwrap().success();
    assert_eq!(b.state(), State::Open, "3 of 4 at min_calls");
}

/// A half-open circuit whose trial never reports waits `half_open_max_wait`
/// for it, telling callers how much of it is left, then opens again.
#[tokio::test(start_paused = true)]
async fn a_trial_that_never_reports_reopens_the_circuit_after_the_max_wait() {
    let b = CircuitBreaker::new(
        "mutants-max-wait",
        BreakerPolicy::new()
            .failure_threshold(1)
            .open_for(OPEN_FOR)
            .half_open_max_wait(Duration::from_secs(5)),
    );
    b.try_acquire().unwrap().failure();
    tokio::time::advance(OPEN_FOR).await;
    let stuck = b.try_acquire().unwrap();
    assert!(stuck.is_trial());
    tokio::time::advance(Duration::from_secs(4)).await;
    assert_eq!(retry_after(&b), Duration::from_secs(1));
    assert_eq!(b.state(), State::HalfOpen);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(retry_after(&b), OPEN_FOR, "opened again");
    assert_eq!(b.state(), State::Open);
    // The next half-open state's trial is in flight when the abandoned one
    // reports: too late to count.
    tokio::time::advance(OPEN_FOR).await;
    let fresh = b.try_acquire().unwrap();
    stuck.failure();
    assert_eq!(b.state(), State::HalfOpen, "a stale trial's failure");
    fresh.success();
    assert_eq!(b.state(), State::Closed);
}

/// A call admitted before a reset reports into a closed period that is
/// not its own: its failure does not count.
#[test]
fn a_failure_from_before_a_reset_does_not_count() {
    let b = CircuitBreaker::new(
        "mutants-stale-closed",
        BreakerPolicy::new().failure_threshold(2).open_for(OPEN_FOR),
    );
    let before = b.try_acquire().unwrap();
    b.try_acquire().unwrap().failure();
    b.reset();
    before.failure();
    assert_eq!(b.snapshot().consecutive_failures, 0);
    b.try_acquire().unwrap().failure();
    assert_eq!(b.state(), State::Closed);
}

/// A successful trial is progress: `half_open_max_wait` counts from the
/// last one (not from the start of the half-open state), and a trial given
/// back is no progress.
#[tokio::test(start_paused = true)]
async fn the_max_wait_counts_from_the_last_successful_trial() {
    let b = CircuitBreaker::new(
        "mutants-progress",
        BreakerPolicy::new()
            .failure_threshold(1)
            .open_for(OPEN_FOR)
            .success_threshold(2)
            .half_open_max_wait(Duration::from_secs(5)),
    );
    b.try_acquire().unwrap().failure();
    tokio::time::advance(OPEN_FOR).await;
    let first = b.try_acquire().unwrap();
    tokio::time::advance(Duration::from_secs(3)).await;
    first.success();
    let given_back = b.try_acquire().unwrap();
    tokio::time::advance(Duration::from_secs(2)).await;
    given_back.ignore();
    let stuck = b.try_acquire().unwrap();
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(
        retry_after(&b),
        Duration::from_secs(1),
        "4 s since the success"
    );
    assert_eq!(b.state(), State::HalfOpen);
    drop(stuck);
}

/// A failed trial opens the circuit again for a whole `open_for` from the
/// failure.
#[test]
fn a_failed_trial_opens_the_circuit_for_open_for_from_its_failure() {
    let e = Engine::new(
        "mutants-failed-trial".into(),
        BreakerPolicy::new().failure_threshold(1).open_for(OPEN_FOR),
    );
    let ticket = admitted(e.acquire(|| T0));
    e.finish(ticket, Verdict::Failure, false, || T0);
    let later = T0 + OPEN_FOR.as_micros() as u64;
    let trial = admitted(e.acquire(|| later));
    e.finish(trial, Verdict::Failure, false, || later);
    assert_eq!(e.state(), State::Open);
    assert_eq!(
        e.acquire(|| later + 4_000_000),
        Admission::Rejected {
            retry_after: Duration::from_secs(6)
        }
    );
}

/// In half-open a slow success is a failed trial: the circuit opens again.
#[tokio::test(start_paused = true)]
async fn a_slow_trial_opens_the_circuit_again() {
    let b = CircuitBreaker::new(
        "mutants-slow-trial",
        BreakerPolicy::new()
            .failure_threshold(1)
            .slow_call(Duration::from_secs(1))
            .open_for(OPEN_FOR),
    );
    b.try_acquire().unwrap().failure();
    tokio::time::advance(OPEN_FOR).await;
    let trial = b.try_acquire().unwrap();
    tokio::time::advance(Duration::from_secs(2)).await;
    trial.success();
    assert_eq!(b.state(), State::Open);
}

/// What logs, metrics and dashboards show of a breaker: its name, policy,
/// states in words, and its failure rate (none before any call).
#[test]
fn a_breaker_describes_itself() {
    let b = CircuitBreaker::new(
        "mutants-described",
        BreakerPolicy::new()
            .failure_rate(0.5, super::WindowSize::Calls(10))
            .min_calls(10),
    );
    assert_eq!(b.name(), "mutants-described");
    assert_eq!(b.policy().get_min_calls(), Some(10));
    assert_eq!(b.snapshot().failure_rate, None, "no call yet");
    b.try_acquire().unwrap().failure();
    for _ in 0..4 {
        b.try_acquire().unwrap().success();
    }
    assert_eq!(b.snapshot().failure_rate, Some(0.2));
    assert_eq!(
        (State::HalfOpen.to_string(), State::ForcedOpen.label()),
        ("half-open".to_owned(), "forced_open")
    );
}

/// A permit's `record` counts a transient error and ignores a permanent one.
#[test]
fn a_permit_records_an_outcome_as_the_classifier_says() {
    let b = CircuitBreaker::new("mutants-record", BreakerPolicy::new().failure_threshold(3));
    b.try_acquire().unwrap().record(crate::Outcome::TRANSIENT);
    b.try_acquire().unwrap().record(crate::Outcome::Permanent);
    assert_eq!(b.snapshot().consecutive_failures, 1);
}

/// Every verdict given through a permit is counted as a call: a success as
/// succeeded, a failure or a call that tells nothing as failed.
#[test]
fn a_permits_verdict_is_counted_as_a_call() {
    let b = CircuitBreaker::new("mutants-calls", BreakerPolicy::new().failure_threshold(5));
    b.try_acquire().unwrap().success();
    b.try_acquire().unwrap().failure();
    b.try_acquire().unwrap().ignore();
    let calls = b.snapshot().calls;
    assert_eq!((calls.succeeded, calls.failed), (1, 2));
    assert_eq!(
        b.snapshot().consecutive_failures,
        1,
        "ignored: not a failure"
    );
}

/// A permit dropped without a verdict: a trial gives its place back when
/// the call was cancelled, and a call dropped by a panic is a failure.
#[tokio::test(start_paused = true)]
async fn a_dropped_permit_gives_a_trial_back_and_a_panic_is_a_failure() {
    let b = CircuitBreaker::new(
        "mutants-dropped",
        BreakerPolicy::new().failure_threshold(2).open_for(OPEN_FOR),
    );
    let panicking = b.try_acquire().unwrap();
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _held = panicking;
        panic!("the call blew up");
    }));
    assert!(unwound.is_err());
    assert_eq!(b.snapshot().consecutive_failures, 1);
    b.try_acquire().unwrap().failure();
    tokio::time::advance(OPEN_FOR).await;
    drop(b.try_acquire().unwrap());
    assert_eq!(b.snapshot().trials_in_flight, 0);
    assert!(
        b.try_acquire().unwrap().is_trial(),
        "the place is free again"
    );
}

/// A reload changes the thresholds in place; a policy of another mode is
/// handed back and changes nothing.
#[test]
fn reconfigure_takes_a_new_threshold_and_refuses_another_mode() {
    let b = CircuitBreaker::new("mutants-reload", BreakerPolicy::new().failure_threshold(5));
    let rate = BreakerPolicy::new().failure_rate(0.5, super::WindowSize::Calls(10));
    assert_eq!(b.reconfigure(rate), Err(rate));
    assert_eq!(b.policy().get_failure_threshold(), Some(5));
    b.reconfigure(BreakerPolicy::new().failure_threshold(1))
        .unwrap();
    b.try_acquire().unwrap().failure();
    assert_eq!(b.state(), State::Open);
}

/// An `Ok` the caller judges a failure counts against the service and is
/// still returned; any other `Ok` is a success.
#[tokio::test(start_paused = true)]
async fn an_ok_judged_a_failure_counts_as_one_and_is_returned() {
    let b = CircuitBreaker::new(
        "mutants-failure-on-ok",
        BreakerPolicy::new().failure_threshold(5),
    );
    let empty = |v: &Vec<u32>| v.is_empty();
    let out = b
        .call_with_failure_on_ok(async { Ok::<_, crate::Rejection>(vec![]) }, empty)
        .await;
    assert_eq!(out, Ok(vec![]));
    assert_eq!(b.snapshot().consecutive_failures, 1);
    let out = b
        .call_with_failure_on_ok(async { Ok::<_, crate::Rejection>(vec![1]) }, empty)
        .await;
    assert_eq!(out, Ok(vec![1]));
    assert_eq!(b.snapshot().consecutive_failures, 0);
}
