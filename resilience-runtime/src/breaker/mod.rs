//! `#[circuit_breaker]`: stop calling a service that keeps failing, and
//! probe it again after a pause.
//!
//! The instance type is [`CircuitBreaker`], configured by a
//! [`BreakerPolicy`]. It moves between the [`State`]s
//! Closed → Open → HalfOpen → Closed on its own, and can be forced open or
//! disabled by hand.

mod engine;
mod window;

#[cfg(all(test, resilience_loom))]
mod loom_tests;
#[cfg(all(test, not(resilience_loom)))]
mod model_tests;

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Instant;

use crate::registry::Registrable;
use crate::sync::const_unless_loom;
use crate::{Classify, Outcome, Rejection};
use engine::{Admission, Engine, Ticket, Verdict};

/// How many recent calls rate mode looks at.
///
/// ```
/// use resilience_runtime::breaker::{BreakerPolicy, WindowSize};
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
enum TripRule {
    Consecutive {
        failure_threshold: u32,
    },
    Rate {
        failure_rate: f64,
        window: WindowSize,
        min_calls: u32,
    },
}

/// What a [`CircuitBreaker`] does: when it opens, how long it stays open,
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
/// use resilience_runtime::breaker::{BreakerPolicy, WindowSize};
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
    trip: TripRule,
    slow_call: Option<Duration>,
    slow_call_rate: f64,
    open_for: Duration,
    success_threshold: u32,
    half_open_max_calls: u32,
    half_open_max_wait: Option<Duration>,
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
/// use resilience_runtime::breaker::{BreakerPolicy, MAX_FAILURE_THRESHOLD};
///
/// let p = BreakerPolicy::new().failure_threshold(u32::MAX);
/// assert_eq!(p.get_failure_threshold(), Some(MAX_FAILURE_THRESHOLD));
/// ```
pub const MAX_FAILURE_THRESHOLD: u32 = engine::MAX_FAILURE_THRESHOLD;

impl BreakerPolicy {
    /// The default policy (see the type's docs).
    ///
    /// ```
    /// # use resilience_runtime::breaker::BreakerPolicy;
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
    /// # use resilience_runtime::breaker::BreakerPolicy;
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
    /// # use resilience_runtime::breaker::{BreakerPolicy, WindowSize};
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
    /// # use resilience_runtime::breaker::{BreakerPolicy, WindowSize};
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
    /// # use resilience_runtime::breaker::BreakerPolicy;
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
    /// # use resilience_runtime::breaker::BreakerPolicy;
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
    /// # use resilience_runtime::breaker::BreakerPolicy;
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
    /// # use resilience_runtime::breaker::BreakerPolicy;
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
    /// # use resilience_runtime::breaker::BreakerPolicy;
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
    /// # use resilience_runtime::breaker::BreakerPolicy;
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
    /// # use resilience_runtime::breaker::BreakerPolicy;
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
    /// # use resilience_runtime::breaker::BreakerPolicy;
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
    /// # use resilience_runtime::breaker::BreakerPolicy;
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
    } else if n > 255 {
        255
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

/// Where a breaker stands.
///
/// ```
/// use resilience_runtime::breaker::{BreakerPolicy, CircuitBreaker, State};
///
/// let breaker = CircuitBreaker::new("doc-state", BreakerPolicy::new());
/// assert_eq!(breaker.state(), State::Closed);
/// breaker.force_open();
/// assert_eq!(breaker.state(), State::ForcedOpen);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Calls go through; failures are counted.
    Closed,
    /// Calls are rejected until `open_for` has passed.
    Open,
    /// A few trial calls go through; their verdict closes or re-opens it.
    HalfOpen,
    /// Opened by [`CircuitBreaker::force_open`]: rejects until reset.
    ForcedOpen,
    /// Turned off by [`CircuitBreaker::disable`]: admits and records
    /// nothing until reset.
    Disabled,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half-open",
            State::ForcedOpen => "forced open",
            State::Disabled => "disabled",
        })
    }
}

