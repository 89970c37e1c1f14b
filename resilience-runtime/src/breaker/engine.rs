//! The breaker's state machine: one atomic word, changed only by
//! compare-and-swap, so no call ever takes a lock.
//!
//! The word packs the state, a generation and a payload:
//!
//! ```text
//!  63                 35 34                          3 2     0
//! [ payload (29 bits)   | generation (32 bits)        | state ]
//! ```
//!
//! - `Closed`: payload = consecutive failures (consecutive mode), below
//!   the threshold, so at most [`MAX_FAILURE_THRESHOLD`].
//! - `HalfOpen`: payload = trials in flight (8 bits), trial successes
//!   (8 bits).
//!
//! Every transition bumps the generation. A call remembers the generation
//! it was admitted in and its verdict only counts if that generation is
//! still current: a slow call admitted before the circuit opened cannot
//! count against the next closed period, and a half-open trial abandoned
//! by `half_open_max_wait` cannot free a permit of a later half-open state.
//!
//! The generation is 32 bits: a stale verdict could only count again if
//! its one call stayed in flight while exactly a multiple of 2^32
//! transitions happened. Every transition is a successful CAS on this one
//! word followed by a clear of the window and a log event; automatic ones
//! also wait `open_for` once per cycle of three. Even a loop doing nothing
//! but `force_open` / `reset` (tens of nanoseconds each) needs minutes of
//! it, during one call, to come back to that call's generation; no service
//! does that, and the previous 13 bits (8,192 transitions) are what a busy
//! flapping breaker could reach.
//!
//! The times of the Open and HalfOpen states (when it opened, when the
//! half-open state last made progress) live in a second word, `since`,
//! tagged with the low 16 bits of the generation they belong to and
//! written right after the transition's CAS. A reader that finds another
//! generation's tag knows the transition has only just happened (see
//! `Engine::elapsed`). Times
//! are µs on the breaker clock, 48 bits (8.9 years); a time later than
//! the clock (the clock moved back: a new paused test runtime) ends the
//! wait, so an open breaker stays open at most `open_for` on any clock.

use std::borrow::Cow;
use std::time::Duration;

use super::policy::LivePolicy;
use super::window::{CallRing, Counts, Sample, TimeBuckets, Window};
use super::{BreakerPolicy, State, TripRule, WindowSize};
use crate::sync::{AtomicU64, Ordering, const_unless_loom};

const STATE_MASK: u64 = 0b111;
const GEN_SHIFT: u32 = 3;
pub(crate) const GEN_MASK: u64 = (1 << 32) - 1;
const PAYLOAD_SHIFT: u32 = 35;
const PAYLOAD_MASK: u64 = (1 << (64 - PAYLOAD_SHIFT)) - 1;
/// The state and generation bits: a closed word with no failures is
/// exactly its ticket.
const CLOSED_TICKET_MASK: u64 = (1 << PAYLOAD_SHIFT) - 1;
/// The largest consecutive-failure threshold: the count below it fits
/// the closed payload.
pub(crate) const MAX_FAILURE_THRESHOLD: u32 = PAYLOAD_MASK as u32;
/// The half-open payload: trials in flight in the low bits, trial
/// successes above them, each this wide.
const HALF_OPEN_COUNT_BITS: u32 = 8;
const HALF_OPEN_COUNT_MASK: u64 = (1 << HALF_OPEN_COUNT_BITS) - 1;
/// The largest `half_open_max_calls` and `success_threshold`: each count
/// fits its half of the half-open payload.
pub(crate) const MAX_HALF_OPEN_COUNT: u32 = HALF_OPEN_COUNT_MASK as u32;

// The `since` word: [ generation tag (16) | µs (48) ].
const SINCE_TAG_SHIFT: u32 = 48;
const SINCE_TAG_MASK: u64 = (1 << 16) - 1;
const SINCE_TIME_MASK: u64 = (1 << SINCE_TAG_SHIFT) - 1;

