//! `#[hedge]`: when a call is slow to answer, start another one and take
//! whichever answers `Ok` first.

use resilience_schema::{expect, hedge as schema};
use std::borrow::Cow;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use std::sync::atomic::{AtomicU64, Ordering};

use crate::latency::LatencyWindow;
use crate::registry::{CallCounters, Calls, Description, Kind, Policy, Snapshot};
use crate::sync::const_unless_loom;

/// Samples needed before an adaptive delay is trusted; until then no hedge
/// is sent (hedging on a guess would add load, not cut latency).
const MIN_SAMPLES: u64 = 20;

/// When to send a hedge.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Delay {
    Fixed(Duration),
    /// The observed `quantile` (P95) of successful attempts.
    Adaptive {
        quantile: f64,
    },
}

/// Sends up to `max_hedges` extra attempts, `delay` apart, while no attempt
/// has answered; the first `Ok` wins and the others are dropped
/// (cancelled). If every attempt fails, the last error is returned; an
/// attempt that fails while others are in flight does not end the call.
///
/// # Cancel safety
///
/// Dropping the call drops every attempt in flight.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use resilience::Hedge;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
///
/// static LOOKUP: Hedge = Hedge::new("lookup", Duration::from_millis(50), 1);
/// let attempts = AtomicU32::new(0);
/// let answer = LOOKUP
///     .call(|| async {
///         // The first attempt is stuck; the hedge answers.
///         if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
///             std::future::pending::<()>().await;
///         }
///         Ok::<_, std::io::Error>("hedged")
///     })
///     .await;
/// assert_eq!(answer.unwrap(), "hedged");
/// # }
/// ```
#[derive(Debug)]
pub struct Hedge {
    name: Cow<'static, str>,
    delay: Delay,
    max_hedges: u32,
    latencies: LatencyWindow,
    counts: Counts,
}

#[derive(Debug)]
struct Counts {
    calls: CallCounters,
    started: AtomicU64,
    won: AtomicU64,
}

impl Counts {
    const fn new() -> Counts {
        Counts {
            calls: CallCounters::new(),
            started: AtomicU64::new(0),
            won: AtomicU64::new(0),
        }
    }
}

/// A [`Hedge`]'s delay and counters (see [`Hedge::snapshot`]).
///
/// ```
/// use resilience::Hedge;
/// use std::time::Duration;
/// let s = Hedge::new("doc-hedge-snapshot", Duration::from_millis(50), 1).snapshot();
/// assert_eq!((s.delay, s.hedges_started, s.hedges_won), (Some(Duration::from_millis(50)), 0, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct HedgeSnapshot {
    /// The delay before a hedge now (`None`: adaptive, not enough samples yet).
    pub delay: Option<Duration>,
    /// Hedges started.
    pub hedges_started: u64,
    /// Calls answered by a hedge rather than the first attempt.
    pub hedges_won: u64,
    /// Calls by outcome.
    pub calls: Calls,
}

impl Hedge {
    const_unless_loom! {
        /// Hedges after a fixed `delay`.
        ///
        /// # Panics
        ///
        /// If `delay` is zero or `max_hedges` is 0, as `#[hedge]` refuses
        /// them; in a `static`, at compile time.
        ///
        /// ```
        /// # use resilience::Hedge;
        /// # use std::time::Duration;
        /// static H: Hedge = Hedge::new("h", Duration::from_millis(50), 1);
        /// ```
        pub fn new(name: &'static str, delay: Duration, max_hedges: u32) -> Hedge {
            expect(schema::check_delay(delay));
            assert_hedges(max_hedges);
            Hedge {
                name: Cow::Borrowed(name),
                delay: Delay::Fixed(delay),
                max_hedges,
                latencies: LatencyWindow::new(Duration::from_secs(10)),
                counts: Counts::new(),
            }
        }
    }

    const_unless_loom! {
        /// Hedges after the observed P95 latency of successful attempts (no
        /// hedge until 20 have been seen).
        ///
        /// # Panics
        ///
        /// If `max_hedges` is 0; in a `static`, at compile time.
        ///
        /// ```
        /// # use resilience::Hedge;
        /// static H: Hedge = Hedge::adaptive("h", 1);
        /// assert_eq!(H.current_delay(), None);
        /// ```
        pub fn adaptive(name: &'static str, max_hedges: u32) -> Hedge {
            assert_hedges(max_hedges);
            Hedge {
                name: Cow::Borrowed(name),
                delay: Delay::Adaptive {
                quantile: schema::ADAPTIVE_QUANTILE,
            },
                max_hedges,
                latencies: LatencyWindow::new(Duration::from_secs(10)),
                counts: Counts::new(),
            }
        }
    }

