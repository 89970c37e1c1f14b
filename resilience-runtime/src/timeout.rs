//! `#[timeout]`: drop a call that runs past its deadline.

use crate::sync::{AtomicU64, Ordering, const_unless_loom};
use resilience_schema::{expect, timeout as schema};
use std::borrow::Cow;
use std::future::Future;
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
/// timer, so the fast path costs a branch. Time is tokio's clock, so
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
            timer: None,
            started: None,
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
            timer: None,
            started: None,
            limit: Limit::Adaptive {
                timeout: self,
                started: None,
            },
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
    Adaptive {
        timeout: &'a AdaptiveTimeout,
        /// When the call was first polled (adaptive only: it records latency).
        started: Option<Instant>,
    },
}

impl Limit<'_> {
    /// The call completed: an adaptive timeout records its latency.
    #[inline(always)]
    fn finished(&self, ok: bool) {
        self.counters().0.record(ok);
        if let Limit::Adaptive {
            timeout,
            started: Some(started),
        } = self
        {
            timeout.record(*started, Instant::now());
        }
    }

    #[inline(always)]
    fn counters(&self) -> (&CallCounters, &std::sync::atomic::AtomicU64) {
        match self {
            Limit::Fixed(t) => (&t.calls, &t.timed_out),
            Limit::Adaptive { timeout, .. } => (&timeout.calls, &timeout.timed_out),
        }
    }

    fn name(&self) -> &Cow<'static, str> {
        match self {
            Limit::Fixed(t) => &t.name,
            Limit::Adaptive { timeout, .. } => &timeout.name,
        }
    }
}

pin_project! {
    /// The future returned by [`Timeout::call`].
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct TimeoutFuture<'a, F, E> {
        #[pin]
        call: F,
        #[pin]
        timer: Option<Sleep>,
        // When the clock started, once the call waited (the deadline's
        // own start, for the elapsed time of a cut call).
        started: Option<Instant>,
        limit: Limit<'a>,
        reject: fn(Rejection) -> E,
    }
}

impl<F, T, E> Future for TimeoutFuture<'_, F, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Limit::Adaptive {
            started: started @ None,
            ..
        } = this.limit
        {
            *started = Some(Instant::now());
        }
        // The deadline is in force for everything the call polls
        // (`deadline::remaining`, an inner `#[retry]` or timeout). Before
        // the clock starts it is "now + duration", read only on demand, so
        // a call that answers at once still never reads the clock.
        let entered = match (this.timer.as_ref().get_ref(), &*this.limit) {
            (Some(timer), _) => deadline::enter_at(timer.deadline()),
            (None, Limit::Fixed(timeout)) => deadline::enter_lazy(timeout.duration()),
            (None, Limit::Adaptive { timeout, started }) => deadline::enter_at(time::deadline(
                started.unwrap_or_else(Instant::now),
                timeout.current(),
            )),
        };
        // Taken apart and rebuilt rather than moved whole: `Ok(v)` then
        // moves only `v`. Moved whole, the result was written in words and
        // read back in 16-byte chunks, a store-forwarding stall per call.
        // A call that answered only puts the outer deadline back; what
        // the scope held is read only to arm the timer.
        match this.call.poll(cx) {
            Poll::Ready(Ok(value)) => {
                drop(entered);
                this.limit.finished(true);
                return Poll::Ready(Ok(value));
            }
            Poll::Ready(Err(error)) => {
                drop(entered);
                this.limit.finished(false);
                return Poll::Ready(Err(error));
            }
            Poll::Pending => {}
        }
        let scope = entered.exit();
        if this.timer.is_none() {
            // Saturating: `Duration::MAX` is a deadline that never comes.
            // An outer timeout's deadline, if sooner, is this one's too.
            let (start, own) = match this.limit {
                Limit::Fixed(timeout) => (
                    scope.start().unwrap_or_else(Instant::now),
                    timeout.duration(),
                ),
                Limit::Adaptive { timeout, started } => {
                    (started.unwrap_or_else(Instant::now), timeout.current())
                }
            };
            *this.started = Some(start);
            let deadline = scope
                .deadline_from(start)
                .unwrap_or_else(|| time::deadline(start, own));
            this.timer
                .set(Some(time::sleep_until(deadline, time::TIMEOUT)));
        }
        let Some(mut timer) = this.timer.as_pin_mut() else {
            return Poll::Pending;
        };
        ready!(timer.as_mut().poll(cx));
        let deadline = timer.deadline();
        let elapsed = match this.limit {
            Limit::Fixed(timeout) => this.started.map_or(timeout.duration(), |start| {
                deadline.saturating_duration_since(start)
            }),
            Limit::Adaptive { timeout, started } => {
                let started = started.unwrap_or(deadline);
                timeout.record(started, deadline);
                deadline - started
            }
        };
        timed_out(this.limit, elapsed);
        let name = this.limit.name();
        Poll::Ready(Err((this.reject)(Rejection::Timeout {
            name: name.clone(),
            elapsed,
        })))
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

/// Counts and reports a call that timed out.
#[cold]
#[inline(never)]
fn timed_out(limit: &Limit<'_>, elapsed: Duration) {
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