const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;
const FORCED_OPEN: u64 = 3;
const DISABLED: u64 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Word(u64);

impl Word {
    #[inline]
    const fn new(state: u64, generation: u64, payload: u64) -> Word {
        Word(
            state
                | ((generation & GEN_MASK) << GEN_SHIFT)
                | ((payload & PAYLOAD_MASK) << PAYLOAD_SHIFT),
        )
    }

    fn half_open(generation: u64, in_flight: u64, successes: u64) -> Word {
        Word::new(
            HALF_OPEN,
            generation,
            in_flight | (successes << HALF_OPEN_COUNT_BITS),
        )
    }

    #[inline]
    fn state(self) -> u64 {
        self.0 & STATE_MASK
    }

    #[inline]
    fn generation(self) -> u64 {
        (self.0 >> GEN_SHIFT) & GEN_MASK
    }

    fn next_generation(self) -> u64 {
        (self.generation() + 1) & GEN_MASK
    }

    #[inline]
    fn payload(self) -> u64 {
        self.0 >> PAYLOAD_SHIFT
    }

    fn in_flight(self) -> u64 {
        self.payload() & HALF_OPEN_COUNT_MASK
    }

    fn successes(self) -> u64 {
        (self.payload() >> HALF_OPEN_COUNT_BITS) & HALF_OPEN_COUNT_MASK
    }

    #[inline]
    fn public_state(self) -> State {
        match self.state() {
            CLOSED => State::Closed,
            OPEN => State::Open,
            HALF_OPEN => State::HalfOpen,
            FORCED_OPEN => State::ForcedOpen,
            _ => State::Disabled,
        }
    }
}

/// What a call was admitted as; handed back with its verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ticket {
    Closed {
        generation: u64,
    },
    Trial {
        generation: u64,
    },
    /// The breaker is disabled: the call runs and is not recorded.
    Pass,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    Admitted(Ticket),
    Rejected { retry_after: Duration },
}

/// A [`Ticket`] in one word, as a permit carries it:
///
/// ```text
/// [ unused (29) | generation (32) | unused | kind (2) ]
/// ```
///
/// The generation sits where the state word has it, and a closed token's
/// kind is the closed state: the state and generation bits of a closed
/// word ([`Engine::admit_closed`]) are a closed token as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token(u64);

const TOKEN_KIND_MASK: u64 = 0b11;
const TOKEN_CLOSED: u64 = CLOSED;
const TOKEN_TRIAL: u64 = 1;
const TOKEN_PASS: u64 = 2;

// A closed ticket is a closed token only if the kind bits are state bits.
const _: () = assert!(TOKEN_KIND_MASK & !STATE_MASK == 0);

impl Token {
    #[inline]
    pub(crate) fn new(ticket: Ticket) -> Token {
        let (kind, generation) = match ticket {
            Ticket::Closed { generation } => (TOKEN_CLOSED, generation),
            Ticket::Trial { generation } => (TOKEN_TRIAL, generation),
            Ticket::Pass => (TOKEN_PASS, 0),
        };
        Token(kind | ((generation & GEN_MASK) << GEN_SHIFT))
    }

    #[inline]
    pub(crate) fn ticket(self) -> Ticket {
        let generation = (self.0 >> GEN_SHIFT) & GEN_MASK;
        match self.kind() {
            TOKEN_CLOSED => Ticket::Closed { generation },
            TOKEN_TRIAL => Ticket::Trial { generation },
            _ => Ticket::Pass,
        }
    }

    #[inline]
    fn kind(self) -> u64 {
        self.0 & TOKEN_KIND_MASK
    }

    #[inline]
    pub(crate) fn is_trial(self) -> bool {
        self.kind() == TOKEN_TRIAL
    }
}

/// How a call ended, as the breaker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Success,
    Failure,
    /// Neither: a `Permanent` error, or a call dropped before it finished.
    Ignored,
}

