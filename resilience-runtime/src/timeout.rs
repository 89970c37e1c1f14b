//! `#[timeout]`: drop a call that runs past its deadline.

use crate::sync::{AtomicU64, Ordering, const_unless_loom};
use resilience_schema::{expect, timeout as schema};
use std::borrow::Cow;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use crate::Rejection;
use crate::deadline;
use crate::latency::LatencyWindow;
use crate::registry::{CallCounters, Calls, Description, Kind, Policy, Snapshot};
use crate::time;

/// A fixed timeout: a call still running after `duration` is dropped
/// (cancelled) and fails with [`Rejection::Timeout`].
///
/// Used by `#[timeout("2s")]`, or directly as a wrapper.
///
/// # Timing
///
/// The clock starts when the call first waits (its first `Pending`), which
/// is when it was first polled for any call that does asynchronous work. A
/// call that finishes on its first poll never reads the clock or arms a
/// timer, so the fast path costs a branch. A call that waits gets its
/// timer then, in one small allocation (the future stays a few words
/// larger than the call's). Time is tokio's clock, so
/// `tokio::time::pause()` drives it in tests.
///
/// # Cancel safety
///
/// Dropping the returned future drops the inner call; nothing is kept.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience::{Rejection, Timeout};
/// use std::time::Duration;
///
/// static LOOKUP: Timeout = Timeout::new("lookup", Duration::from_millis(50));
///
/// let slow = async {
///     tokio::time::sleep(Duration::from_secs(1)).await;
///     Ok::<u32, Rejection>(1)
/// };
/// let err = LOOKUP.call(slow).await.unwrap_err();
/// assert!(matches!(err, Rejection::Timeout { .. }));
/// # }
/// ```
#[derive(Debug)]
pub struct Timeout {
    name: Cow<'static, str>,
    duration: crate::live::LiveDuration,
    calls: CallCounters,
    timed_out: std::sync::atomic::AtomicU64,
}