/// A breaker's state and counters at one moment, for a health endpoint.
///
/// Read without stopping callers: under load the counters may be a few
/// calls apart from each other.
///
/// ```
/// use resilience_runtime::breaker::{BreakerPolicy, CircuitBreaker, State, WindowSize};
///
/// let breaker = CircuitBreaker::new("doc-snapshot", BreakerPolicy::new().failure_rate(0.5, WindowSize::Calls(10)));
/// let s = breaker.snapshot();
/// assert_eq!(s.state, State::Closed);
/// assert_eq!(s.calls_in_window, 0);
/// assert_eq!(s.failure_rate, None);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The instance name.
    pub name: String,
    /// The current state.
    pub state: State,
    /// Failures in a row (consecutive mode, closed state).
    pub consecutive_failures: u64,
    /// Calls in the window (rate mode).
    pub calls_in_window: u32,
    /// Failed calls in the window (rate mode).
    pub failures_in_window: u32,
    /// Slow calls in the window (rate mode).
    pub slow_calls_in_window: u32,
    /// `failures_in_window / calls_in_window`, when the window holds calls.
    pub failure_rate: Option<f64>,
    /// Half-open trial calls running now.
    pub trials_in_flight: u32,
    /// Calls rejected since the breaker was created.
    pub rejections: u64,
}

/// The breaker clock: microseconds of tokio's clock (so a paused runtime
/// drives it) since a process-wide epoch one day before its first reading,
/// so that clocks of several test runtimes stay comparable.
fn now_us() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let now = Instant::now();
    let epoch = *EPOCH.get_or_init(|| now.checked_sub(Duration::from_secs(86_400)).unwrap_or(now));
    u64::try_from(now.saturating_duration_since(epoch).as_micros()).unwrap_or(u64::MAX)
}

/// A circuit breaker: the instance behind `#[circuit_breaker]`.
///
/// While **closed**, calls run and their failures are counted (consecutive
/// failures, or the failure and slow-call rates of a window of recent
/// calls). When the [`BreakerPolicy`] trips, the circuit **opens**: calls
/// are rejected with [`Rejection::CircuitOpen`] without running, for
/// `open_for`. Then it is **half-open**: up to `half_open_max_calls` trial
/// calls run; `success_threshold` successful trials close it, one failed
/// trial opens it again for another `open_for`.
///
/// What counts as a failure is decided by [`Classify`]: `Transient` and
/// `Fault` count, `Permanent` errors (a bad request) do not.
///
/// # Cost
///
/// A call in the closed state takes no lock and allocates nothing: one
/// atomic load to admit it and, after a success with no failures before
/// it, one atomic load to record it. With a count window, a success adds
/// one atomic increment (its slot in the window) and one load; only a
/// success that replaces a failure leaving the window writes and re-judges
/// the rate. Without `slow_call`, neither mode reads the clock while
/// closed. A time window does: each call reads the clock, adds to its
/// bucket with one compare-and-swap (two for a failure) and sums the ten
/// buckets to judge the rate.
///
/// # Cancel safety
///
/// A half-open trial holds a permit ([`Permit`]); dropping the call's
/// future gives the permit back and counts as neither success nor failure,
/// also when another panic (a sibling in a `join!`) drops it. A trial that
/// panics itself counts as a failure. Neither can leave the breaker stuck
/// half-open.
///
/// # Tests on paused clocks
///
/// A breaker in a `static` (the macro's default) outlives a test's
/// runtime, and each `#[tokio::test(start_paused = true)]` has a clock of
/// its own that may read earlier than the last one did. The breaker
/// handles a clock that moved back: a wait (`open_for`,
/// `half_open_max_wait`) that began after the clock's present is over, and
/// window entries stamped after it do not count. What the earlier test
/// left (an open circuit, counts) is still there: call
/// [`reset`](Self::reset) at the start of a test that needs a fresh
/// breaker.
///
/// # Memory ordering
///
/// State changes are published with release/acquire: a caller that sees a
/// state also sees the transition that produced it.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use resilience_runtime::breaker::{BreakerPolicy, CircuitBreaker, State};
/// use resilience_runtime::Rejection;
/// use std::io;
/// use std::time::Duration;
///
/// static INVENTORY: CircuitBreaker = CircuitBreaker::new(
///     "inventory",
///     BreakerPolicy::new().failure_threshold(2).open_for(Duration::from_secs(30)),
/// );
///
/// for _ in 0..2 {
///     let failed: io::Result<()> = INVENTORY.call(async { Err(io::ErrorKind::ConnectionReset.into()) }).await;
///     assert!(failed.is_err());
/// }
/// assert_eq!(INVENTORY.state(), State::Open);
///
/// let rejected: io::Result<()> = INVENTORY.call(async { unreachable!("not called while open") }).await;
/// let rejection = rejected.unwrap_err().into_inner().unwrap().downcast::<Rejection>().unwrap();
/// assert_eq!(rejection.retry_after(), Some(Duration::from_secs(30)));
///
/// tokio::time::advance(Duration::from_secs(30)).await;
/// let trial: io::Result<u32> = INVENTORY.call(async { Ok(7) }).await;
/// assert_eq!(trial.unwrap(), 7);
/// assert_eq!(INVENTORY.state(), State::Closed);
/// # }
/// ```
pub struct CircuitBreaker {
    engine: Engine,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.engine.name)
            .field("state", &self.state())
            .field("policy", &self.engine.policy)
            .finish()
    }
}

