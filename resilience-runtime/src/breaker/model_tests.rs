//! Model-based test: random calls, verdicts, held permits and clock
//! advances drive the lock-free engine and a plain reference model side by
//! side; their admissions, retry hints and states must agree at every step.

use std::cell::Cell;
use std::collections::VecDeque;
use std::time::Duration;

use proptest::prelude::*;

use super::engine::{Admission, Engine, Ticket, Verdict};
use super::{BreakerPolicy, State, WindowSize};

/// The reference: the breaker's rules written as directly as possible,
/// single-threaded, with unbounded counters and generations.
#[derive(Debug, Default)]
struct Model {
    state: Option<State>,
    generation: u64,
    failures: u32,
    window: VecDeque<bool>,
    opened_us: u64,
    in_flight: u32,
    successes: u32,
    since_us: u64,
}

#[derive(Debug, Clone, Copy)]
struct Config {
    threshold: u32,
    rate: Option<(f64, u32, u32)>,
    open_for_us: u64,
    success_threshold: u32,
    max_calls: u32,
    max_wait_us: Option<u64>,
}

impl Model {
    fn state(&self) -> State {
        self.state.unwrap_or(State::Closed)
    }

    fn move_to(&mut self, state: State, now: u64) {
        self.state = Some(state);
        self.generation += 1;
        (self.failures, self.in_flight, self.successes, self.since_us) = (0, 0, 0, now);
        self.opened_us = now;
        if state != State::HalfOpen {
            self.window.clear();
        }
    }

    /// `Ok((is_trial, generation))` or `Err(retry_after_us)`.
    fn acquire(&mut self, c: &Config, now: u64) -> Result<(bool, u64), u64> {
        match self.state() {
            State::Closed => Ok((false, self.generation)),
            State::Open if now - self.opened_us < c.open_for_us => {
                Err(c.open_for_us - (now - self.opened_us))
            }
            State::Open => {
                self.move_to(State::HalfOpen, now);
                self.in_flight = 1;
                Ok((true, self.generation))
            }
            _ if self.in_flight < c.max_calls => {
                self.in_flight += 1;
                Ok((true, self.generation))
            }
            _ => match c.max_wait_us {
                Some(wait) if now - self.since_us >= wait => {
                    self.move_to(State::Open, now);
                    Err(c.open_for_us)
                }
                Some(wait) => Err(wait - (now - self.since_us)),
                None => Err(c.open_for_us),
            },
        }
    }