/// A copy with the same name and duration, and counters from zero.
impl Clone for Timeout {
    fn clone(&self) -> Self {
        Timeout {
            name: self.name.clone(),
            duration: crate::live::LiveDuration::new(self.duration.get()),
            calls: CallCounters::new(),
            timed_out: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

/// A fixed [`Timeout`]'s duration and counters (see [`Timeout::snapshot`]).
///
/// ```
/// use resilience::Timeout;
/// use std::time::Duration;
///
/// let s = Timeout::new("doc-timeout-snapshot", Duration::from_secs(2)).snapshot();
/// assert_eq!(s.timeout, Duration::from_secs(2));
/// assert_eq!(s.calls.rejected, 0); // calls timed out
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TimeoutSnapshot {
    /// The timeout in force.
    pub timeout: Duration,
    /// Calls by outcome; `rejected` counts the calls that timed out.
    pub calls: Calls,
}

impl Timeout {
    /// A timeout of `duration` named `name` (usable in a `static`).
    /// A duration past what an `Instant` can hold (`Duration::MAX`) is a
    /// deadline about 30 years away, as with `tokio::time::sleep`.
    ///
    /// # Panics
    ///
    /// If `duration` is zero (every call would fail); in a `static`, at
    /// compile time.
    ///
    /// ```
    /// # use resilience::Timeout;
    /// # use std::time::Duration;
    /// static T: Timeout = Timeout::new("search", Duration::from_secs(2));
    /// assert_eq!(T.duration(), Duration::from_secs(2));
    /// ```
    pub const fn new(name: &'static str, duration: Duration) -> Self {
        expect(schema::check_duration(duration));
        Timeout {
            name: Cow::Borrowed(name),
            duration: crate::live::LiveDuration::new(duration),
            calls: CallCounters::new(),
            timed_out: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// A timeout with a name built at run time (one per host, per tenant).
    ///
    /// # Panics
    ///
    /// As [`Timeout::new`].
    ///
    /// ```
    /// # use resilience::Timeout;
    /// # use std::time::Duration;
    /// let host = "eu-1";
    /// let t = Timeout::named(format!("api@{host}"), Duration::from_secs(1));
    /// assert_eq!(t.name(), "api@eu-1");
    /// ```
    pub fn named(name: impl Into<Cow<'static, str>>, duration: Duration) -> Self {
        let mut timeout = Timeout::new("", duration);
        timeout.name = name.into();
        timeout
    }

    /// The instance name carried by its rejections.
    ///
    /// ```
    /// # use resilience::Timeout;
    /// # use std::time::Duration;
    /// assert_eq!(Timeout::new("a", Duration::from_secs(1)).name(), "a");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How long a call may run.
    ///
    /// ```
    /// # use resilience::Timeout;
    /// # use std::time::Duration;
    /// assert_eq!(Timeout::new("a", Duration::from_secs(1)).duration(), Duration::from_secs(1));
    /// ```
    pub fn duration(&self) -> Duration {
        self.duration.get()
    }

    /// The duration and the calls by outcome so far.
    ///
    /// ```
    /// # use resilience::Timeout;
    /// # use std::time::Duration;
    /// assert_eq!(Timeout::new("a", Duration::from_secs(1)).snapshot().calls.total(), 0);
    /// ```
    pub fn snapshot(&self) -> TimeoutSnapshot {
        TimeoutSnapshot {
            timeout: self.duration(),
            calls: self
                .calls
                .read(self.timed_out.load(std::sync::atomic::Ordering::Relaxed)),
        }
    }

    /// Runs `call` under this timeout.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::{Rejection, Timeout};
    /// # use std::time::Duration;
    /// let t = Timeout::new("fast", Duration::from_secs(1));
    /// let answer = t.call(async { Ok::<_, Rejection>(42) }).await;
    /// assert_eq!(answer, Ok(42));
    /// # }
    /// ```
    pub fn call<F, T, E>(&self, call: F) -> TimeoutFuture<'_, F, E>
    where
        F: Future<Output = Result<T, E>>,
        E: From<Rejection>,
    {
        self.call_with(call, E::from)
    }

    /// Like [`Timeout::call`], with `reject` turning the rejection into `E`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::Timeout;
    /// # use std::time::Duration;
    /// let t = Timeout::new("t", Duration::from_millis(5));
    /// let out: Result<(), String> = t.call_with(std::future::pending(), |r| r.to_string()).await;
    /// assert_eq!(out.unwrap_err(), "`t` timed out after 5ms");
    /// # }
    /// ```
    pub fn call_with<F, T, E>(&self, call: F, reject: fn(Rejection) -> E) -> TimeoutFuture<'_, F, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        TimeoutFuture {
            call,
            armed: ManuallyDrop::new(None),
            limit: Limit::Fixed(self),
            reject,
        }
    }
}

/// Samples needed before the adaptive timeout trusts its quantile; until
/// then it uses `max`.
const MIN_SAMPLES: u64 = 20;

/// A timeout set from observed latency: `quantile × multiplier` of the
/// recent calls (P99 × 2 by default), kept within `[min, max]`; `max` until
/// enough calls have been seen.
///
/// Each call's latency is recorded (a timed-out call counts as the timeout
/// it hit) in a lock-free [`LatencyWindow`] of about the last 10 s. The
/// timeout is recomputed from it every few calls.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use resilience::AdaptiveTimeout;
/// use resilience::Rejection;
/// use std::time::Duration;
///
/// static SEARCH: AdaptiveTimeout =
///     AdaptiveTimeout::new("search", 0.99, 2.0, Duration::from_millis(50), Duration::from_secs(5));
/// assert_eq!(SEARCH.current(), Duration::from_secs(5)); // no data yet: `max`
/// for _ in 0..100 {
///     SEARCH
///         .call(async {
///             tokio::time::sleep(Duration::from_millis(100)).await;
///             Ok::<_, Rejection>(())
///         })
///         .await
///         .unwrap();
/// }
/// let now = SEARCH.current();
/// assert!(now >= Duration::from_millis(200) && now <= Duration::from_millis(230), "{now:?}");
/// # }
/// ```
#[derive(Debug)]
pub struct AdaptiveTimeout {
    name: Cow<'static, str>,
    quantile: f64,
    multiplier: f64,
    min: Duration,
    max: Duration,
    window: LatencyWindow,
    /// The timeout in force, in nanoseconds; 0 until computed.
    current: AtomicU64,
    recorded: AtomicU64,
    calls: CallCounters,
    timed_out: std::sync::atomic::AtomicU64,
}

/// What an [`AdaptiveTimeout`] currently does.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct AdaptiveTimeoutSnapshot {
    /// The timeout applied to the next call (the adaptive value in force).
    pub current: Duration,
    /// Latencies in the window.
    pub samples: u64,
    /// The configured quantile of those latencies, if any.
    pub observed: Option<Duration>,
    /// Calls by outcome; `rejected` counts the calls that timed out.
    pub calls: Calls,
}

impl AdaptiveTimeout {
    const_unless_loom! {
        /// An adaptive timeout (usable in a `static`): `quantile × multiplier`
        /// of recent latency, within `[min, max]`. A `max` of `Duration::MAX`
        /// leaves it unbounded above.
        ///
        /// # Panics
        ///
        /// As `#[timeout(adaptive, …)]` refuses them at compile time (and, in a
        /// `static`, also at compile time): a `quantile` outside `(0, 1]`, a
        /// `multiplier` below 1 or not finite (NaN included), a zero `min`, or
        /// `min` not below `max`.
        ///
        /// ```
        /// # use resilience::AdaptiveTimeout;
        /// # use std::time::Duration;
        /// static T: AdaptiveTimeout =
        ///     AdaptiveTimeout::new("t", 0.99, 2.0, Duration::from_millis(50), Duration::from_secs(5));
        /// ```
        pub fn new(
            name: &'static str,
            quantile: f64,
            multiplier: f64,
            min: Duration,
            max: Duration,
        ) -> Self {
            // The schema's rules and sentences, as `#[timeout(adaptive, …)]`.
            expect(schema::check_quantile(quantile));
            expect(schema::check_multiplier(multiplier));
            expect(schema::check_min(min));
            expect(schema::check_min_below_max(Some(min), Some(max)));
            AdaptiveTimeout {
                name: Cow::Borrowed(name),
                quantile,
                multiplier,
                min,
                max,
                window: LatencyWindow::new(Duration::from_secs(10)),
                current: AtomicU64::new(0),
                recorded: AtomicU64::new(0),
                calls: CallCounters::new(),
                timed_out: std::sync::atomic::AtomicU64::new(0),
            }
        }
    }

    /// The instance name carried by its rejections.
    ///
    /// ```
    /// # use resilience::AdaptiveTimeout;
    /// # use std::time::Duration;
    /// let t = AdaptiveTimeout::new("t", 0.99, 2.0, Duration::from_millis(1), Duration::from_secs(1));
    /// assert_eq!(t.name(), "t");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The timeout the next call gets.
    ///
    /// ```
    /// # use resilience::AdaptiveTimeout;
    /// # use std::time::Duration;
    /// let t = AdaptiveTimeout::new("t", 0.99, 2.0, Duration::from_millis(1), Duration::from_secs(3));
    /// assert_eq!(t.current(), Duration::from_secs(3));
    /// ```
    pub fn current(&self) -> Duration {
        match self.current.load(Ordering::Relaxed) {
            0 => self.max,
            nanos => Duration::from_nanos(nanos),
        }
    }

    /// The current timeout, the samples behind it and the observed quantile.
    ///
    /// ```
    /// # use resilience::AdaptiveTimeout;
    /// # use std::time::Duration;
    /// let t = AdaptiveTimeout::new("t", 0.99, 2.0, Duration::from_millis(1), Duration::from_secs(3));
    /// assert_eq!(t.snapshot().samples, 0);
    /// ```
    pub fn snapshot(&self) -> AdaptiveTimeoutSnapshot {
        AdaptiveTimeoutSnapshot {
            current: self.current(),
            samples: self.window.samples(),
            observed: self.window.quantile(self.quantile),
            calls: self
                .calls
                .read(self.timed_out.load(std::sync::atomic::Ordering::Relaxed)),
        }
    }

    fn record(&self, started: Instant, now: Instant) {
        let renewed = self
            .window
            .record_renewing(now.saturating_duration_since(started), now);
        let n = self.recorded.fetch_add(1, Ordering::Relaxed) + 1;
        // Recomputing scans the buckets: often while warming up, then
        // every 32 calls, and whenever old latencies left the window (after
        // a quiet spell, all of them).
        if renewed || n <= 2 * MIN_SAMPLES || n.is_multiple_of(32) {
            let next = if self.window.samples_at(now) < MIN_SAMPLES {
                self.max
            } else {
                // `try_from`: a product past `Duration::MAX` is `max`, not a
                // panic inside the caller's call.
                self.window
                    .quantile_at(self.quantile, now)
                    .and_then(|q| {
                        Duration::try_from_secs_f64(q.as_secs_f64() * self.multiplier).ok()
                    })
                    .unwrap_or(self.max)
                    .clamp(self.min, self.max)
            };
            // Whole milliseconds: tokio's timer resolution.
            let millis =
                u64::try_from(next.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX / 1_000_000);
            let next = Duration::from_millis(millis);
            let nanos = u64::try_from(next.as_nanos()).unwrap_or(u64::MAX).max(1);
            if self.current.swap(nanos, Ordering::Relaxed) != nanos {
                tracing::debug!(name = %self.name, layer = "timeout", timeout = ?next, "resilience: adaptive timeout changed");
            }
        }
    }

    /// Runs `call` under the current timeout and records its latency.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::{AdaptiveTimeout, Rejection};
    /// # use std::time::Duration;
    /// let t = AdaptiveTimeout::new("t", 0.99, 2.0, Duration::from_millis(1), Duration::from_secs(3));
    /// assert_eq!(t.call(async { Ok::<_, Rejection>(1) }).await, Ok(1));
    /// # }
    /// ```
    pub fn call<F, T, E>(&self, call: F) -> TimeoutFuture<'_, F, E>
    where
        F: Future<Output = Result<T, E>>,
        E: From<Rejection>,
    {
        self.call_with(call, E::from)
    }

    /// Like [`AdaptiveTimeout::call`], with `reject` turning the rejection into `E`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::AdaptiveTimeout;
    /// # use std::time::Duration;
    /// let t = AdaptiveTimeout::new("t", 0.99, 2.0, Duration::from_millis(1), Duration::from_millis(5));
    /// let out: Result<(), String> = t.call_with(std::future::pending(), |r| r.to_string()).await;
    /// assert!(out.is_err());
    /// # }
    /// ```
    pub fn call_with<F, T, E>(&self, call: F, reject: fn(Rejection) -> E) -> TimeoutFuture<'_, F, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        TimeoutFuture {
            call,
            armed: ManuallyDrop::new(None),
            limit: Limit::Adaptive(self),
            reject,
        }
    }
}