impl CircuitBreaker {
    const_unless_loom! {
        /// A breaker usable in a `static`.
        ///
        /// ```
        /// # use resilience_runtime::breaker::{BreakerPolicy, CircuitBreaker};
        /// static B: CircuitBreaker = CircuitBreaker::new("search", BreakerPolicy::new());
        /// assert_eq!(B.name(), "search");
        /// ```
        pub fn new(name: &'static str, policy: BreakerPolicy) -> Self {
            CircuitBreaker {
                engine: Engine::new(Cow::Borrowed(name), policy),
            }
        }
    }

    /// A breaker with a name built at run time (one per host, per tenant).
    ///
    /// ```
    /// # use resilience_runtime::breaker::{BreakerPolicy, CircuitBreaker};
    /// let host = "eu-1";
    /// let b = CircuitBreaker::named(format!("api@{host}"), BreakerPolicy::new());
    /// assert_eq!(b.name(), "api@eu-1");
    /// ```
    pub fn named(name: impl Into<Cow<'static, str>>, policy: BreakerPolicy) -> Self {
        CircuitBreaker {
            engine: Engine::new(name.into(), policy),
        }
    }

    /// The instance name carried by its rejections and events.
    ///
    /// ```
    /// # use resilience_runtime::breaker::{BreakerPolicy, CircuitBreaker};
    /// assert_eq!(CircuitBreaker::new("a", BreakerPolicy::new()).name(), "a");
    /// ```
    #[inline]
    pub fn name(&self) -> &str {
        &self.engine.name
    }

    /// The policy.
    ///
    /// ```
    /// # use resilience_runtime::breaker::{BreakerPolicy, CircuitBreaker};
    /// let b = CircuitBreaker::new("a", BreakerPolicy::new().failure_threshold(9));
    /// assert_eq!(b.policy().get_failure_threshold(), Some(9));
    /// ```
    pub fn policy(&self) -> &BreakerPolicy {
        &self.engine.policy
    }

    /// The current state. An open breaker whose `open_for` has passed
    /// reads `Open` until the next call turns it half-open.
    ///
    /// ```
    /// # use resilience_runtime::breaker::{BreakerPolicy, CircuitBreaker, State};
    /// assert_eq!(CircuitBreaker::new("a", BreakerPolicy::new()).state(), State::Closed);
    /// ```
    #[inline]
    pub fn state(&self) -> State {
        self.engine.state()
    }

    /// Opens the circuit until [`reset`](Self::reset): every call is
    /// rejected (e.g. to shed a downstream under maintenance).
    ///
    /// ```
    /// # use resilience_runtime::breaker::{BreakerPolicy, CircuitBreaker, State};
    /// let b = CircuitBreaker::new("a", BreakerPolicy::new());
    /// b.force_open();
    /// assert!(b.try_acquire().is_err());
    /// ```
    pub fn force_open(&self) {
        self.engine.set(State::ForcedOpen);
    }

    /// Turns the breaker off until [`reset`](Self::reset): every call runs
    /// and nothing is recorded.
    ///
    /// ```
    /// # use resilience_runtime::breaker::{BreakerPolicy, CircuitBreaker, State};
    /// let b = CircuitBreaker::new("a", BreakerPolicy::new().failure_threshold(1));
    /// b.disable();
    /// b.try_acquire().unwrap().failure();
    /// assert_eq!(b.state(), State::Disabled);
    /// ```
    pub fn disable(&self) {
        self.engine.set(State::Disabled);
    }