    /// The instance name used in events.
    ///
    /// ```
    /// # use resilience::Hedge;
    /// # use std::time::Duration;
    /// assert_eq!(Hedge::new("h", Duration::from_millis(5), 1).name(), "h");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How long an attempt may run before the next hedge starts; `None`
    /// while an adaptive delay has too few samples.
    ///
    /// ```
    /// # use resilience::Hedge;
    /// # use std::time::Duration;
    /// let h = Hedge::new("h", Duration::from_millis(5), 1);
    /// assert_eq!(h.current_delay(), Some(Duration::from_millis(5)));
    /// ```
    pub fn current_delay(&self) -> Option<Duration> {
        match self.delay {
            Delay::Fixed(delay) => Some(delay),
            Delay::Adaptive { quantile } => {
                let now = Instant::now();
                (self.latencies.samples_at(now) >= MIN_SAMPLES)
                    .then(|| self.latencies.quantile_at(quantile, now))
                    .flatten()
            }
        }
    }

    /// Records the latency of an attempt that started at `started`, with one
    /// clock read.
    fn record(&self, started: Instant) {
        let now = Instant::now();
        self.latencies
            .record_at(now.saturating_duration_since(started), now);
    }

    /// Calls `make_attempt()` for the first attempt and for each hedge.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::Hedge;
    /// # use std::time::Duration;
    /// let h = Hedge::new("h", Duration::from_millis(5), 1);
    /// let out = h.call(|| async { Ok::<_, std::io::Error>(3) }).await;
    /// assert_eq!(out.unwrap(), 3);
    /// # }
    /// ```
    pub async fn call<F, Fut, T, E>(&self, make_attempt: F) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_with_retry_on_ok(make_attempt, |_| false).await
    }

    /// Like [`call`](Self::call), and an `Ok` value for which
    /// `retry_on_ok` returns `true` does not win: like an error, it ends
    /// the call only when no other attempt is in flight, and then it is
    /// returned as it is (the last answer, as the last error would be).
    ///
    /// What `#[hedge(retry_on_ok = path)]` does.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use resilience::Hedge;
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::time::Duration;
    ///
    /// static STATUS: Hedge = Hedge::new("status", Duration::from_millis(50), 1);
    /// let attempts = AtomicU32::new(0);
    /// let status = STATUS
    ///     .call_with_retry_on_ok(
    ///         || async {
    ///             if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
    ///                 // The first attempt is slow, and then answers 503.
    ///                 tokio::time::sleep(Duration::from_millis(60)).await;
    ///                 return Ok::<u16, std::io::Error>(503);
    ///             }
    ///             tokio::time::sleep(Duration::from_millis(30)).await;
    ///             Ok(200)
    ///         },
    ///         |status| *status == 503,
    ///     )
    ///     .await;
    /// assert_eq!(status.unwrap(), 200); // the 503 came first, and lost
    /// # }
    /// ```
    pub async fn call_with_retry_on_ok<F, Fut, T, E, P>(
        &self,
        make_attempt: F,
        retry_on_ok: P,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        P: Fn(&T) -> bool,
    {
        let out = self.run(make_attempt, retry_on_ok).await;
        self.counts.calls.record(out.is_ok());
        out
    }

    /// The delay in force and the counters so far.
    ///
    /// ```
    /// # use resilience::Hedge;
    /// # use std::time::Duration;
    /// assert_eq!(Hedge::new("h", Duration::from_millis(5), 1).snapshot().calls.total(), 0);
    /// ```
    pub fn snapshot(&self) -> HedgeSnapshot {
        let c = &self.counts;
        HedgeSnapshot {
            delay: self.current_delay(),
            hedges_started: c.started.load(Ordering::Relaxed),
            hedges_won: c.won.load(Ordering::Relaxed),
            calls: c.calls.read(0),
        }
    }

    #[cold]
    fn hedge_started(&self, hedge: u32, delay: Duration) {
        self.counts.started.fetch_add(1, Ordering::Relaxed);
        tracing::info!(name = %self.name, layer = "hedge", hedge, ?delay, "resilience: no answer yet, sending a hedge");
        crate::events::emit(|| crate::events::Event::HedgeStarted {
            name: self.name.to_string(),
            hedge,
        });
    }

    async fn run<F, Fut, T, E, P>(&self, mut make_attempt: F, retry_on_ok: P) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        P: Fn(&T) -> bool,
    {
        let adaptive = matches!(self.delay, Delay::Adaptive { .. });
        let started = adaptive.then(Instant::now);
        let mut primary = pin!(Some(make_attempt()));
        let mut hedges: Vec<(Option<Instant>, Pin<Box<Fut>>)> = Vec::new();
        let mut timer: Pin<&mut Option<Sleep>> = pin!(None);
        // The last error, or `Ok` that `retry_on_ok` rejected.
        let mut last: Option<Result<T, E>> = None;
        let mut launched = 0u32;
        // Set once the deadline of a timeout around the call would pass
        // before the next hedge: none is sent.
        let mut past_deadline = false;
        // Read once the first attempt is pending: an attempt that answers
        // on its first poll never needs it (for an adaptive delay, a clock
        // read and a scan of the latency window).
        let mut delay: Option<Option<Duration>> = None;
        poll_fn(|cx| {
            loop {
                if let Some(attempt) = primary.as_mut().as_pin_mut()
                    && let Poll::Ready(out) = attempt.poll(cx)
                {
                    primary.set(None);
                    match out {
                        Ok(value) if !retry_on_ok(&value) => {
                            if let Some(started) = started {
                                self.record(started);
                            }
                            return Poll::Ready(Ok(value));
                        }
                        other => last = Some(other),
                    }
                }
                let mut index = 0;
                while index < hedges.len() {
                    match hedges[index].1.as_mut().poll(cx) {
                        Poll::Ready(Ok(value)) if !retry_on_ok(&value) => {
                            if let Some(started) = hedges[index].0 {
                                self.record(started);
                            }
                            self.counts.won.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(name = %self.name, layer = "hedge", "resilience: a hedge answered first");
                            return Poll::Ready(Ok(value));
                        }
                        Poll::Ready(other) => {
                            last = Some(other);
                            drop(hedges.swap_remove(index));
                        }
                        Poll::Pending => index += 1,
                    }
                }
                if primary.is_none()
                    && hedges.is_empty()
                    && let Some(out) = last.take()
                {
                    return Poll::Ready(out);
                }
                let delay = *delay.get_or_insert_with(|| self.current_delay());
                let Some(delay) = delay.filter(|_| launched < self.max_hedges && !past_deadline)
                else {
                    return Poll::Pending;
                };
                if timer.is_none() {
                    if let Some(left) = crate::deadline::would_pass(delay) {
                        tracing::debug!(name = %self.name, ?delay, ?left, "resilience: no hedge: it would start past the deadline of an outer timeout");
                        past_deadline = true;
                        return Poll::Pending;
                    }
                    timer.set(Some(crate::time::sleep(delay, crate::time::HEDGE)));
                }
                let Some(sleep) = timer.as_mut().as_pin_mut() else {
                    return Poll::Pending;
                };
                if sleep.poll(cx).is_pending() {
                    return Poll::Pending;
                }
                timer.set(None);
                launched += 1;
                self.hedge_started(launched, delay);
                hedges.push((adaptive.then(Instant::now), Box::pin(make_attempt())));
            }
        })
        .await
    }
}

