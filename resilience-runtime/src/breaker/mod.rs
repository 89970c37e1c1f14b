//! `#[circuit_breaker]`: stop calling a service that keeps failing, and
//! probe it again after a pause.
//!
//! The instance type is [`CircuitBreaker`], configured by a
//! [`BreakerPolicy`]. It moves between the [`State`]s
//! Closed → Open → HalfOpen → Closed on its own, and can be forced open or
//! disabled by hand.

mod engine;
mod future;
mod permit;
mod policy;
mod window;

#[cfg(all(test, resilience_loom))]
mod loom_tests;
#[cfg(all(test, not(resilience_loom)))]
mod model_tests;
#[cfg(all(test, not(resilience_loom)))]
mod mutants_tests;

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::time::Instant;

use crate::registry::{CallCounters, Calls, Description, Kind, Policy, Registrable};
use crate::sync::const_unless_loom;
use crate::{Classify, Outcome, Rejection};
use engine::{Admission, Engine, Token};

pub use future::BreakerFuture;
pub use permit::Permit;
use policy::TripRule;
pub use policy::{BreakerPolicy, MAX_FAILURE_THRESHOLD, WindowSize};

/// Where a breaker stands.
///
/// ```
/// use resilience::breaker::{BreakerPolicy, CircuitBreaker, State};
///
/// let breaker = CircuitBreaker::new("doc-state", BreakerPolicy::new());
/// assert_eq!(breaker.state(), State::Closed);
/// breaker.force_open();
/// assert_eq!(breaker.state(), State::ForcedOpen);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
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
/// use resilience::breaker::{BreakerPolicy, CircuitBreaker, State, WindowSize};
///
/// let breaker = CircuitBreaker::new("doc-snapshot", BreakerPolicy::new().failure_rate(0.5, WindowSize::Calls(10)));
/// let s = breaker.snapshot();
/// assert_eq!(s.state, State::Closed);
/// assert_eq!(s.calls_in_window, 0);
/// assert_eq!(s.failure_rate, None);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
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
    /// Calls by outcome since the breaker was created (`failed` includes
    /// errors that do not count against the service).
    pub calls: Calls,
}

impl State {
    /// The state as metrics label it: `closed`, `open`, `half_open`,
    /// `forced_open`, `disabled`.
    ///
    /// ```
    /// assert_eq!(resilience::breaker::State::HalfOpen.label(), "half_open");
    /// ```
    pub const fn label(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
            State::ForcedOpen => "forced_open",
            State::Disabled => "disabled",
        }
    }

    /// Every state, for a gauge per state.
    pub const ALL: [State; 5] = [
        State::Closed,
        State::Open,
        State::HalfOpen,
        State::ForcedOpen,
        State::Disabled,
    ];
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
/// use resilience::breaker::{BreakerPolicy, CircuitBreaker, State};
/// use resilience::Rejection;
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
    calls: CallCounters,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.engine.name)
            .field("state", &self.state())
            .field("policy", &self.policy())
            .finish()
    }
}

impl CircuitBreaker {
    const_unless_loom! {
        /// A breaker usable in a `static`.
        ///
        /// ```
        /// # use resilience::breaker::{BreakerPolicy, CircuitBreaker};
        /// static B: CircuitBreaker = CircuitBreaker::new("search", BreakerPolicy::new());
        /// assert_eq!(B.name(), "search");
        /// ```
        pub fn new(name: &'static str, policy: BreakerPolicy) -> Self {
            CircuitBreaker {
                engine: Engine::new(Cow::Borrowed(name), policy),
                calls: CallCounters::new(),
            }
        }
    }

    /// A breaker with a name built at run time (one per host, per tenant).
    ///
    /// ```
    /// # use resilience::breaker::{BreakerPolicy, CircuitBreaker};
    /// let host = "eu-1";
    /// let b = CircuitBreaker::named(format!("api@{host}"), BreakerPolicy::new());
    /// assert_eq!(b.name(), "api@eu-1");
    /// ```
    pub fn named(name: impl Into<Cow<'static, str>>, policy: BreakerPolicy) -> Self {
        CircuitBreaker {
            engine: Engine::new(name.into(), policy),
            calls: CallCounters::new(),
        }
    }

    /// The instance name carried by its rejections and events.
    ///
    /// ```
    /// # use resilience::breaker::{BreakerPolicy, CircuitBreaker};
    /// assert_eq!(CircuitBreaker::new("a", BreakerPolicy::new()).name(), "a");
    /// ```
    #[inline]
    pub fn name(&self) -> &str {
        &self.engine.name
    }