impl crate::registry::Registrable for AdaptiveTimeout {
    const KIND: &'static str = "adaptive_timeout";
    fn same_settings(&self, other: &Self) -> bool {
        (self.quantile, self.multiplier, self.min, self.max)
            == (other.quantile, other.multiplier, other.min, other.max)
    }

    fn describe(&self) -> Description {
        let policy = Policy::new()
            .with("quantile", self.quantile)
            .with("multiplier", self.multiplier)
            .with_duration("min", self.min)
            .with_duration("max", self.max);
        Description::new(
            Kind::AdaptiveTimeout,
            self.name(),
            policy,
            Snapshot::AdaptiveTimeout(self.snapshot()),
        )
    }
}

impl crate::registry::Registrable for Timeout {
    const KIND: &'static str = "timeout";
    fn same_settings(&self, other: &Self) -> bool {
        self.duration() == other.duration()
    }

    fn describe(&self) -> Description {
        Description::new(
            Kind::Timeout,
            self.name(),
            Policy::new().with_duration("duration", self.duration()),
            Snapshot::Timeout(self.snapshot()),
        )
    }
}

/// Which timeout a [`TimeoutFuture`] enforces.
#[derive(Debug)]
enum Limit<'a> {
    Fixed(&'a Timeout),
    Adaptive(&'a AdaptiveTimeout),
}

impl Limit<'_> {
    /// The call completed: an adaptive timeout records its latency since
    /// `started`.
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn finished(&self, ok: bool, started: Instant) {
        self.counters().0.record(ok);
        if let Limit::Adaptive(timeout) = self {
            timeout.record(started, Instant::now());
        }
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn counters(&self) -> (&CallCounters, &std::sync::atomic::AtomicU64) {
        match self {
            Limit::Fixed(t) => (&t.calls, &t.timed_out),
            Limit::Adaptive(timeout) => (&timeout.calls, &timeout.timed_out),
        }
    }

    /// The duration a call is given (an adaptive timeout's current one).
    fn duration(&self) -> Duration {
        match self {
            Limit::Fixed(t) => t.duration(),
            Limit::Adaptive(timeout) => timeout.current(),
        }
    }

    fn name(&self) -> &Cow<'static, str> {
        match self {
            Limit::Fixed(t) => &t.name,
            Limit::Adaptive(timeout) => &timeout.name,
        }
    }
}