    /// Closes the circuit and forgets every count (also ends
    /// [`force_open`](Self::force_open) and [`disable`](Self::disable)).
    ///
    /// ```
    /// # use resilience_runtime::breaker::{BreakerPolicy, CircuitBreaker, State};
    /// let b = CircuitBreaker::new("a", BreakerPolicy::new());
    /// b.force_open();
    /// b.reset();
    /// assert_eq!(b.state(), State::Closed);
    /// ```
    pub fn reset(&self) {
        self.engine.set(State::Closed);
    }

    /// The state and counters now.
    ///
    /// ```
    /// # use resilience_runtime::breaker::{BreakerPolicy, CircuitBreaker};
    /// let b = CircuitBreaker::new("a", BreakerPolicy::new());
    /// b.try_acquire().unwrap().failure();
    /// assert_eq!(b.snapshot().consecutive_failures, 1);
    /// ```
    pub fn snapshot(&self) -> Snapshot {
        let r = self.engine.read(now_us);
        Snapshot {
            name: self.name().to_owned(),
            state: r.state,
            consecutive_failures: r.consecutive_failures,
            calls_in_window: r.window.calls,
            failures_in_window: r.window.failures,
            slow_calls_in_window: r.window.slow,
            failure_rate: (r.window.calls > 0)
                .then(|| f64::from(r.window.failures) / f64::from(r.window.calls)),
            trials_in_flight: r.trials_in_flight,
            rejections: r.rejections,
        }
    }

    /// Asks to make one call: a [`Permit`] to report its verdict with, or
    /// the rejection to return instead of calling.
    ///
    /// For code that does not fit [`call`](Self::call): make the call
    /// while holding the permit, then report.
    ///
    /// ```
    /// # use resilience_runtime::breaker::{BreakerPolicy, CircuitBreaker};
    /// let b = CircuitBreaker::new("a", BreakerPolicy::new());
    /// match b.try_acquire() {
    ///     Ok(permit) => {
    ///         let worked = true; // make the call here
    ///         if worked { permit.success() } else { permit.failure() }
    ///     }
    ///     Err(rejection) => eprintln!("{rejection}"),
    /// }
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejection> {
        self.admit()
            .map_err(|retry_after| self.rejection(retry_after))
    }

    /// [`try_acquire`](Self::try_acquire) with the rejection left unbuilt:
    /// the result stays two words, so it moves in registers.
    #[inline(always)]
    fn admit(&self) -> Result<Permit<'_>, Duration> {
        if let Some(ticket) = self.engine.admit_closed() {
            // A closed ticket has the token's layout: kind 0, generation.
            let started = if self.engine.policy.slow_call.is_some() {
                now_us()
            } else {
                0
            };
            return Ok(Permit {
                breaker: self,
                token: Token(ticket),
                started,
            });
        }
        self.try_acquire_slow()
    }

    #[inline(never)]
    fn try_acquire_slow(&self) -> Result<Permit<'_>, Duration> {
        match self.engine.acquire(now_us) {
            Admission::Admitted(ticket) => {
                let started = if self.engine.policy.slow_call.is_some() {
                    now_us()
                } else {
                    0
                };
                Ok(Permit {
                    breaker: self,
                    token: Token::new(ticket),
                    started,
                })
            }
            Admission::Rejected { retry_after } => Err(retry_after),
        }
    }

    #[cold]
    #[inline(never)]
    fn rejection(&self, retry_after: Duration) -> Rejection {
        tracing::debug!(name = %self.engine.name, ?retry_after, "resilience: circuit open, call rejected");
        Rejection::circuit_open(self.engine.name.clone(), retry_after)
    }

    /// Runs `call` through the breaker; its errors are classified by
    /// [`Classify`], and a rejection becomes `E` through `From`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience_runtime::breaker::{BreakerPolicy, CircuitBreaker};
    /// # use std::io;
    /// let b = CircuitBreaker::new("a", BreakerPolicy::new());
    /// let out: io::Result<u8> = b.call(async { Ok(1) }).await;
    /// assert_eq!(out.unwrap(), 1);
    /// # }
    /// ```
    pub fn call<F, T, E>(&self, call: F) -> BreakerFuture<'_, F, fn(&E) -> Outcome, E>
    where
        F: Future<Output = Result<T, E>>,
        E: Classify + From<Rejection>,
    {
        self.call_with(call, <E as Classify>::classify, E::from)
    }

    /// Like [`call`](Self::call), with `classify` deciding what an error
    /// says about the service and `reject` turning a rejection into `E`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience_runtime::breaker::{BreakerPolicy, CircuitBreaker, State};
    /// # use resilience_runtime::Outcome;
    /// let b = CircuitBreaker::new("a", BreakerPolicy::new().failure_threshold(1));
    /// // 404s are the caller's problem, not the service's.
    /// let not_found = |e: &u16| if *e == 404 { Outcome::Permanent } else { Outcome::Fault };
    /// let out = b.call_with(async { Err::<(), u16>(404) }, not_found, |_| 503).await;
    /// assert_eq!(out, Err(404));
    /// assert_eq!(b.state(), State::Closed);
    /// # }
    /// ```
    pub fn call_with<F, T, E, C>(
        &self,
        call: F,
        classify: C,
        reject: fn(Rejection) -> E,
    ) -> BreakerFuture<'_, F, C, E>
    where
        F: Future<Output = Result<T, E>>,
        C: Fn(&E) -> Outcome,
    {
        BreakerFuture {
            call,
            breaker: self,
            classify,
            reject,
            held: None,
        }
    }
}