/// A consistent-enough view of the engine for [`super::Snapshot`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reading {
    pub(crate) state: State,
    pub(crate) consecutive_failures: u64,
    pub(crate) trials_in_flight: u32,
    pub(crate) window: Counts,
    pub(crate) rejections: u64,
}

pub(crate) struct Engine {
    pub(crate) name: Cow<'static, str>,
    pub(crate) policy: LivePolicy,
    word: AtomicU64,
    /// When the current Open or HalfOpen period opened or last made
    /// progress (see the module docs).
    since: AtomicU64,
    window: Window,
    rejections: AtomicU64,
    /// The open period's "HalfOpen is due" report, shared with the timer
    /// that makes it when `open_for` ends (see `entered`).
    half_open_due: std::sync::Mutex<Option<std::sync::Arc<std::sync::atomic::AtomicBool>>>,
}

fn since_word(generation: u64, now_us: u64) -> u64 {
    ((generation & SINCE_TAG_MASK) << SINCE_TAG_SHIFT) | (now_us & SINCE_TIME_MASK)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Engine {
    const_unless_loom! {
        pub(crate) fn new(name: Cow<'static, str>, policy: BreakerPolicy) -> Self {
            let window = match policy.trip {
                TripRule::Consecutive { .. } => Window::None,
                TripRule::Rate { window: WindowSize::Calls(n), .. } => Window::Calls(CallRing::new(n)),
                TripRule::Rate { window: WindowSize::Time(t), .. } => {
                    let us = t.as_micros();
                    Window::Time(TimeBuckets::new(if us > u64::MAX as u128 { u64::MAX } else { us as u64 }))
                }
            };
            Engine {
                name,
                policy: LivePolicy::new(policy),
                word: AtomicU64::new(Word::new(CLOSED, 0, 0).0),
                since: AtomicU64::new(0),
                window,
                rejections: AtomicU64::new(0),
                half_open_due: std::sync::Mutex::new(None),
            }
        }
    }

    /// The engine as if `generation` transitions had already happened, so
    /// that a test can cross the generation's (and the time tag's) wrap.
    #[cfg(all(test, not(resilience_loom)))]
    pub(crate) fn at_generation(self, generation: u64) -> Self {
        self.word
            .store(Word::new(CLOSED, generation, 0).0, Ordering::Relaxed);
        self
    }

    #[inline]
    fn load(&self) -> Word {
        Word(self.word.load(Ordering::Acquire))
    }

    fn swap_word(&self, current: Word, new: Word) -> Result<(), Word> {
        self.word
            .compare_exchange(current.0, new.0, Ordering::AcqRel, Ordering::Acquire)
            .map(drop)
            .map_err(Word)
    }

    /// Records `now_us` as the time of the Open or HalfOpen period
    /// `generation`: when it began, or last made progress.
    fn publish_since(&self, generation: u64, now_us: u64) {
        self.since
            .store(since_word(generation, now_us), Ordering::Release);
    }

    /// How long ago the period `word` began (or last made progress), on
    /// the clock `now` (48 bits).
    ///
    /// A `since` of another generation means the transition into `word`
    /// has not published its time yet (it has only just happened), or, in
    /// a pathological race, that a writer delayed since an older period
    /// overwrote it: either way the period is taken to start now, and this
    /// reader records so (the transition's own, earlier, time still lands
    /// after it), so that no breaker waits for a time that never comes.
    ///
    /// A time later than the clock means the clock moved back (a new
    /// paused test runtime; tokio's clock is otherwise monotonic): how long
    /// the wait has lasted on it is unknown, so it counts as over rather
    /// than as a wait of up to the clock difference on top of `open_for`;
    /// the trials of that other clock are gone with it.
    fn elapsed(&self, word: Word, now: u64) -> u64 {
        let since = self.since.load(Ordering::Acquire);
        if since >> SINCE_TAG_SHIFT != word.generation() & SINCE_TAG_MASK {
            let _ = self.since.compare_exchange(
                since,
                since_word(word.generation(), now),
                Ordering::Release,
                Ordering::Relaxed,
            );
            return 0;
        }
        now.checked_sub(since & SINCE_TIME_MASK).unwrap_or(u64::MAX)
    }

    #[inline]
    pub(crate) fn state(&self) -> State {
        self.load().public_state()
    }

    /// The closed-state fast path: when closed, the word's state and
    /// generation bits, which are the caller's [`Token`] as they are.
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub(crate) fn admit_closed(&self) -> Option<Token> {
        let word = self.word.load(Ordering::Acquire);
        (word & STATE_MASK == CLOSED).then_some(Token(word & CLOSED_TICKET_MASK))
    }

    /// Records the success of the call admitted with `token` if it was
    /// admitted closed (e.g. by [`admit_closed`](Self::admit_closed)) and
    /// it can be done here, without the clock; `false` leaves it to
    /// [`finish`](Self::finish). Either way the circuit must still be
    /// closed in the same generation.
    ///
    /// - Consecutive mode: a success with no failures before it changes
    ///   nothing. One load.
    /// - Count window: the success takes the ring's next slot; a slot that
    ///   already holds a success needs no write and leaves the totals, so
    ///   the verdict, as they are. A load, one atomic add and a load.
    ///
    /// A slow-call rule or a time window needs the clock: `false`.
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub(crate) fn closed_success(&self, token: Token, now_us: impl Fn() -> u64) -> bool {
        // A closed token is its closed word with no failures, as it is.
        if token.kind() != TOKEN_CLOSED
            || self.policy.slow_call.is_some()
            || self.word.load(Ordering::Acquire) != token.0
        {
            return false;
        }
        let ticket = token.0;
        match &self.window {
            Window::None => true,
            Window::Calls(ring) => {
                let index = ring.take_index();
                let success = Sample {
                    failure: false,
                    slow: false,
                };
                if !ring.holds(index, success) {
                    self.finish_rate_at(ticket, ring, index, success, &now_us);
                }
                true
            }
            // A time window needs the clock.
            Window::Time(_) => false,
        }
    }

    /// Admits a call or refuses it. `now_us` is read only off the closed
    /// path.
    #[inline]
    pub(crate) fn acquire(&self, now_us: impl Fn() -> u64) -> Admission {
        let word = self.load();
        if word.state() == CLOSED {
            return Admission::Admitted(Ticket::Closed {
                generation: word.generation(),
            });
        }
        self.acquire_slow(word, &now_us)
    }

    #[cold]
    fn acquire_slow(&self, mut word: Word, now_us: &dyn Fn() -> u64) -> Admission {
        let open_for = micros(self.policy.open_for.get());
        loop {
            let next = match word.state() {
                CLOSED => {
                    return Admission::Admitted(Ticket::Closed {
                        generation: word.generation(),
                    });
                }
                DISABLED => return Admission::Admitted(Ticket::Pass),
                FORCED_OPEN => return self.reject(self.policy.open_for.get()),
                OPEN => {
                    let now = now_us() & SINCE_TIME_MASK;
                    let elapsed = self.elapsed(word, now);
                    if elapsed < open_for {
                        return self.reject(Duration::from_micros(open_for - elapsed));
                    }
                    (Word::half_open(word.next_generation(), 1, 0), now)
                }
                _ => {
                    if word.in_flight() < u64::from(self.policy.half_open_max_calls.get()) {
                        (Word(word.0 + (1 << PAYLOAD_SHIFT)), 0)
                    } else {
                        let Some(max_wait) = self.policy.half_open_max_wait.get() else {
                            return self.reject(self.policy.open_for.get());
                        };
                        let now = now_us() & SINCE_TIME_MASK;
                        let waited = Duration::from_micros(self.elapsed(word, now));
                        if waited < max_wait {
                            return self.reject(max_wait - waited);
                        }
                        // No trial has reported for `half_open_max_wait`:
                        // stop waiting for it and open again.
                        (Word::new(OPEN, word.next_generation(), 0), now)
                    }
                }
            };
            let (next, now) = next;
            match self.swap_word(word, next) {
                Ok(()) => {
                    if next.generation() != word.generation() {
                        self.publish_since(next.generation(), now);
                    }
                    if next.state() == OPEN {
                        self.entered(word, next);
                        return self.reject(self.policy.open_for.get());
                    }
                    if next.generation() != word.generation() {
                        self.entered(word, next);
                    }
                    return Admission::Admitted(Ticket::Trial {
                        generation: next.generation(),
                    });
                }
                Err(actual) => word = actual,
            }
        }
    }

    fn reject(&self, retry_after: Duration) -> Admission {
        self.rejections.fetch_add(1, Ordering::Relaxed);
        Admission::Rejected { retry_after }
    }

    /// Records how an admitted call ended. `slow` is whether it ran past
    /// `slow_call`.
    #[inline]
    pub(crate) fn finish(
        &self,
        ticket: Ticket,
        verdict: Verdict,
        slow: bool,
        now_us: impl Fn() -> u64,
    ) {
        match ticket {
            Ticket::Pass => {}
            Ticket::Closed { generation } => {
                if verdict == Verdict::Ignored {
                    return;
                }
                if let Some(failure_threshold) = self.policy.failure_threshold() {
                    // The common case: a success with no failures before it.
                    let failed = verdict == Verdict::Failure || slow;
                    let word = self.load();
                    if !failed && word == Word::new(CLOSED, generation, 0) {
                        return;
                    }
                    self.finish_consecutive(word, generation, failed, failure_threshold, &now_us);
                } else {
                    self.finish_rate(generation, verdict, slow, &now_us);
                }
            }
            Ticket::Trial { generation } => self.finish_trial(generation, verdict, slow, &now_us),
        }
    }

    #[cold]
    fn finish_consecutive(
        &self,
        mut word: Word,
        generation: u64,
        failed: bool,
        threshold: u32,
        now_us: &dyn Fn() -> u64,
    ) {
        loop {
            if word.state() != CLOSED || word.generation() != generation {
                return;
            }
            let next = if !failed {
                if word.payload() == 0 {
                    return;
                }
                Word::new(CLOSED, generation, 0)
            } else if word.payload() + 1 >= u64::from(threshold) {
                Word::new(OPEN, word.next_generation(), 0)
            } else {
                Word::new(CLOSED, generation, word.payload() + 1)
            };
            match self.swap_word(word, next) {
                Ok(()) => {
                    if next.state() == OPEN {
                        self.opened(word, next, now_us());
                    }
                    return;
                }
                Err(actual) => word = actual,
            }
        }
    }

    fn finish_rate(&self, generation: u64, verdict: Verdict, slow: bool, now_us: &dyn Fn() -> u64) {
        let closed = Word::new(CLOSED, generation, 0);
        if self.load() != closed {
            return;
        }
        let failure = verdict == Verdict::Failure;
        let counts = self.window.record(Sample { failure, slow }, now_us);
        self.judge(closed, counts, now_us);
    }

    /// [`finish_rate`](Self::finish_rate) for a success whose ring slot
    /// [`closed_success`](Self::closed_success) already took.
    #[cold]
    #[inline(never)]
    fn finish_rate_at(
        &self,
        ticket: u64,
        ring: &CallRing,
        index: u32,
        sample: Sample,
        now_us: &dyn Fn() -> u64,
    ) {
        let counts = ring.record_at(index, sample);
        self.judge(Word(ticket), counts, now_us);
    }

    /// A success as a [`Permit`](super::Permit) reports it: through
    /// [`closed_success`](Self::closed_success) when it can, else
    /// [`finish`](Self::finish).
    #[cfg(test)]
    pub(crate) fn succeed(&self, ticket: Ticket, now_us: impl Fn() -> u64) {
        if self.closed_success(Token::new(ticket), &now_us) {
            return;
        }
        self.finish(ticket, Verdict::Success, false, now_us);
    }

    /// Opens the circuit closed as `closed` if the totals a record left
    /// (`None`: nothing new to judge) trip the rule.
    fn judge(&self, closed: Word, counts: Option<Counts>, now_us: &dyn Fn() -> u64) {
        let Some(counts) = counts else {
            return;
        };
        if self.trips(counts) {
            let open = Word::new(OPEN, closed.next_generation(), 0);
            if self.swap_word(closed, open).is_ok() {
                self.opened(closed, open, now_us());
            }
        }
    }

    fn trips(&self, counts: Counts) -> bool {
        if !self.policy.rate_mode() {
            return false;
        }
        let (failure_rate, min_calls) =
            (self.policy.failure_rate.get(), self.policy.min_calls.get());
        if counts.calls == 0 || counts.calls < min_calls {
            return false;
        }
        // A hair of tolerance so that 3 of 10 calls is a rate of 0.3.
        let at_least =
            |part: u32, rate: f64| f64::from(part) >= rate * f64::from(counts.calls) - 1e-9;
        at_least(counts.failures, failure_rate)
            || (self.policy.slow_call.is_some()
                && at_least(counts.slow, self.policy.slow_call_rate.get()))
    }

    #[cold]
    fn finish_trial(
        &self,
        generation: u64,
        verdict: Verdict,
        slow: bool,
        now_us: &dyn Fn() -> u64,
    ) {
        // In half-open, a slow success is a failed trial.
        let verdict = if verdict == Verdict::Success && slow {
            Verdict::Failure
        } else {
            verdict
        };
        let mut word = self.load();
        loop {
            if word.state() != HALF_OPEN || word.generation() != generation {
                return;
            }
            let in_flight = word.in_flight().saturating_sub(1);
            let next = match verdict {
                Verdict::Ignored => Word::half_open(generation, in_flight, word.successes()),
                Verdict::Success
                    if word.successes() + 1 >= u64::from(self.policy.success_threshold.get()) =>
                {
                    Word::new(CLOSED, word.next_generation(), 0)
                }
                Verdict::Success => Word::half_open(generation, in_flight, word.successes() + 1),
                Verdict::Failure => Word::new(OPEN, word.next_generation(), 0),
            };
            match self.swap_word(word, next) {
                Ok(()) => {
                    match next.state() {
                        OPEN => self.opened(word, next, now_us()),
                        // A trial reported: the half-open state made progress.
                        HALF_OPEN if verdict == Verdict::Success => {
                            self.publish_since(generation, now_us());
                        }
                        HALF_OPEN => {}
                        _ => self.entered(word, next),
                    }
                    return;
                }
                Err(actual) => word = actual,
            }
        }
    }

    /// Sets the state by hand: `force_open`, `disable`, `reset`.
    pub(crate) fn set(&self, state: State) {
        let code = match state {
            State::Closed => CLOSED,
            State::ForcedOpen => FORCED_OPEN,
            State::Disabled => DISABLED,
            State::Open | State::HalfOpen => unreachable!("only set by the breaker itself"),
        };
        let mut word = self.load();
        loop {
            let next = Word::new(code, word.next_generation(), 0);
            match self.swap_word(word, next) {
                Ok(()) => {
                    self.entered(word, next);
                    return;
                }
                Err(actual) => word = actual,
            }
        }
    }

    /// After a transition from `from` into the Open state `to` at `now_us`.
    fn opened(&self, from: Word, to: Word, now_us: u64) {
        self.publish_since(to.generation(), now_us);
        self.entered(from, to);
    }

    /// After a transition from `from` to `to`: forget the window, and
    /// tell the logs. Every transition but Open → HalfOpen (whose window
    /// was cleared on opening and has recorded nothing since) starts the
    /// count over, a `reset()` of a closed breaker included.
    fn entered(&self, from: Word, to: Word) {
        if to.state() != HALF_OPEN {
            self.window.clear();
        }
        let (mut from, to) = (from.public_state(), to.public_state());
        if from == State::Open
            && let Some(due) = self.take_half_open_due()
            && due.swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            // The timer already reported Open → HalfOpen when it was due.
            if to == State::HalfOpen {
                return;
            }
            from = State::HalfOpen;
        }
        crate::events::breaker_transition(&self.name, from, to);
        if to == State::Open {
            self.report_half_open_when_due();
        }
    }

    fn take_half_open_due(&self) -> Option<std::sync::Arc<std::sync::atomic::AtomicBool>> {
        self.half_open_due
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Reports Open → HalfOpen when `open_for` ends, not at the next call
    /// (which makes the transition itself): a task sleeps on tokio's clock,
    /// when a runtime is there. Whichever of the timer and the transition
    /// comes first reports it; the other sees the shared flag set.
    fn report_half_open_when_due(&self) {
        let due = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        *self
            .half_open_due
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(std::sync::Arc::clone(&due));
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // The deadline from now, not from the task's first poll.
        let due_at = tokio::time::Instant::now().checked_add(self.policy.open_for.get());
        let name = self.name.clone();
        runtime.spawn(async move {
            match due_at {
                Some(due_at) => tokio::time::sleep_until(due_at).await,
                None => std::future::pending().await,
            }
            if !due.swap(true, std::sync::atomic::Ordering::AcqRel) {
                crate::events::breaker_transition(&name, State::Open, State::HalfOpen);
            }
        });
    }

    pub(crate) fn read(&self, now_us: impl Fn() -> u64) -> Reading {
        let word = self.load();
        let consecutive = !self.policy.rate_mode();
        Reading {
            state: word.public_state(),
            consecutive_failures: if consecutive && word.state() == CLOSED {
                word.payload()
            } else {
                0
            },
            trials_in_flight: if word.state() == HALF_OPEN {
                word.in_flight() as u32
            } else {
                0
            },
            window: self.window.counts(&now_us).unwrap_or_default(),
            rejections: self.rejections.load(Ordering::Relaxed),
        }
    }
}

#[cfg(all(test, not(resilience_loom)))]
mod tests {
    use super::*;

    #[test]
    fn word_fields_round_trip() {
        let w = Word::new(OPEN, GEN_MASK, PAYLOAD_MASK);
        assert_eq!(
            (w.state(), w.generation(), w.payload()),
            (OPEN, GEN_MASK, PAYLOAD_MASK)
        );
        assert_eq!(w.next_generation(), 0);
        let h = Word::half_open(7, 255, 254);
        assert_eq!(
            (h.state(), h.generation(), h.in_flight(), h.successes()),
            (HALF_OPEN, 7, 255, 254)
        );
        let c = Word::new(CLOSED, GEN_MASK, u64::from(MAX_FAILURE_THRESHOLD));
        assert_eq!(c.payload(), u64::from(MAX_FAILURE_THRESHOLD));
        assert_eq!(c.0 & CLOSED_TICKET_MASK, Word::new(CLOSED, GEN_MASK, 0).0);
    }

    #[test]
    fn tokens_round_trip_and_a_closed_ticket_is_a_closed_token() {
        for ticket in [
            Ticket::Closed {
                generation: GEN_MASK,
            },
            Ticket::Trial { generation: 7 },
            Ticket::Pass,
        ] {
            assert_eq!(Token::new(ticket).ticket(), ticket);
        }
        assert!(Token::new(Ticket::Trial { generation: 0 }).is_trial());
        let e = Engine::new("token".into(), BreakerPolicy::new());
        assert_eq!(
            e.admit_closed(),
            Some(Token::new(Ticket::Closed { generation: 0 }))
        );
    }

    #[test]
    fn a_period_without_its_time_starts_when_first_seen() {
        let e = Engine::new("since".into(), BreakerPolicy::new());
        e.publish_since(5, 100);
        assert_eq!(e.elapsed(Word::new(OPEN, 5, 0), 130), 30);
        // Generation 6 has not published: it starts now, for every reader,
        // until its transition's own time lands.
        assert_eq!(e.elapsed(Word::new(OPEN, 6, 0), 140), 0);
        assert_eq!(e.elapsed(Word::new(OPEN, 6, 0), 150), 10);
        e.publish_since(6, 135);
        assert_eq!(e.elapsed(Word::new(OPEN, 6, 0), 150), 15);
        // A clock behind the recorded time has moved back: the wait is over.
        assert_eq!(e.elapsed(Word::new(OPEN, 6, 0), 30), u64::MAX);
    }

    /// A breaker opened at time 0: one failure opens it, one trial (the
    /// only one let in at a time) closes it, a trial that has not reported
    /// for 5 s is given up on.
    fn opened_at_zero(name: &'static str) -> Engine {
        let e = Engine::new(
            name.into(),
            BreakerPolicy::new()
                .failure_threshold(1)
                .success_threshold(1)
                .half_open_max_calls(1)
                .half_open_max_wait(Duration::from_secs(5))
                .open_for(Duration::from_millis(10)),
        );
        let Admission::Admitted(ticket) = e.acquire(|| 0) else {
            panic!("closed admits");
        };
        e.finish(ticket, Verdict::Failure, false, || 0);
        assert_eq!(e.state(), State::Open);
        e
    }

    /// `acquire` at `now`, with `race` run as it reads the clock: after its
    /// load of the state, before its compare-and-swap, as another caller
    /// could.
    fn acquire_racing(e: &Engine, now: u64, race: impl FnOnce()) -> Admission {
        let race = std::cell::Cell::new(Some(race));
        e.acquire(|| {
            if let Some(race) = race.take() {
                race();
            }
            now
        })
    }

    /// The caller that lost the race to a closing transition is admitted as
    /// a closed call of the new closed period: no phantom failure, and its
    /// own failure counts (here, opens the circuit).
    fn assert_admitted_closed(e: &Engine, admission: Admission, now: u64) {
        assert_eq!(
            admission,
            Admission::Admitted(Ticket::Closed {
                generation: e.load().generation()
            })
        );
        assert_eq!(e.read(|| now).consecutive_failures, 0);
        let Admission::Admitted(ticket) = admission else {
            unreachable!()
        };
        e.finish(ticket, Verdict::Failure, false, || now);
        assert_eq!(e.state(), State::Open, "its failure counts");
    }

    /// A caller gives up on a half-open trial that has not reported for
    /// `half_open_max_wait` just as that trial reports its success.
    #[test]
    fn a_caller_giving_up_on_a_trial_that_just_closed_the_circuit_is_admitted_closed() {
        let e = opened_at_zero("race-trial");
        let Admission::Admitted(trial @ Ticket::Trial { .. }) = e.acquire(|| 20_000) else {
            panic!("the trial");
        };
        let late = 20_000 + 5_000_000;
        let admission = acquire_racing(&e, late, || {
            e.finish(trial, Verdict::Success, false, || late);
            assert_eq!(e.state(), State::Closed);
        });
        assert_admitted_closed(&e, admission, late);
    }

    /// A caller takes the trial of an open breaker whose `open_for` is over
    /// just as the breaker is reset by hand.
    #[test]
    fn a_caller_racing_a_reset_is_admitted_closed() {
        let e = opened_at_zero("race-reset");
        let admission = acquire_racing(&e, 20_000, || e.set(State::Closed));
        assert_admitted_closed(&e, admission, 20_000);
    }
}