pin_project! {
    /// What a call that waits needs: its timer, and when its clock
    /// started (the deadline's own start, for the elapsed time of a cut
    /// call; an adaptive timeout's first poll, for its latency).
    #[derive(Debug)]
    struct Armed {
        #[pin]
        sleep: Sleep,
        started: Instant,
    }
}

pin_project! {
    /// The future returned by [`Timeout::call`].
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct TimeoutFuture<'a, F, E> {
        #[pin]
        call: F,
        // Boxed, and made when the call first waits: a call that answers
        // on its first poll (the common case) neither allocates nor
        // carries a timer's room in its future (a tokio `Sleep` is
        // several times the size of the rest), which every caller's
        // future would hold and move.
        // In a `ManuallyDrop`, let go by the drop below: a field with drop
        // glue made every caller's drop of a finished call an out-of-line
        // call into that glue (two calls deep, ~24 instructions) to find
        // nothing to free.
        armed: ManuallyDrop<Option<Pin<Box<Armed>>>>,
        limit: Limit<'a>,
        reject: fn(Rejection) -> E,
    }

    impl<F, E> PinnedDrop for TimeoutFuture<'_, F, E> {
        #[inline]
        fn drop(this: Pin<&mut Self>) {
            let armed = this.project().armed;
            if armed.is_some() {
                disarm(armed);
            }
        }
    }
}