impl Registrable for CircuitBreaker {
    const KIND: &'static str = "circuit_breaker";

    fn same_settings(&self, other: &Self) -> bool {
        self.policy() == other.policy()
    }
}

/// Leave to make one call through a [`CircuitBreaker`]; report how it
/// went with [`success`](Self::success), [`failure`](Self::failure),
/// [`record`](Self::record) or [`ignore`](Self::ignore).
///
/// Dropping a permit without reporting (the call was cancelled) counts as
/// neither success nor failure and gives a half-open trial permit back;
/// dropping it while the thread panics counts as a failure. A permit
/// cannot tell whose panic that is: keep it in the code that makes the
/// call, or use [`CircuitBreaker::call`], whose future counts only the
/// call's own panic (a call dropped while another future panics, e.g. a
/// sibling in a `join!`, is a cancellation).
///
/// ```
/// # use resilience_runtime::breaker::{BreakerPolicy, CircuitBreaker, State};
/// let b = CircuitBreaker::new("a", BreakerPolicy::new().failure_threshold(1));
/// let permit = b.try_acquire().unwrap();
/// drop(permit); // cancelled: not counted
/// assert_eq!(b.state(), State::Closed);
/// b.try_acquire().unwrap().failure();
/// assert_eq!(b.state(), State::Open);
/// ```
#[must_use = "a permit reports nothing unless you call `success`, `failure` or `record` on it"]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    token: Token,
    /// When the call started, on the breaker clock (0 without a slow-call
    /// rule, which is the only reader).
    started: u64,
}

/// What a permit was admitted as, in one word:
///
/// ```text
/// [ unused (29) | generation (32) | unused | kind (2) ]
/// ```
///
/// A closed ticket (the state and generation bits of a closed word) has
/// this layout as it is, kind 0.
#[derive(Debug, Clone, Copy)]
struct Token(u64);

const TOKEN_CLOSED: u64 = 0;
const TOKEN_TRIAL: u64 = 1;
const TOKEN_PASS: u64 = 2;

impl Token {
    #[inline]
    fn new(ticket: Ticket) -> Token {
        let (kind, generation) = match ticket {
            Ticket::Closed { generation } => (TOKEN_CLOSED, generation),
            Ticket::Trial { generation } => (TOKEN_TRIAL, generation),
            Ticket::Pass => (TOKEN_PASS, 0),
        };
        Token(kind | ((generation & engine::GEN_MASK) << 3))
    }

    #[inline]
    fn ticket(self) -> Ticket {
        let generation = (self.0 >> 3) & engine::GEN_MASK;
        match self.0 & 0b11 {
            TOKEN_CLOSED => Ticket::Closed { generation },
            TOKEN_TRIAL => Ticket::Trial { generation },
            _ => Ticket::Pass,
        }
    }

    #[inline]
    fn is_trial(self) -> bool {
        self.0 & 0b11 == TOKEN_TRIAL
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.breaker.name())
            .field("trial", &self.token.is_trial())
            .finish()
    }
}