/// The check `#[hedge]` makes of `max_hedges`, with its sentence.
const fn assert_hedges(max_hedges: u32) {
    expect(schema::check_max_hedges(max_hedges));
}

impl crate::registry::Registrable for Hedge {
    const KIND: &'static str = "hedge";
    fn same_settings(&self, other: &Self) -> bool {
        self.delay == other.delay && self.max_hedges == other.max_hedges
    }

    fn describe(&self) -> Description {
        let policy = match self.delay {
            Delay::Fixed(delay) => Policy::new().with_duration("delay", delay),
            Delay::Adaptive { quantile } => Policy::new()
                .with("delay", "adaptive")
                .with("quantile", quantile),
        }
        .with("max_hedges", self.max_hedges);
        Description::new(
            Kind::Hedge,
            self.name(),
            policy,
            Snapshot::Hedge(self.snapshot()),
        )
    }
}

// For the tower layer (`crate::tower`), which runs the attempts itself.
#[cfg(feature = "tower")]
impl Hedge {
    /// How many hedges a call may start.
    pub(crate) fn max_hedges(&self) -> u32 {
        self.max_hedges
    }

    /// Whether the delay follows observed latency (so answers are timed).
    pub(crate) fn is_adaptive(&self) -> bool {
        matches!(self.delay, Delay::Adaptive { .. })
    }

    /// Records an answer to an attempt that started at `started`.
    pub(crate) fn record_held(&self, started: Instant) {
        self.record(started);
    }
}