/// Frees the timer of a call that waited (its drop deregisters it).
#[cold]
#[inline(never)]
fn disarm(armed: &mut ManuallyDrop<Option<Pin<Box<Armed>>>>) {
    drop(ManuallyDrop::into_inner(std::mem::replace(
        armed,
        ManuallyDrop::new(None),
    )));
}

impl<F, T, E> Future for TimeoutFuture<'_, F, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, E>;

    // Always: with the timer's code out of line it is small, and a layer
    // around it left to LLVM's choice kept its own poll and drop out of
    // line (~25 instructions per call in a three-layer stack).
    //
    // This `poll` is instantiated for every timed function of the
    // user's crate (issue 23, compile time): what follows a later poll,
    // or an adaptive timeout's first, is generic over the result alone
    // (`settle`) or not at all (the timer, a call's first wait). The
    // first poll of a fixed timeout, the common case, matches the call's
    // result here: passed to a helper (even one always inlined), the
    // result went through the stack and the layer around lost that it
    // was ready, +3 to +6 instructions per call in a three-layer stack
    // (`scripts/instructions.sh retry_timeout_bulkhead_macro`: 186 with
    // the helper, 180 here), for 78 more LLVM lines per timed function
    // (`cargo llvm-lines` on `scripts/compile_cost.sh`'s crate: 146 -> 224).
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The deadline is in force for everything the call polls
        // (`deadline::remaining`, an inner `#[retry]` or timeout).
        //
        // A fixed timeout's first poll: the deadline is "now + duration",
        // the clock read only on demand, so a call that answers at once
        // never reads it. Taken apart and rebuilt rather than moved
        // whole: `Ok(v)` then moves only `v`. Moved whole, the result was
        // written in words and read back in 16-byte chunks, a
        // store-forwarding stall per call.
        if let (None, Limit::Fixed(timeout)) = (&**this.armed, &*this.limit) {
            let entered = deadline::enter_lazy_nanos(timeout.duration.get_nanos());
            match this.call.poll(cx) {
                Poll::Ready(Ok(value)) => {
                    drop(entered);
                    timeout.calls.record(true);
                    return Poll::Ready(Ok(value));
                }
                Poll::Ready(Err(error)) => {
                    drop(entered);
                    timeout.calls.record(false);
                    return Poll::Ready(Err(error));
                }
                Poll::Pending => {}
            }
            let rejection = ready!(first_wait(entered, this.armed, this.limit, cx));
            return Poll::Ready(Err((*this.reject)(rejection)));
        }
        // A call that waits already (its deadline), or an adaptive
        // timeout's first poll (which reads the clock to record the
        // latency).
        let (entered, started) = enter_at(this.armed, this.limit);
        let out = this.call.poll(cx);
        settle(
            out,
            entered,
            started,
            this.armed,
            this.limit,
            *this.reject,
            cx,
        )
    }
}