impl Permit<'_> {
    /// Whether this permit is a half-open trial.
    ///
    /// ```
    /// # use resilience_runtime::breaker::{BreakerPolicy, CircuitBreaker};
    /// let b = CircuitBreaker::new("a", BreakerPolicy::new());
    /// assert!(!b.try_acquire().unwrap().is_trial());
    /// ```
    #[inline]
    pub fn is_trial(&self) -> bool {
        self.token.is_trial()
    }

    /// The call succeeded (a slow success may still count as slow).
    ///
    /// ```
    /// # use resilience_runtime::breaker::{BreakerPolicy, CircuitBreaker};
    /// let b = CircuitBreaker::new("a", BreakerPolicy::new());
    /// b.try_acquire().unwrap().success();
    /// ```
    #[inline(always)]
    pub fn success(self) {
        // A closed token is its ticket as it is (nothing else in the word).
        if self.token.0 & 0b11 == TOKEN_CLOSED
            && self.breaker.engine.closed_success(self.token.0, now_us)
        {
            // Recorded, and nothing to release.
            std::mem::forget(self);
            return;
        }
        self.settle(Verdict::Success);
    }

    /// The call failed in a way that counts against the service.
    ///
    /// ```
    /// # use resilience_runtime::breaker::{BreakerPolicy, CircuitBreaker};
    /// let b = CircuitBreaker::new("a", BreakerPolicy::new());
    /// b.try_acquire().unwrap().failure();
    /// assert_eq!(b.snapshot().consecutive_failures, 1);
    /// ```
    pub fn failure(self) {
        self.settle(Verdict::Failure);
    }

    /// The call failed with `outcome`: a failure unless it is
    /// [`Outcome::Permanent`], which is ignored.
    ///
    /// ```
    /// # use resilience_runtime::breaker::{BreakerPolicy, CircuitBreaker};
    /// # use resilience_runtime::Outcome;
    /// let b = CircuitBreaker::new("a", BreakerPolicy::new());
    /// b.try_acquire().unwrap().record(Outcome::Permanent);
    /// assert_eq!(b.snapshot().consecutive_failures, 0);
    /// ```
    pub fn record(self, outcome: Outcome) {
        self.settle(if outcome.counts_as_failure() {
            Verdict::Failure
        } else {
            Verdict::Ignored
        });
    }

    /// The call tells nothing about the service: not counted, and a trial
    /// permit is given back.
    ///
    /// ```
    /// # use resilience_runtime::breaker::{BreakerPolicy, CircuitBreaker};
    /// let b = CircuitBreaker::new("a", BreakerPolicy::new());
    /// b.try_acquire().unwrap().ignore();
    /// ```
    pub fn ignore(self) {
        self.settle(Verdict::Ignored);
    }

    /// Reports `verdict`; the permit is consumed without running its
    /// `Drop`.
    #[inline(always)]
    fn settle(self, verdict: Verdict) {
        let permit = std::mem::ManuallyDrop::new(self);
        settle(permit.breaker, permit.token, permit.started, verdict);
    }
}

/// Reports a permit's verdict. Takes the permit's words by value, so
/// they stay in registers: a `&mut Permit` here made the caller spill the
/// permit to the stack on every call, fast path included, and the slot was
/// then read back as part of the call's result, a store-forwarding stall
/// that cost more than the breaker itself.
#[inline(never)]
fn settle(breaker: &CircuitBreaker, token: Token, started: u64, verdict: Verdict) {
    let engine = &breaker.engine;
    let slow = match engine.policy.slow_call {
        Some(slow_call) => {
            // A clock that moved back since the start reads as no time.
            Duration::from_micros(now_us().saturating_sub(started)) >= slow_call
        }
        None => false,
    };
    engine.finish(token.ticket(), verdict, slow, now_us);
}

impl Drop for Permit<'_> {
    #[inline]
    fn drop(&mut self) {
        abandon(self.breaker, self.token, self.started);
    }
}

/// A permit dropped without a verdict: the thread is panicking (a
/// failure), or the call was cancelled (not counted; a trial gives its
/// place back).
#[cold]
#[inline(never)]
fn abandon(breaker: &CircuitBreaker, token: Token, started: u64) {
    if std::thread::panicking() {
        settle(breaker, token, started, Verdict::Failure);
    } else {
        cancelled(breaker, token);
    }
}