    fn finish(&mut self, c: &Config, (trial, generation): (bool, u64), verdict: Verdict, now: u64) {
        if generation != self.generation || verdict == Verdict::Ignored && !trial {
            return;
        }
        let failed = verdict == Verdict::Failure;
        match (trial, c.rate) {
            (false, None) => {
                self.failures = if failed { self.failures + 1 } else { 0 };
                if self.failures >= c.threshold {
                    self.move_to(State::Open, now);
                }
            }
            (false, Some((rate, size, min_calls))) => {
                self.window.push_back(failed);
                if self.window.len() > size as usize {
                    self.window.pop_front();
                }
                let fails = self.window.iter().filter(|f| **f).count() as f64;
                let calls = self.window.len() as u32;
                if calls >= min_calls && fails >= rate * f64::from(calls) - 1e-9 {
                    self.move_to(State::Open, now);
                }
            }
            (true, _) => match verdict {
                Verdict::Ignored => self.in_flight -= 1,
                Verdict::Failure => self.move_to(State::Open, now),
                Verdict::Success if self.successes + 1 >= c.success_threshold => {
                    self.move_to(State::Closed, now)
                }
                Verdict::Success => {
                    (self.in_flight, self.successes, self.since_us) =
                        (self.in_flight - 1, self.successes + 1, now)
                }
            },
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Call(Verdict),
    Hold,
    Finish(usize, Verdict),
    Advance(u64),
}

fn verdict() -> impl Strategy<Value = Verdict> {
    prop_oneof![
        3 => Just(Verdict::Success),
        3 => Just(Verdict::Failure),
        1 => Just(Verdict::Ignored),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => verdict().prop_map(Op::Call),
        1 => Just(Op::Hold),
        2 => (any::<usize>(), verdict()).prop_map(|(i, v)| Op::Finish(i, v)),
        2 => (0u64..30).prop_map(|ms| Op::Advance(ms * 1000)),
    ]
}

fn config() -> impl Strategy<Value = Config> {
    let rate = prop_oneof![
        Just(None),
        (prop_oneof![Just(0.25), Just(0.5), Just(1.0)], 1u32..7)
            .prop_flat_map(|(rate, size)| (1..=size).prop_map(move |min| Some((rate, size, min)))),
    ];
    (
        1u32..5,
        rate,
        1u64..40,
        1u32..4,
        1u32..4,
        prop_oneof![Just(None), (1u64..40).prop_map(Some)],
    )
        .prop_map(
            |(threshold, rate, open_for_ms, success_threshold, max_calls, max_wait_ms)| Config {
                threshold,
                rate,
                open_for_us: open_for_ms * 1000,
                success_threshold,
                max_calls,
                max_wait_us: max_wait_ms.map(|ms| ms * 1000),
            },
        )
}

fn policy(c: &Config) -> BreakerPolicy {
    let mut p = BreakerPolicy::new()
        .failure_threshold(c.threshold)
        .open_for(Duration::from_micros(c.open_for_us))
        .success_threshold(c.success_threshold)
        .half_open_max_calls(c.max_calls);
    if let Some((rate, size, min)) = c.rate {
        p = p.failure_rate(rate, WindowSize::Calls(size)).min_calls(min);
    }
    if let Some(wait) = c.max_wait_us {
        p = p.half_open_max_wait(Duration::from_micros(wait));
    }
    p
}

/// Reports a verdict as a permit does: a success through the closed-state
/// fast path where it applies, so the model checks that path too.
fn finish(engine: &Engine, ticket: Ticket, verdict: Verdict, now: impl Fn() -> u64) {
    if verdict == Verdict::Success {
        engine.succeed(ticket, now);
    } else {
        engine.finish(ticket, verdict, false, now);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn engine_agrees_with_the_reference_model(c in config(), ops in proptest::collection::vec(op(), 1..120)) {
        let engine = Engine::new("model".into(), policy(&c));
        let mut model = Model::default();
        // Starts far from zero, as the real clock does.
        let clock = Cell::new(1_000_000_000u64);
        let now = || clock.get();
        let mut held: Vec<(Ticket, (bool, u64))> = Vec::new();
        for (step, op) in ops.iter().enumerate() {
            match *op {
                Op::Call(verdict) => {
                    let real = engine.acquire(now);
                    let expected = model.acquire(&c, now());
                    match (real, expected) {
                        (Admission::Admitted(ticket), Ok(m)) => {
                            prop_assert_eq!(matches!(ticket, Ticket::Trial { .. }), m.0, "step {}: trial?", step);
                            finish(&engine, ticket, verdict, now);
                            model.finish(&c, m, verdict, now());
                        }
                        (Admission::Rejected { retry_after }, Err(us)) => {
                            prop_assert_eq!(retry_after, Duration::from_micros(us), "step {}", step);
                        }
                        (real, expected) => prop_assert!(false, "step {}: engine {:?}, model {:?}", step, real, expected),
                    }
                }
                Op::Hold => {
                    match (engine.acquire(now), model.acquire(&c, now())) {
                        (Admission::Admitted(ticket), Ok(m)) => held.push((ticket, m)),
                        (Admission::Rejected { .. }, Err(_)) => {}
                        (real, expected) => prop_assert!(false, "step {}: engine {:?}, model {:?}", step, real, expected),
                    }
                }
                Op::Finish(i, verdict) => {
                    if !held.is_empty() {
                        let (ticket, m) = held.swap_remove(i % held.len());
                        finish(&engine, ticket, verdict, now);
                        model.finish(&c, m, verdict, now());
                    }
                }
                Op::Advance(us) => clock.set(clock.get() + us),
            }
            prop_assert_eq!(engine.state(), model.state(), "step {}: {:?}", step, op);
            let reading = engine.read(now);
            if model.state() == State::HalfOpen {
                prop_assert_eq!(reading.trials_in_flight, model.in_flight, "step {}", step);
            }
            if c.rate.is_some() && model.state() == State::Closed {
                prop_assert_eq!(reading.window.calls as usize, model.window.len(), "step {}", step);
            }
        }
    }
}