/// What follows a poll of the call that waits already, or of an adaptive
/// timeout's first: the outer deadline scope put back and the call
/// counted if it completed (an adaptive timeout records its latency),
/// else its timer armed or polled. Generic over the result alone, not the
/// call: one copy serves every timed function with the same result type
/// (issue 23, compile time).
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn settle<T, E>(
    out: Poll<Result<T, E>>,
    entered: deadline::EnteredAt,
    started: Instant,
    armed: &mut ManuallyDrop<Option<Pin<Box<Armed>>>>,
    limit: &Limit<'_>,
    reject: fn(Rejection) -> E,
    cx: &mut Context<'_>,
) -> Poll<Result<T, E>> {
    match out {
        Poll::Ready(Ok(value)) => {
            drop(entered);
            limit.finished(true, started);
            Poll::Ready(Ok(value))
        }
        Poll::Ready(Err(error)) => {
            drop(entered);
            limit.finished(false, started);
            Poll::Ready(Err(error))
        }
        Poll::Pending => {
            let rejection = ready!(wait(entered, started, armed, limit, cx));
            Poll::Ready(Err(reject(rejection)))
        }
    }
}

/// The deadline scope of a call that waits already or of an adaptive
/// timeout's first poll, and when the call's clock started.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn enter_at(armed: &Option<Pin<Box<Armed>>>, limit: &Limit<'_>) -> (deadline::EnteredAt, Instant) {
    if let Some(armed) = armed {
        return (deadline::enter_at(armed.sleep.deadline()), armed.started);
    }
    let started = Instant::now();
    let own = time::deadline(started, limit.duration());
    (deadline::enter_at(own), started)
}

/// A fixed timeout's call waits for the first time: its timer is made
/// and polled once. Out of line: the code of a call ready on its first
/// poll stays small enough for the layers around it to inline.
#[inline(never)]
fn first_wait(
    entered: deadline::EnteredLazy,
    armed: &mut ManuallyDrop<Option<Pin<Box<Armed>>>>,
    limit: &Limit<'_>,
    cx: &mut Context<'_>,
) -> Poll<Rejection> {
    let scope = entered.exit();
    // Saturating: `Duration::MAX` is a deadline that never comes. An outer
    // timeout's deadline, if sooner, is this one's too.
    let started = scope.start().unwrap_or_else(Instant::now);
    let deadline = scope
        .deadline_from(started)
        .unwrap_or_else(|| time::deadline(started, limit.duration()));
    arm(armed, deadline, started, limit, cx)
}

/// A call that waits already has its timer polled; an adaptive timeout's
/// call waiting for the first time has its timer made. Out of line, as
/// [`first_wait`].
#[inline(never)]
fn wait(
    entered: deadline::EnteredAt,
    started: Instant,
    armed: &mut ManuallyDrop<Option<Pin<Box<Armed>>>>,
    limit: &Limit<'_>,
    cx: &mut Context<'_>,
) -> Poll<Rejection> {
    if let Some(armed) = &mut **armed {
        drop(entered);
        ready!(armed.as_mut().project().sleep.poll(cx));
        return Poll::Ready(timed_out(armed, limit));
    }
    // An adaptive timeout's first wait: its scope held its own deadline,
    // or an outer one that comes sooner.
    let scope = entered.exit();
    let deadline = scope
        .deadline_from(started)
        .unwrap_or_else(|| time::deadline(started, limit.duration()));
    arm(armed, deadline, started, limit, cx)
}

/// Makes the timer of a call that waits, and polls it once: ready with
/// the rejection if it fired already. Out of line: the code of a call
/// ready on its first poll stays small enough for the layers around it
/// to inline.
#[inline(never)]
fn arm(
    armed: &mut ManuallyDrop<Option<Pin<Box<Armed>>>>,
    deadline: Instant,
    started: Instant,
    limit: &Limit<'_>,
    cx: &mut Context<'_>,
) -> Poll<Rejection> {
    let armed = armed.insert(Box::pin(Armed {
        sleep: time::sleep_until(deadline, time::TIMEOUT),
        started,
    }));
    ready!(armed.as_mut().project().sleep.poll(cx));
    Poll::Ready(timed_out(armed, limit))
}