/// A call dropped before it finished: not counted; a trial gives its
/// place back. This is how a [`BreakerFuture`] holding a pending call's
/// permit ends, whatever the thread is doing: the call's own panic can
/// only come from its `poll`, during which the permit is not held by the
/// future but by a local of `poll` (dropped by that unwinding, a failure).
/// A drop of the future while the thread panics is someone else's panic
/// (a sibling in a `join!`, a task torn down), so a cancellation.
#[cold]
#[inline(never)]
fn cancelled(breaker: &CircuitBreaker, token: Token) {
    if token.is_trial() {
        settle(breaker, token, 0, Verdict::Ignored);
    }
}

pin_project! {
    /// The future returned by [`CircuitBreaker::call`].
    ///
    /// The breaker is asked at the first poll; an open circuit makes it
    /// ready at once with the rejection, without polling the call.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the call; a half-open trial permit it held is
    /// given back, and the call counts as neither success nor failure,
    /// also when the drop comes from another panic unwinding (a sibling
    /// in a `join!`). Only a panic of the call itself, while it is polled,
    /// counts as a failure.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience_runtime::breaker::{BreakerPolicy, CircuitBreaker};
    /// # use std::io;
    /// let b = CircuitBreaker::new("a", BreakerPolicy::new());
    /// let fut = b.call(async { Ok::<_, io::Error>(5) }); // nothing asked yet
    /// assert_eq!(fut.await.unwrap(), 5);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct BreakerFuture<'a, F, C, E> {
        #[pin]
        call: F,
        breaker: &'a CircuitBreaker,
        classify: C,
        reject: fn(Rejection) -> E,
        // The permit of a call that is pending: its token (the breaker is
        // above). A plain value with no drop glue, so that completing and
        // dropping the future costs one check, inline, and the code of a
        // permit's `Drop` stays out of every caller's `poll`.
        held: Option<(Token, u64)>,
    }

    impl<F, C, E> PinnedDrop for BreakerFuture<'_, F, C, E> {
        #[inline]
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some((token, _)) = this.held.take() {
                cancelled(this.breaker, token);
            }
        }
    }
}

impl<F, C, E> fmt::Debug for BreakerFuture<'_, F, C, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerFuture")
            .field("breaker", &self.breaker.name())
            .field("holds_permit", &self.held.is_some())
            .finish_non_exhaustive()
    }
}

impl<F, C, T, E> Future for BreakerFuture<'_, F, C, E>
where
    F: Future<Output = Result<T, E>>,
    C: Fn(&E) -> Outcome,
{
    type Output = Result<T, E>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The permit lives in a local while the call is polled and goes
        // back into the future only if the call is pending: a call ready
        // on its first poll (the common case) never stores, takes and
        // re-checks it through the future's memory. A panic in the call
        // drops the local while unwinding, which counts as a failure: the
        // one place where the call's own panic can be seen (see
        // `cancelled`). This costs the success path nothing.
        let permit = match this.held.take() {
            Some((token, started)) => Permit {
                breaker: this.breaker,
                token,
                started,
            },
            None => match this.breaker.admit() {
                Ok(permit) => permit,
                Err(retry_after) => {
                    return Poll::Ready(Err((this.reject)(this.breaker.rejection(retry_after))));
                }
            },
        };
        // Taken apart and rebuilt rather than inspected in place: `Ok(v)`
        // then moves only `v`, not the whole (possibly large) result.
        match this.call.poll(cx) {
            Poll::Ready(Ok(value)) => {
                permit.success();
                Poll::Ready(Ok(value))
            }
            Poll::Ready(Err(error)) => {
                permit.record((this.classify)(&error));
                Poll::Ready(Err(error))
            }
            Poll::Pending => {
                let permit = std::mem::ManuallyDrop::new(permit);
                *this.held = Some((permit.token, permit.started));
                Poll::Pending
            }
        }
    }
}

#[cfg(all(test, not(resilience_loom)))]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn breaker_and_its_future_are_send_and_sync() {
        assert_send_sync::<CircuitBreaker>();
        assert_send_sync::<Permit<'static>>();
        assert_send_sync::<
            BreakerFuture<
                'static,
                std::future::Ready<Result<(), Rejection>>,
                fn(&Rejection) -> Outcome,
                Rejection,
            >,
        >();
    }

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