    /// The policy.
    ///
    /// ```
    /// # use resilience::breaker::{BreakerPolicy, CircuitBreaker};
    /// let b = CircuitBreaker::new("a", BreakerPolicy::new().failure_threshold(9));
    /// assert_eq!(b.policy().get_failure_threshold(), Some(9));
    /// ```
    pub fn policy(&self) -> BreakerPolicy {
        self.engine.policy.get()
    }

    /// The current state. An open breaker whose `open_for` has passed
    /// reads `Open` until the next call turns it half-open.
    ///
    /// ```
    /// # use resilience::breaker::{BreakerPolicy, CircuitBreaker, State};
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
    /// # use resilience::breaker::{BreakerPolicy, CircuitBreaker, State};
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
    /// # use resilience::breaker::{BreakerPolicy, CircuitBreaker, State};
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
    /// # use resilience::breaker::{BreakerPolicy, CircuitBreaker, State};
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
    /// # use resilience::breaker::{BreakerPolicy, CircuitBreaker};
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
            calls: self.calls.read(r.rejections),
        }
    }

    /// Asks to make one call: a [`Permit`] to report its verdict with, or
    /// the rejection to return instead of calling.
    ///
    /// For code that does not fit [`call`](Self::call): make the call
    /// while holding the permit, then report.
    ///
    /// ```
    /// # use resilience::breaker::{BreakerPolicy, CircuitBreaker};
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
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn admit(&self) -> Result<Permit<'_>, Duration> {
        if let Some(token) = self.engine.admit_closed() {
            let started = if self.engine.policy.slow_call.is_some() {
                now_us()
            } else {
                0
            };
            return Ok(Permit {
                breaker: self,
                token,
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
        crate::events::rejected(
            crate::registry::Kind::CircuitBreaker,
            &self.engine.name,
            "circuit open",
            Some(retry_after),
        );
        Rejection::circuit_open(self.engine.name.clone(), retry_after)
    }

    /// Runs `call` through the breaker; its errors are classified by
    /// [`Classify`], and a rejection becomes `E` through `From`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::breaker::{BreakerPolicy, CircuitBreaker};
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
    /// # use resilience::breaker::{BreakerPolicy, CircuitBreaker, State};
    /// # use resilience::Outcome;
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

    /// Like [`call`](Self::call), and an `Ok` value for which
    /// `failure_on_ok` returns `true` counts as a failure of the service
    /// (an HTTP client's `Ok(response)` with a 503): the caller still gets
    /// the `Ok` as it is, and the breaker counts it toward opening.
    ///
    /// What `#[circuit_breaker(failure_on_ok = path)]` does.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use resilience::breaker::{BreakerPolicy, CircuitBreaker, State};
    /// use std::io;
    ///
    /// let b = CircuitBreaker::new("status", BreakerPolicy::new().failure_threshold(2));
    /// for _ in 0..2 {
    ///     let status: io::Result<u16> =
    ///         b.call_with_failure_on_ok(async { Ok(503) }, |status| *status >= 500).await;
    ///     assert_eq!(status.unwrap(), 503); // still the service's answer
    /// }
    /// assert_eq!(b.state(), State::Open);
    /// # }
    /// ```
    pub async fn call_with_failure_on_ok<F, T, E, P>(
        &self,
        call: F,
        failure_on_ok: P,
    ) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
        E: Classify + From<Rejection>,
        P: Fn(&T) -> bool,
    {
        self.call_judging_ok(call, <E as Classify>::classify, failure_on_ok, E::from)
            .await
    }

    /// [`call_with`](Self::call_with) with `failure_on_ok` judging the
    /// `Ok` values: one it rejects is recorded as [`Outcome::Fault`] and
    /// returned as it is. The breaker sees a `Result` whose error is the
    /// call's, that value, or its own rejection.
    pub(crate) async fn call_judging_ok<F, T, E, C, P>(
        &self,
        call: F,
        classify: C,
        failure_on_ok: P,
        reject: fn(Rejection) -> E,
    ) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
        C: Fn(&E) -> Outcome,
        P: Fn(&T) -> bool,
    {
        let judged = async {
            match call.await {
                Ok(value) if failure_on_ok(&value) => Err(Judged::FailedOk(value)),
                Ok(value) => Ok(value),
                Err(error) => Err(Judged::Err(error)),
            }
        };
        let outcome = |judged: &Judged<T, E>| match judged {
            Judged::Err(error) => classify(error),
            Judged::FailedOk(_) => Outcome::Fault,
            Judged::Rejected(_) => Outcome::Permanent,
        };
        match self.call_with(judged, outcome, Judged::Rejected).await {
            Ok(value) | Err(Judged::FailedOk(value)) => Ok(value),
            Err(Judged::Err(error)) => Err(error),
            Err(Judged::Rejected(rejection)) => Err(reject(rejection)),
        }
    }
}

/// What the breaker sees of a call judged by `failure_on_ok`.
enum Judged<T, E> {
    Err(E),
    /// An `Ok` counted as a failure, handed back to the caller.
    FailedOk(T),
    /// The breaker's own rejection (an open circuit).
    Rejected(Rejection),
}

/// Reload (issue 14): a new policy, in place, keeping the state.
impl CircuitBreaker {
    /// Changes the policy, keeping the state and counts: an open circuit
    /// stays open, its open period measured from when it opened under the
    /// new `open_for`; failures in a row and a rate window's calls stay
    /// counted and are judged by the new threshold or rate at the next
    /// call that reports (a threshold lowered below the failures counted
    /// opens the circuit at the next failure); half-open trials in flight
    /// finish, and report under the new `success_threshold`. A call in
    /// flight reports under the policy in force when it ends. What
    /// `resilience::config` does on a reload (feature `config`).
    ///
    /// The trip rule's mode (consecutive or rate) and a rate window stay as
    /// the breaker was built (resizing a window in place would lose or
    /// invent calls): a `policy` that changes them is handed back, and
    /// nothing changes.
    ///
    /// ```
    /// use resilience::breaker::{BreakerPolicy, CircuitBreaker, State, WindowSize};
    /// use std::time::Duration;
    ///
    /// let b = CircuitBreaker::new("doc-reload", BreakerPolicy::new().failure_threshold(5));
    /// b.reconfigure(BreakerPolicy::new().failure_threshold(1)).unwrap();
    /// b.try_acquire().unwrap().failure();
    /// assert_eq!(b.state(), State::Open);
    ///
    /// let rate = BreakerPolicy::new().failure_rate(0.5, WindowSize::Calls(10));
    /// assert_eq!(b.reconfigure(rate), Err(rate));
    /// ```
    pub fn reconfigure(&self, policy: BreakerPolicy) -> Result<(), BreakerPolicy> {
        if !self.engine.policy.same_shape(&policy) {
            return Err(policy);
        }
        self.engine.policy.set(&policy);
        Ok(())
    }
}

impl Registrable for CircuitBreaker {
    const KIND: &'static str = "circuit_breaker";

    fn same_settings(&self, other: &Self) -> bool {
        self.policy() == other.policy()
    }

    fn describe(&self) -> Description {
        let p = self.policy();
        let mut policy = match p.trip {
            TripRule::Consecutive { failure_threshold } => {
                Policy::new().with("failure_threshold", failure_threshold)
            }
            TripRule::Rate {
                failure_rate,
                window,
                min_calls,
            } => {
                let policy = Policy::new().with("failure_rate", failure_rate);
                match window {
                    WindowSize::Calls(n) => policy.with("window", n),
                    WindowSize::Time(d) => policy.with_duration("window", d),
                }
                .with("min_calls", min_calls)
            }
        };
        if let Some(slow_call) = p.slow_call {
            policy = policy
                .with_duration("slow_call", slow_call)
                .with("slow_call_rate", p.slow_call_rate);
        }
        policy = policy
            .with_duration("open_for", p.open_for)
            .with("success_threshold", p.success_threshold)
            .with("half_open_max_calls", p.half_open_max_calls);
        if let Some(wait) = p.half_open_max_wait {
            policy = policy.with_duration("half_open_max_wait", wait);
        }
        Description::new(
            Kind::CircuitBreaker,
            self.name(),
            policy,
            crate::registry::Snapshot::CircuitBreaker(self.snapshot()),
        )
    }
}

// For the tower layer (`crate::tower`), whose futures own their handle
// to the breaker (an `Arc` or a `&'static`) and so cannot keep a `Permit`
// that borrows it: the permit's words, taken out and put back.
#[cfg(feature = "tower")]
#[derive(Debug)]
pub(crate) struct HeldPermit {
    token: Token,
    started: u64,
}

#[cfg(feature = "tower")]
impl CircuitBreaker {
    /// The permit's words, without running its `Drop`.
    pub(crate) fn hold(permit: Permit<'_>) -> HeldPermit {
        let permit = std::mem::ManuallyDrop::new(permit);
        HeldPermit {
            token: permit.token,
            started: permit.started,
        }
    }

    /// The permit `hold` took apart.
    pub(crate) fn resume(&self, held: HeldPermit) -> Permit<'_> {
        Permit {
            breaker: self,
            token: held.token,
            started: held.started,
        }
    }

    /// A held permit whose call was dropped: not counted, a trial given
    /// back (as a dropped [`BreakerFuture`]).
    pub(crate) fn release_held(&self, held: HeldPermit) {
        permit::cancelled(self, held.token);
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
}