/// The rejection of a call whose timer fired (an adaptive timeout
/// records it as a call that took its timeout).
#[cold]
#[inline(never)]
fn timed_out(armed: &Pin<Box<Armed>>, limit: &Limit<'_>) -> Rejection {
    let deadline = armed.sleep.deadline();
    let elapsed = deadline.saturating_duration_since(armed.started);
    if let Limit::Adaptive(timeout) = limit {
        timeout.record(armed.started, deadline);
    }
    limit
        .counters()
        .1
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = limit.name();
    tracing::debug!(name = %name, layer = "timeout", elapsed = ?elapsed, "resilience: call timed out");
    crate::events::emit(|| crate::events::Event::Timeout {
        name: name.to_string(),
        after: elapsed,
    });
    Rejection::Timeout {
        name: name.clone(),
        elapsed,
    }
}

/// Reload (issue 14): a new duration, in place.
impl Timeout {
    /// Changes the duration. A call that is already waiting keeps the
    /// deadline it was given when it first waited; later calls get the
    /// new one. What `resilience::config` does on a reload (feature
    /// `config`).
    ///
    /// # Panics
    ///
    /// If `duration` is zero, as [`Timeout::new`].
    ///
    /// ```
    /// use resilience::Timeout;
    /// use std::time::Duration;
    ///
    /// static SEARCH: Timeout = Timeout::new("search", Duration::from_secs(2));
    /// SEARCH.reconfigure(Duration::from_millis(500));
    /// assert_eq!(SEARCH.duration(), Duration::from_millis(500));
    /// ```
    pub fn reconfigure(&self, duration: Duration) {
        expect(schema::check_duration(duration));
        self.duration.set(duration);
    }
}

// For the tower layer (`crate::tower`), whose futures own their handle to
// the timeout (an `Arc` or a `&'static`).
#[cfg(feature = "tower")]
impl Timeout {
    /// The name as the rejection carries it (no copy of a static name).
    pub(crate) fn name_cow(&self) -> &Cow<'static, str> {
        &self.name
    }
}

#[cfg(feature = "tower")]
impl AdaptiveTimeout {
    /// The name as the rejection carries it.
    pub(crate) fn name_cow(&self) -> &Cow<'static, str> {
        &self.name
    }

    /// Records a call that started at `started` and ended at `now`.
    pub(crate) fn record_held(&self, started: Instant, now: Instant) {
        self.record(started, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn times_out_at_the_deadline() {
        let t = Timeout::new("t", Duration::from_millis(100));
        let start = Instant::now();
        let out: Result<(), Rejection> = t.call(std::future::pending()).await;
        assert_eq!(start.elapsed(), Duration::from_millis(100));
        assert_eq!(
            out,
            Err(Rejection::timeout("t", Duration::from_millis(100)))
        );
    }

    /// Issue 23: the timer is made, boxed, when the call first waits; a
    /// future that held it inline was several times larger, and every
    /// caller's future carried and moved that room.
    #[test]
    fn the_future_of_a_call_carries_no_timer() {
        type Call = std::future::Ready<Result<u64, Rejection>>;
        let own = size_of::<TimeoutFuture<'static, Call, Rejection>>() - size_of::<Call>();
        assert!(own <= 48, "a timeout adds {own} bytes to its call's future");
        assert!(own < size_of::<Sleep>());
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_waits_is_cut_at_its_deadline_and_its_timer_freed() {
        let t = Timeout::new("t", Duration::from_millis(100));
        let mut call = Box::pin(t.call(std::future::pending::<Result<(), Rejection>>()));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(call.as_mut().poll(&mut cx).is_pending());
        tokio::time::advance(Duration::from_millis(99)).await;
        assert!(call.as_mut().poll(&mut cx).is_pending());
        drop(call); // a pending call dropped: its timer goes with it
        let out: Result<(), Rejection> = t.call(std::future::pending()).await;
        assert_eq!(
            out,
            Err(Rejection::timeout("t", Duration::from_millis(100)))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn finishes_before_the_deadline() {
        let t = Timeout::new("t", Duration::from_millis(100));
        let out = t
            .call(async {
                tokio::time::sleep(Duration::from_millis(99)).await;
                Ok::<_, Rejection>(7)
            })
            .await;
        assert_eq!(out, Ok(7));
    }
}
