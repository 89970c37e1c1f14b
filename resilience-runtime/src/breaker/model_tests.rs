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
    /// Each call's end (µs) and whether it failed.
    window: VecDeque<(u64, bool)>,
    opened_us: u64,
    in_flight: u32,
    successes: u32,
    since_us: u64,
}

/// A rate rule's window: the last N calls, or the calls of the last ten
/// buckets of `width` µs (the bucket a call falls in is all that counts).
#[derive(Debug, Clone, Copy)]
enum ModelWindow {
    Calls(u32),
    Buckets { width_us: u64 },
}

#[derive(Debug, Clone, Copy)]
struct Config {
    threshold: u32,
    rate: Option<(f64, ModelWindow, u32)>,
    /// The engine's generation at the start (near a wrap, or 0).
    generation: u64,
    open_for_us: u64,
    success_threshold: u32,
    max_calls: u32,
    max_wait_us: Option<u64>,
}

impl Model {
    fn state(&self) -> State {
        self.state.unwrap_or(State::Closed)
    }

    /// The calls in the window at `now`: `(calls, failures)`.
    fn in_window(&self, window: ModelWindow, now: u64) -> (u32, u32) {
        let counted = self.window.iter().filter(|(at, _)| match window {
            ModelWindow::Calls(_) => true,
            ModelWindow::Buckets { width_us } => at / width_us + 10 > now / width_us,
        });
        counted.fold((0, 0), |(calls, failures), (_, failed)| {
            (calls + 1, failures + u32::from(*failed))
        })
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
            (false, Some((rate, window, min_calls))) => {
                self.window.push_back((now, failed));
                if let ModelWindow::Calls(size) = window
                    && self.window.len() > size as usize
                {
                    self.window.pop_front();
                }
                let (calls, fails) = self.in_window(window, now);
                if calls >= min_calls && f64::from(fails) >= rate * f64::from(calls) - 1e-9 {
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
        (prop_oneof![Just(0.25), Just(0.5), Just(1.0)], 1u32..7).prop_flat_map(|(rate, size)| {
            (1..=size).prop_map(move |min| Some((rate, ModelWindow::Calls(size), min)))
        }),
        (
            prop_oneof![Just(0.25), Just(0.5), Just(1.0)],
            1u64..6,
            1u32..6
        )
            .prop_map(|(rate, width_ms, min)| Some((
                rate,
                ModelWindow::Buckets {
                    width_us: width_ms * 1000
                },
                min
            ))),
    ];
    let generation = prop_oneof![
        Just(0),
        // Across the 32-bit generation's wrap, and the 16-bit tag's.
        Just(super::engine::GEN_MASK - 3),
        Just((1 << 16) - 3),
    ];
    (
        (1u32..5, generation),
        rate,
        1u64..40,
        1u32..4,
        1u32..4,
        prop_oneof![Just(None), (1u64..40).prop_map(Some)],
    )
        .prop_map(
            |(
                (threshold, generation),
                rate,
                open_for_ms,
                success_threshold,
                max_calls,
                max_wait_ms,
            )| Config {
                threshold,
                rate,
                generation,
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
    if let Some((rate, window, min)) = c.rate {
        let window = match window {
            ModelWindow::Calls(size) => WindowSize::Calls(size),
            ModelWindow::Buckets { width_us } => {
                WindowSize::Time(Duration::from_micros(width_us * 10))
            }
        };
        p = p.failure_rate(rate, window).min_calls(min);
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
        let engine = Engine::new("model".into(), policy(&c)).at_generation(c.generation);
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
            if let Some((_, window, _)) = c.rate && model.state() == State::Closed {
                let (calls, failures) = model.in_window(window, now());
                prop_assert_eq!((reading.window.calls, reading.window.failures), (calls, failures), "step {}", step);
            }
        }
    }
}
