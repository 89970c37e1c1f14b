//! `#[adaptive_concurrency]`: a limit on calls in flight that follows the
//! dependency's latency, with priority load shedding.

mod algorithm;
mod engine;

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use resilience_schema::adaptive_concurrency::{
    self as schema, check_backoff_ratio, check_max, check_min, check_priority_share,
    check_slow_call, check_smoothing, check_tolerance, check_window,
};
use resilience_schema::expect;
use tokio::time::{Instant, Sleep};

pub use resilience_schema::adaptive_concurrency::Algorithm as LimitAlgorithm;

use self::algorithm::{Estimator, Params, Sample};
use self::engine::{Admit, Engine, Status, Ticket};
use crate::live::{LiveDuration, LiveF64, LiveU64};
use crate::registry::Registrable;
use crate::sync::{AtomicU64, AtomicUsize, Mutex, Ordering, const_unless_loom};
use crate::{Outcome, Rejection};

/// An adaptive concurrency limit: at most `limit` calls in flight, where
/// the limit follows each call's latency and outcome by one of three
/// algorithms (see [`LimitAlgorithm`] and below); a call at the limit waits
/// up to `max_wait` (by default it does not wait), and is otherwise
/// refused with [`Rejection::ConcurrencyLimited`], which classifies as
/// transient with a `retry_after` of about one call's latency.
///
/// Used by `#[adaptive_concurrency(algorithm = "vegas", max = 200)]`, or
/// directly: [`AdaptiveConcurrency::call`] wraps a future,
/// [`AdaptiveConcurrency::acquire`] hands out a permit whose outcome you
/// record.
///
/// # The update rules
///
/// The limit is updated once a `window` (100 ms by default), from the
/// calls that ended in it (at least 10): their mean latency `rtt`, the
/// most calls in flight at a completion, and whether one failed (an error
/// that does not classify as `Permanent`). Each rule is ours, written from
/// its definition in Netflix's concurrency-limits (`AIMDLimit`,
/// `VegasLimit`, `GradientLimit`, `Gradient2Limit`); the limit stays within
/// `min..=max`. All three compare `rtt` with `rtt_noload`, the latency
/// without queueing, which a probe measures:
///
/// - **Probe** (after Netflix's `GradientLimit` probe and Envoy's adaptive
///   concurrency filter, which measure the least latency at a lowered
///   limit): every 100 windows (10 s), and after 10 windows in a row slower
///   than 2 × `rtt_noload`, the limit is halved; once the calls in flight
///   have drained to it (at most 10 windows), one window is measured; if
///   it was at least 25 % faster than the step before, the queue was still
///   draining and the limit is halved again. The least latency seen is
///   `rtt_noload` until the next probe (a faster window lowers it at
///   once), and the limit goes back to where it was, or to twice the last
///   probed limit if halving had lowered the latency (any higher limit was
///   queueing). A probe costs a few windows at half the limit or less (1–2
///   % of goodput at capacity). The first probe comes after 10 windows.
/// - `Aimd`: a failure, a window slower than `slow_call` (5 s), or one
///   slower than `tolerance` × `rtt_noload` (1.5) multiplies the limit by
///   `backoff_ratio` (0.9, and at least 1 less); otherwise, when at least
///   half of it was in use, it grows by 1. (Netflix's only latency signal
///   is the absolute timeout, which cannot follow a dependency that gets
///   slower or faster.) It settles between 0.9 and 1 × `tolerance` × the
///   knee, the concurrency past which the dependency queues.
/// - `Vegas`: the queue is `ceil(limit × (1 − rtt_noload / rtt))`; with
///   `t = max(1, log10(limit))`: a failure gives `limit − t`; queue ≤ t,
///   `limit + 6t`; queue < 3t, `limit + t`; queue > 6t, `limit − t`;
///   otherwise no change. It settles 3t to 6t calls above the knee.
/// - `Gradient2` (the default): `gradient = clamp(tolerance × rtt_noload /
///   rtt, 0.5, 1)` (`tolerance` 1.5); the limit moves `smoothing` (0.2) of
///   the way to `limit × gradient + 4`. It settles near `tolerance` × the
///   knee + 4. (Netflix's `Gradient2Limit` compares with a long-term
///   average latency instead, which learns queueing as normal: from a
///   limit 5× too high it stayed at 2× the knee.)
///
/// All three leave the limit alone in a window with less than half of it
/// in use and no failure (AIMD: nor slow): an idle caller says nothing
/// about capacity.
///
/// Measured on a simulated dependency that queues past 40 calls
/// (tests/adaptive_concurrency_overload.rs, `tolerance = 1.1`): from a
/// limit of 2 and of 200, each algorithm is within 25 % of the knee from
/// 10 s on (outside its probes); after a 4× slowdown, again within 10 s.
///
/// # Priorities
///
/// Each call has a priority, a `u8`, higher is more important (0 unless
/// given). Waiters are admitted highest priority first, first in first out
/// within one. A call of higher priority than the lowest waiter of a full
/// queue (`max_queue`) takes its place, and that waiter is shed. And while
/// a call of some priority waits, calls of lower priority are admitted only
/// below `priority_share` (0.5) of the limit, so they drain to that share
/// and the rest goes to the waiting priority.
///
/// # Cost
///
/// When the limit has room and nobody waits, admitting a call is one
/// compare-and-swap and its completion a few atomic additions and two
/// reads of the clock: no lock, no allocation. Once a window the call that
/// closes it runs the algorithm under a lock it only tries (never waits
/// for); callers that have to wait take a lock and allocate their place.
///
/// # Cancel safety
///
/// A call's place is given back when it finishes, is cancelled or panics;
/// a cancelled call is not measured. A waiter dropped before it is
/// admitted never keeps a place.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience::{AdaptiveConcurrency, LimitAlgorithm, Rejection};
///
/// static DB: AdaptiveConcurrency =
///     AdaptiveConcurrency::new("db", LimitAlgorithm::Vegas).min(1).initial(1).max(50);
///
/// let held = DB.try_acquire(0).expect("the first place is free");
/// let refused = DB.call(0, async { Ok::<_, Rejection>(()) }).await;
/// assert!(matches!(refused, Err(Rejection::ConcurrencyLimited { .. })));
/// held.success();
/// assert_eq!(DB.call(0, async { Ok::<_, Rejection>(7) }).await, Ok(7));
/// # }
/// ```
#[derive(Debug)]
pub struct AdaptiveConcurrency {
    name: Cow<'static, str>,
    params: Params,
    initial: usize,
    max_wait: LiveDuration,
    /// `u64::MAX`: no bound.
    max_queue: LiveU64,
    window: LiveDuration,
    share: LiveF64,
    engine: Engine,
    epoch: OnceLock<Instant>,
    /// The open window: its start (nanoseconds since `epoch`) and what
    /// ended in it.
    window_start: AtomicU64,
    calls: AtomicU64,
    rtt_sum: AtomicU64,
    drops: AtomicU64,
    max_in_flight: AtomicUsize,
    /// The last closed window's mean latency, in nanoseconds.
    last_rtt: AtomicU64,
    /// The algorithm's state and settings a configuration reload gave.
    tuned: Mutex<Tuned>,
    shed: Mutex<[u64; 256]>,
}

impl AdaptiveConcurrency {
    const_unless_loom! {
        /// A limiter named `name` following `algorithm`, with every other
        /// setting at its default (usable in a `static`): limit 20 within
        /// 1..=1000, no wait, windows of 100 ms.
        ///
        /// ```
        /// # use resilience::{AdaptiveConcurrency, LimitAlgorithm};
        /// static API: AdaptiveConcurrency = AdaptiveConcurrency::new("api", LimitAlgorithm::Gradient2);
        /// assert_eq!(API.snapshot().limit, 20);
        /// ```
        pub fn new(name: &'static str, algorithm: LimitAlgorithm) -> Self {
            let initial = schema::INITIAL as usize;
            AdaptiveConcurrency {
                name: Cow::Borrowed(name),
                params: Params {
                    algorithm,
                    min: schema::MIN as usize,
                    max: schema::MAX as usize,
                    backoff_ratio: schema::BACKOFF_RATIO,
                    slow_call: schema::SLOW_CALL,
                    tolerance: schema::TOLERANCE,
                    smoothing: schema::SMOOTHING,
                },
                initial,
                max_wait: LiveDuration::new(schema::MAX_WAIT),
                max_queue: LiveU64::new(u64::MAX),
                window: LiveDuration::new(schema::WINDOW),
                share: LiveF64::new(schema::PRIORITY_SHARE),
                engine: Engine::new(initial, share_1024(schema::PRIORITY_SHARE)),
                epoch: OnceLock::new(),
                window_start: AtomicU64::new(0),
                calls: AtomicU64::new(0),
                rtt_sum: AtomicU64::new(0),
                drops: AtomicU64::new(0),
                max_in_flight: AtomicUsize::new(0),
                last_rtt: AtomicU64::new(0),
                tuned: Mutex::new(Tuned {
                    estimator: None,
                    params: None,
                }),
                shed: Mutex::new([0; 256]),
            }
        }
    }

    /// A limiter with a name built at run time (one per host, per tenant).
    ///
    /// ```
    /// # use resilience::{AdaptiveConcurrency, LimitAlgorithm};
    /// let host = "eu-1";
    /// let l = AdaptiveConcurrency::named(format!("api@{host}"), LimitAlgorithm::Aimd);
    /// assert_eq!(l.name(), "api@eu-1");
    /// ```
    pub fn named(name: impl Into<Cow<'static, str>>, algorithm: LimitAlgorithm) -> Self {
        let mut limiter = AdaptiveConcurrency::new("", algorithm);
        limiter.name = name.into();
        limiter
    }

    const_unless_loom! {
        /// The smallest limit (default 1); the starting limit is raised to
        /// it if below.
        ///
        /// # Panics
        ///
        /// If `min` is 0 or above 2147483647; in a `static`, at compile time.
        ///
        /// ```
        /// # use resilience::{AdaptiveConcurrency, LimitAlgorithm};
        /// let l = AdaptiveConcurrency::new("api", LimitAlgorithm::Aimd).min(30);
        /// assert_eq!(l.snapshot().limit, 30);
        /// ```
        pub fn min(mut self, min: usize) -> Self {
            expect(check_min(min as u64));
            self.params.min = min;
            self.reset_limit()
        }
    }

    const_unless_loom! {
        /// The largest limit (default 1000); the starting limit is lowered to
        /// it if above.
        ///
        /// # Panics
        ///
        /// If `max` is 0 or above 2147483647.
        ///
        /// ```
        /// # use resilience::{AdaptiveConcurrency, LimitAlgorithm};
        /// let l = AdaptiveConcurrency::new("api", LimitAlgorithm::Aimd).max(8);
        /// assert_eq!(l.snapshot().limit, 8);
        /// ```
        pub fn max(mut self, max: usize) -> Self {
            expect(check_max(max as u64));
            self.params.max = max;
            self.reset_limit()
        }
    }

    const_unless_loom! {
        /// The limit before the first measurement (default 20), kept within
        /// `min..=max`.
        ///
        /// ```
        /// # use resilience::{AdaptiveConcurrency, LimitAlgorithm};
        /// let l = AdaptiveConcurrency::new("api", LimitAlgorithm::Vegas).initial(5);
        /// assert_eq!(l.snapshot().limit, 5);
        /// ```
        pub fn initial(mut self, initial: usize) -> Self {
            self.initial = initial;
            self.reset_limit()
        }
    }

    const_unless_loom! {
        /// How long a call at the limit may wait (default: not at all).
        ///
        /// ```
        /// # use resilience::{AdaptiveConcurrency, LimitAlgorithm};
        /// # use std::time::Duration;
        /// let l = AdaptiveConcurrency::new("api", LimitAlgorithm::Vegas).max_wait(Duration::from_millis(50));
        /// assert_eq!(l.get_max_wait(), Duration::from_millis(50));
        /// ```
        pub fn max_wait(mut self, max_wait: Duration) -> Self {
            self.max_wait = LiveDuration::new(max_wait);
            self
        }
    }

    const_unless_loom! {
        /// At most `max_queue` calls wait at once (default: no bound); a
        /// call of higher priority than the lowest waiter takes its place.
        ///
        /// ```
        /// # use resilience::{AdaptiveConcurrency, LimitAlgorithm};
        /// # use std::time::Duration;
        /// let l = AdaptiveConcurrency::new("api", LimitAlgorithm::Vegas)
        ///     .max_wait(Duration::from_millis(50))
        ///     .max_queue(100);
        /// # let _ = l;
        /// ```
        pub fn max_queue(mut self, max_queue: usize) -> Self {
            self.max_queue = LiveU64::new(max_queue as u64);
            self
        }
    }

    const_unless_loom! {
        /// How often the limit is updated (default 100 ms), from the calls
        /// that ended in the window (at least 10).
        ///
        /// # Panics
        ///
        /// If `window` is zero.
        ///
        /// ```
        /// # use resilience::{AdaptiveConcurrency, LimitAlgorithm};
        /// # use std::time::Duration;
        /// let l = AdaptiveConcurrency::new("api", LimitAlgorithm::Vegas).window(Duration::from_secs(1));
        /// # let _ = l;
        /// ```
        pub fn window(mut self, window: Duration) -> Self {
            expect(check_window(window));
            self.window = LiveDuration::new(window);
            self
        }
    }

    const_unless_loom! {
        /// AIMD: the factor a failure multiplies the limit by (default 0.9).
        ///
        /// # Panics
        ///
        /// Outside (0, 1).
        ///
        /// ```
        /// # use resilience::{AdaptiveConcurrency, LimitAlgorithm};
        /// let l = AdaptiveConcurrency::new("api", LimitAlgorithm::Aimd).backoff_ratio(0.5);
        /// # let _ = l;
        /// ```
        pub fn backoff_ratio(mut self, ratio: f64) -> Self {
            expect(check_backoff_ratio(ratio));
            self.params.backoff_ratio = ratio;
            self
        }
    }

    const_unless_loom! {
        /// AIMD: a window slower than this on average counts as failed,
        /// whatever the no-load latency (default 5 s).
        ///
        /// # Panics
        ///
        /// If zero.
        ///
        /// ```
        /// # use resilience::{AdaptiveConcurrency, LimitAlgorithm};
        /// # use std::time::Duration;
        /// let l = AdaptiveConcurrency::new("api", LimitAlgorithm::Aimd).slow_call(Duration::from_millis(200));
        /// # let _ = l;
        /// ```
        pub fn slow_call(mut self, slow_call: Duration) -> Self {
            expect(check_slow_call(slow_call));
            self.params.slow_call = slow_call;
            self
        }
    }

    const_unless_loom! {
        /// Gradient2 and AIMD: how much slower than the no-load latency
        /// calls may get before the limit shrinks (default 1.5).
        ///
        /// # Panics
        ///
        /// Below 1.
        ///
        /// ```
        /// # use resilience::{AdaptiveConcurrency, LimitAlgorithm};
        /// let l = AdaptiveConcurrency::new("api", LimitAlgorithm::Gradient2).tolerance(1.2);
        /// # let _ = l;
        /// ```
        pub fn tolerance(mut self, tolerance: f64) -> Self {
            expect(check_tolerance(tolerance));
            self.params.tolerance = tolerance;
            self
        }
    }

    const_unless_loom! {
        /// Gradient2: the weight of each new estimate (default 0.2).
        ///
        /// # Panics
        ///
        /// Outside (0, 1].
        ///
        /// ```
        /// # use resilience::{AdaptiveConcurrency, LimitAlgorithm};
        /// let l = AdaptiveConcurrency::new("api", LimitAlgorithm::Gradient2).smoothing(0.5);
        /// # let _ = l;
        /// ```
        pub fn smoothing(mut self, smoothing: f64) -> Self {
            expect(check_smoothing(smoothing));
            self.params.smoothing = smoothing;
            self
        }
    }

    const_unless_loom! {
        /// While a call of some priority waits, the share of the limit that
        /// calls of lower priority may hold (default 0.5).
        ///
        /// # Panics
        ///
        /// Outside (0, 1].
        ///
        /// ```
        /// # use resilience::{AdaptiveConcurrency, LimitAlgorithm};
        /// let l = AdaptiveConcurrency::new("api", LimitAlgorithm::Vegas).priority_share(0.2);
        /// # let _ = l;
        /// ```
        pub fn priority_share(mut self, share: f64) -> Self {
            expect(check_priority_share(share));
            self.share = LiveF64::new(share);
            self.engine.share = AtomicUsize::new(share_1024(share));
            self
        }
    }

    const_unless_loom! {
        fn reset_limit(mut self) -> Self {
            let (min, max) = (self.params.min, self.params.max);
            let mut limit = self.initial;
            if limit < min {
                limit = min;
            }
            if limit > max {
                limit = max;
            }
            self.engine.limit = AtomicUsize::new(limit);
            self
        }
    }

    /// The instance name carried by its rejections.
    ///
    /// ```
    /// # use resilience::{AdaptiveConcurrency, LimitAlgorithm};
    /// assert_eq!(AdaptiveConcurrency::new("db", LimitAlgorithm::Aimd).name(), "db");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The algorithm the limit follows.
    ///
    /// ```
    /// # use resilience::{AdaptiveConcurrency, LimitAlgorithm};
    /// let l = AdaptiveConcurrency::new("db", LimitAlgorithm::Aimd);
    /// assert_eq!(l.algorithm(), LimitAlgorithm::Aimd);
    /// ```
    pub fn algorithm(&self) -> LimitAlgorithm {
        self.params().algorithm
    }

    /// How long a call at the limit waits.
    ///
    /// ```
    /// # use resilience::{AdaptiveConcurrency, LimitAlgorithm};
    /// # use std::time::Duration;
    /// assert_eq!(AdaptiveConcurrency::new("db", LimitAlgorithm::Aimd).get_max_wait(), Duration::ZERO);
    /// ```
    pub fn get_max_wait(&self) -> Duration {
        self.max_wait.get()
    }

    fn get_max_queue(&self) -> Option<usize> {
        match self.max_queue.get() {
            u64::MAX => None,
            q => Some(q as usize),
        }
    }

    /// The algorithm's settings: the builder's, or a reload's.
    fn params(&self) -> Params {
        self.tuned_lock().params.unwrap_or(self.params)
    }

    fn tuned_lock(&self) -> crate::sync::MutexGuard<'_, Tuned> {
        self.tuned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A place for a call of `priority`, if the limit has room and nobody
    /// waits, without waiting. Lock-free and allocation-free; does not count
    /// as a rejection.
    ///
    /// ```
    /// # use resilience::{AdaptiveConcurrency, LimitAlgorithm};
    /// let l = AdaptiveConcurrency::new("db", LimitAlgorithm::Aimd).min(1).initial(1);
    /// let permit = l.try_acquire(0).unwrap();
    /// assert!(l.try_acquire(9).is_none());
    /// permit.success();
    /// ```
    #[inline]
    pub fn try_acquire(&self, priority: u8) -> Option<AdaptiveConcurrencyPermit<'_>> {
        self.engine
            .try_acquire(priority)
            .then(|| AdaptiveConcurrencyPermit::new(self))
    }

    /// Waits for a place for a call of `priority`: up to `max_wait`, behind
    /// waiters of the same or higher priority.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future gives up the caller's place in the queue.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::{AdaptiveConcurrency, LimitAlgorithm};
    /// let l = AdaptiveConcurrency::new("db", LimitAlgorithm::Vegas);
    /// let permit = l.acquire(3).await.unwrap();
    /// assert_eq!(l.snapshot().in_flight, 1);
    /// permit.success();
    /// assert_eq!(l.snapshot().in_flight, 0);
    /// # }
    /// ```
    pub fn acquire(&self, priority: u8) -> AdaptiveConcurrencyAcquire<'_> {
        AdaptiveConcurrencyAcquire {
            limiter: self,
            priority,
            queued: None,
        }
    }

    /// Runs `call` at `priority` within the limit; an `Err` counts as a
    /// failure. Refused with [`Rejection::ConcurrencyLimited`] when no place
    /// frees within `max_wait`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::{AdaptiveConcurrency, LimitAlgorithm, Rejection};
    /// let l = AdaptiveConcurrency::new("db", LimitAlgorithm::Gradient2);
    /// assert_eq!(l.call(0, async { Ok::<_, Rejection>(42) }).await, Ok(42));
    /// # }
    /// ```
    pub fn call<F, T, E>(&self, priority: u8, call: F) -> AdaptiveConcurrencyFuture<'_, F, E>
    where
        F: Future<Output = Result<T, E>>,
        E: From<Rejection>,
    {
        self.call_with(priority, call, |_| Outcome::Fault, E::from)
    }

    /// Like [`AdaptiveConcurrency::call`], with `classify` saying which
    /// errors count as failures (all but `Outcome::Permanent`) and `reject`
    /// turning the rejection into `E`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::{AdaptiveConcurrency, Classify, LimitAlgorithm};
    /// let l = AdaptiveConcurrency::new("db", LimitAlgorithm::Aimd);
    /// let out: Result<(), std::io::Error> = l
    ///     .call_with(0, async { Ok(()) }, |e: &std::io::Error| e.classify(), Into::into)
    ///     .await;
    /// assert!(out.is_ok());
    /// # }
    /// ```
    pub fn call_with<F, T, E>(
        &self,
        priority: u8,
        call: F,
        classify: fn(&E) -> Outcome,
        reject: fn(Rejection) -> E,
    ) -> AdaptiveConcurrencyFuture<'_, F, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        AdaptiveConcurrencyFuture {
            acquire: self.acquire(priority),
            permit: None,
            call,
            classify,
            reject,
        }
    }

    /// The current limit, calls in flight and waiting, and calls shed.
    ///
    /// ```
    /// # use resilience::{AdaptiveConcurrency, LimitAlgorithm};
    /// let l = AdaptiveConcurrency::new("db", LimitAlgorithm::Aimd).initial(4);
    /// let _p = l.try_acquire(0);
    /// let s = l.snapshot();
    /// assert_eq!((s.limit, s.in_flight, s.waiting, s.shed), (4, 1, 0, 0));
    /// ```
    pub fn snapshot(&self) -> AdaptiveConcurrencySnapshot {
        let shed = *self.shed_lock();
        let shed_by_priority: Vec<(u8, u64)> =
            (0..=255u8).zip(shed).filter(|(_, n)| *n > 0).collect();
        AdaptiveConcurrencySnapshot {
            algorithm: self.algorithm(),
            limit: self.engine.limit(),
            in_flight: self.engine.in_flight(),
            waiting: self.engine.waiting(),
            shed: shed_by_priority.iter().map(|(_, n)| n).sum(),
            shed_by_priority,
            latency: Duration::from_nanos(self.last_rtt.load(Ordering::Relaxed)),
        }
    }

    fn shed_lock(&self) -> crate::sync::MutexGuard<'_, [u64; 256]> {
        self.shed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[cold]
    fn reject(&self, priority: u8, why: &'static str) -> Rejection {
        self.count_shed(priority);
        let retry_after = self.retry_after();
        tracing::debug!(name = %self.name, layer = "adaptive_concurrency", priority, why, "resilience: concurrency limit reached, call rejected");
        crate::events::rejected(
            crate::registry::Kind::AdaptiveConcurrency,
            &self.name,
            why,
            Some(retry_after),
        );
        Rejection::concurrency_limited(self.name.clone(), retry_after)
    }

    #[cold]
    fn count_shed(&self, priority: u8) {
        self.shed_lock()[priority as usize] += 1;
    }

    /// About one call's latency: the last window's mean, or the window
    /// before any; at least a millisecond.
    fn retry_after(&self) -> Duration {
        match self.last_rtt.load(Ordering::Relaxed) {
            0 => self.window.get(),
            nanos => Duration::from_nanos(nanos),
        }
        .max(Duration::from_millis(1))
    }

    fn since_epoch(&self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_init(|| now);
        now.saturating_duration_since(epoch).as_nanos() as u64
    }

    /// A call admitted at `start` ended: `failed` says how (`None`:
    /// cancelled, not measured).
    #[inline]
    fn complete(&self, start: Instant, failed: Option<bool>) {
        let in_flight = self.engine.in_flight();
        self.engine.release();
        let Some(failed) = failed else { return };
        let now = Instant::now();
        let rtt = now.saturating_duration_since(start).as_nanos() as u64;
        let calls = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        self.rtt_sum.fetch_add(rtt, Ordering::Relaxed);
        if failed {
            self.drops.fetch_add(1, Ordering::Relaxed);
        }
        self.max_in_flight.fetch_max(in_flight, Ordering::Relaxed);
        let now = self.since_epoch(now);
        let opened = self.window_start.load(Ordering::Relaxed);
        if calls >= schema::MIN_SAMPLES && now.saturating_sub(opened) >= self.window.get_nanos() {
            self.close_window(opened, now);
        }
    }

    /// Runs the algorithm on the window that opened at `opened`, unless
    /// another call is doing it.
    #[cold]
    fn close_window(&self, opened: u64, now: u64) {
        let Ok(mut tuned) = self.tuned.try_lock() else {
            return;
        };
        if self
            .window_start
            .compare_exchange(opened, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let calls = self.calls.swap(0, Ordering::Relaxed);
        let rtt_sum = self.rtt_sum.swap(0, Ordering::Relaxed);
        let drops = self.drops.swap(0, Ordering::Relaxed);
        let in_flight = self.max_in_flight.swap(0, Ordering::Relaxed);
        if calls == 0 {
            return;
        }
        let rtt = (rtt_sum as f64 / calls as f64).max(1.0);
        self.last_rtt.store(rtt as u64, Ordering::Relaxed);
        let params = tuned.params.unwrap_or(self.params);
        let estimator = tuned
            .estimator
            .get_or_insert_with(|| Estimator::new(self.engine.limit()));
        let before = self.engine.limit();
        let limit = estimator.update(
            &params,
            Sample {
                rtt,
                calls,
                in_flight,
                dropped: drops > 0,
            },
        );
        self.engine.set_limit(limit);
        if limit != before {
            tracing::debug!(name = %self.name, from = before, to = limit, rtt_ms = rtt / 1e6, "resilience: concurrency limit changed");
        }
    }
}

/// A place taken for a tower service, which cannot keep a permit that
/// borrows the limiter: the service holds the start instant and gives the
/// place back with [`AdaptiveConcurrency::release_held`].
#[cfg(feature = "tower")]
#[derive(Debug)]
pub(crate) struct HeldWait {
    ticket: Option<Ticket>,
    timer: Pin<Box<Sleep>>,
}

#[cfg(feature = "tower")]
impl AdaptiveConcurrency {
    /// As [`AdaptiveConcurrencyAcquire`], with the place in the queue
    /// kept in `wait` by the caller: `Ok(start)` once admitted.
    pub(crate) fn poll_acquire_held(
        &self,
        priority: u8,
        wait: &mut Option<HeldWait>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Instant, Rejection>> {
        let engine = &self.engine;
        let held = match wait {
            Some(held) => held,
            None => {
                if engine.try_acquire(priority) {
                    return Poll::Ready(Ok(Instant::now()));
                }
                if self.max_wait.get().is_zero() {
                    return Poll::Ready(Err(self.reject(priority, "at the limit")));
                }
                let max_queue = self.get_max_queue().unwrap_or(usize::MAX);
                match engine.acquire_or_enqueue(priority, cx.waker(), max_queue) {
                    Admit::Acquired => return Poll::Ready(Ok(Instant::now())),
                    Admit::Full => return Poll::Ready(Err(self.reject(priority, "queue full"))),
                    Admit::Queued { ticket, displaced } => {
                        if let Some(lower) = displaced {
                            self.count_shed(lower);
                        }
                        wait.insert(HeldWait {
                            ticket: Some(ticket),
                            timer: Box::pin(crate::time::sleep(
                                self.max_wait.get(),
                                crate::time::ADAPTIVE_CONCURRENCY,
                            )),
                        })
                    }
                }
            }
        };
        let ticket = held
            .ticket
            .as_ref()
            .expect("a queued acquire holds its ticket");
        let status = match engine.poll_ticket(ticket, cx.waker()) {
            Status::Waiting if held.timer.as_mut().poll(cx).is_ready() => {
                engine.withdraw(held.ticket.take().expect("held"))
            }
            Status::Waiting => return Poll::Pending,
            done => {
                held.ticket.take();
                done
            }
        };
        *wait = None;
        Poll::Ready(match status {
            Status::Granted => Ok(Instant::now()),
            Status::Shed => Err(Rejection::concurrency_limited(
                self.name.clone(),
                self.retry_after(),
            )),
            Status::Waiting => Err(self.reject(priority, "no place freed within max_wait")),
        })
    }

    /// Gives up a place in the queue (a service dropped while it waited).
    pub(crate) fn leave_held_wait(&self, wait: HeldWait) {
        if let Some(ticket) = wait.ticket
            && self.engine.withdraw(ticket) == Status::Granted
        {
            self.engine.release();
        }
    }

    /// The refusal of a call that found no free place, counted and traced.
    pub(crate) fn refuse_held(&self, priority: u8) -> Rejection {
        self.reject(priority, "at the limit")
    }

    /// Takes a place only if one is free and nobody waits.
    pub(crate) fn try_acquire_held(&self, priority: u8) -> Option<Instant> {
        self.engine.try_acquire(priority).then(Instant::now)
    }

    /// Gives back a place taken at `start`: `failed` as for a permit
    /// (`None`: cancelled, not measured).
    pub(crate) fn release_held(&self, start: Instant, failed: Option<bool>) {
        self.complete(start, failed);
    }
}

/// For the configuration loader (`config/adaptive.rs`).
#[cfg(feature = "config")]
impl AdaptiveConcurrency {
    /// The settings in force, in the schema's terms (every option
    /// written: what a table does not mention keeps its value).
    pub(crate) fn settings(&self) -> schema::Settings {
        let p = self.params();
        schema::Settings {
            algorithm: Some(p.algorithm),
            min: Some(p.min as u64),
            max: Some(p.max as u64),
            initial: None,
            max_wait: Some(self.get_max_wait()).filter(|w| !w.is_zero()),
            max_queue: self.get_max_queue().map(|q| q as u64),
            window: Some(self.window.get()),
            backoff_ratio: (p.algorithm == LimitAlgorithm::Aimd).then_some(p.backoff_ratio),
            slow_call: (p.algorithm == LimitAlgorithm::Aimd).then_some(p.slow_call),
            tolerance: (p.algorithm != LimitAlgorithm::Vegas).then_some(p.tolerance),
            smoothing: (p.algorithm == LimitAlgorithm::Gradient2).then_some(p.smoothing),
            priority_share: Some(self.share.get()),
        }
    }

    /// Takes `s` in place, keeping its state: the calls in flight and
    /// waiting, the limit (moved into the new `min..=max`) and the
    /// measured no-load latency. `initial` only matters to a new instance.
    pub(crate) fn retune(&self, s: &schema::Settings) {
        let p = Params {
            algorithm: s.algorithm.unwrap_or(schema::ALGORITHM),
            min: s.min.unwrap_or(schema::MIN) as usize,
            max: s.max.unwrap_or(schema::MAX) as usize,
            backoff_ratio: s.backoff_ratio.unwrap_or(schema::BACKOFF_RATIO),
            slow_call: s.slow_call.unwrap_or(schema::SLOW_CALL),
            tolerance: s.tolerance.unwrap_or(schema::TOLERANCE),
            smoothing: s.smoothing.unwrap_or(schema::SMOOTHING),
        };
        let share = s.priority_share.unwrap_or(schema::PRIORITY_SHARE);
        self.max_wait.set(s.max_wait.unwrap_or(schema::MAX_WAIT));
        self.max_queue.set(s.max_queue.unwrap_or(u64::MAX));
        self.window.set(s.window.unwrap_or(schema::WINDOW));
        self.share.set(share);
        self.engine
            .share
            .store(share_1024(share), Ordering::Relaxed);
        let mut tuned = self.tuned_lock();
        tuned.params = Some(p);
        let limit = self.engine.limit().clamp(p.min, p.max);
        if let Some(estimator) = &mut tuned.estimator {
            estimator.estimate = estimator.estimate.clamp(p.min as f64, p.max as f64);
        }
        self.engine.set_limit(limit);
    }

    /// A new instance, not yet called: starts at the settings' `initial`.
    pub(crate) fn start_at(&self, s: &schema::Settings) {
        let p = self.params();
        let initial = s.initial.map_or(self.initial, |i| i as usize);
        self.engine.set_limit(initial.clamp(p.min, p.max));
    }
}

/// What the window-closing call locks: the algorithm's state, and the
/// settings a reload gave (`None`: the builder's).
#[derive(Debug)]
struct Tuned {
    /// `None` until the first window closes.
    estimator: Option<Estimator>,
    params: Option<Params>,
}

const fn share_1024(share: f64) -> usize {
    let scaled = share * 1024.0;
    if scaled < 1.0 { 1 } else { scaled as usize }
}

impl Registrable for AdaptiveConcurrency {
    const KIND: &'static str = "adaptive_concurrency";
    fn same_settings(&self, other: &Self) -> bool {
        let settings = |l: &Self| {
            (
                l.params(),
                l.initial,
                l.get_max_wait(),
                l.get_max_queue(),
                l.window.get(),
                l.share.get(),
            )
        };
        settings(self) == settings(other)
    }

    fn describe(&self) -> crate::registry::Description {
        use crate::registry::{Description, Kind, Policy, Snapshot};
        let p = &self.params();
        let mut policy = Policy::new()
            .with("algorithm", self.algorithm().word())
            .with("min", p.min)
            .with("max", p.max)
            .with("initial", self.initial)
            .with_duration("max_wait", self.get_max_wait())
            .with_duration("window", self.window.get());
        if let Some(max_queue) = self.get_max_queue() {
            policy = policy.with("max_queue", max_queue);
        }
        Description::new(
            Kind::AdaptiveConcurrency,
            self.name(),
            policy,
            Snapshot::AdaptiveConcurrency(self.snapshot()),
        )
    }
}

/// What an [`AdaptiveConcurrency`] is doing right now (see
/// [`AdaptiveConcurrency::snapshot`]).
///
/// ```
/// # use resilience::{AdaptiveConcurrency, LimitAlgorithm};
/// let s = AdaptiveConcurrency::new("db", LimitAlgorithm::Vegas).snapshot();
/// assert_eq!((s.limit, s.in_flight, s.waiting), (20, 0, 0));
/// assert!(s.shed_by_priority.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct AdaptiveConcurrencySnapshot {
    /// The algorithm the limit follows (`"gradient2"`, `"vegas"` or
    /// `"aimd"` in JSON).
    #[cfg_attr(feature = "serde", serde(serialize_with = "algorithm_word"))]
    pub algorithm: LimitAlgorithm,
    /// The current limit on calls in flight.
    pub limit: usize,
    /// Calls in flight right now.
    pub in_flight: usize,
    /// Calls waiting for a place.
    pub waiting: usize,
    /// Calls refused or shed since the limiter was created.
    pub shed: u64,
    /// `shed`, by priority: `(priority, calls)` for each priority with any,
    /// lowest first.
    pub shed_by_priority: Vec<(u8, u64)>,
    /// The mean latency of the last window (zero before the first).
    pub latency: Duration,
}

/// The algorithm as the attribute writes it.
#[cfg(feature = "serde")]
fn algorithm_word<S: serde::Serializer>(
    algorithm: &LimitAlgorithm,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(algorithm.word())
}

/// A place within the limit. Record how the call went with
/// [`success`](Self::success) or [`failure`](Self::failure); dropped
/// without either (a cancelled call), the place is given back and nothing
/// is measured.
///
/// ```
/// # use resilience::{AdaptiveConcurrency, LimitAlgorithm};
/// let l = AdaptiveConcurrency::new("db", LimitAlgorithm::Aimd).initial(1).min(1);
/// let permit = l.try_acquire(0).unwrap();
/// assert!(l.try_acquire(0).is_none());
/// permit.failure();
/// assert!(l.try_acquire(0).is_some());
/// ```
#[must_use = "the place is given back as soon as the permit is dropped"]
#[derive(Debug)]
pub struct AdaptiveConcurrencyPermit<'a> {
    limiter: &'a AdaptiveConcurrency,
    start: Instant,
    failed: Option<bool>,
}

impl<'a> AdaptiveConcurrencyPermit<'a> {
    #[inline]
    fn new(limiter: &'a AdaptiveConcurrency) -> Self {
        AdaptiveConcurrencyPermit {
            limiter,
            start: Instant::now(),
            failed: None,
        }
    }

    /// The call succeeded: its latency is measured.
    pub fn success(mut self) {
        self.failed = Some(false);
    }

    /// The call failed (overload, a timeout): the limit backs off.
    pub fn failure(mut self) {
        self.failed = Some(true);
    }

    /// The call ended with `outcome`: failed unless `Permanent` (a bad
    /// request says nothing about load).
    pub fn record(mut self, outcome: Outcome) {
        self.failed = Some(!matches!(outcome, Outcome::Permanent));
    }
}

impl Drop for AdaptiveConcurrencyPermit<'_> {
    #[inline]
    fn drop(&mut self) {
        self.limiter.complete(self.start, self.failed);
    }
}

pin_project! {
    /// A place in the queue; gives it up when dropped unless admitted.
    #[derive(Debug)]
    struct Queued<'a> {
        limiter: &'a AdaptiveConcurrency,
        ticket: Option<Ticket>,
        #[pin]
        timer: Sleep,
    }

    impl PinnedDrop for Queued<'_> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(ticket) = this.ticket.take()
                && this.limiter.engine.withdraw(ticket) == Status::Granted
            {
                // Admitted between its last poll and now: pass the place on.
                this.limiter.engine.release();
            }
        }
    }
}

/// The future returned by [`AdaptiveConcurrency::acquire`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// # use resilience::{AdaptiveConcurrency, LimitAlgorithm};
/// # use std::time::Duration;
/// let l = AdaptiveConcurrency::new("db", LimitAlgorithm::Aimd)
///     .min(1).initial(1).max_wait(Duration::from_millis(10));
/// let _held = l.acquire(0).await.unwrap();
/// assert!(l.acquire(0).await.is_err(), "refused after 10ms");
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct AdaptiveConcurrencyAcquire<'a> {
    limiter: &'a AdaptiveConcurrency,
    priority: u8,
    queued: Option<Pin<Box<Queued<'a>>>>,
}

impl<'a> Future for AdaptiveConcurrencyAcquire<'a> {
    type Output = Result<AdaptiveConcurrencyPermit<'a>, Rejection>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.queued.is_none()
            && let Some(permit) = self.limiter.try_acquire(self.priority)
        {
            return Poll::Ready(Ok(permit));
        }
        self.poll_slow(cx)
    }
}

impl<'a> AdaptiveConcurrencyAcquire<'a> {
    #[cold]
    fn poll_slow(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<AdaptiveConcurrencyPermit<'a>, Rejection>> {
        let (limiter, priority) = (self.limiter, self.priority);
        let engine = &limiter.engine;
        let queued = match &mut self.queued {
            Some(queued) => queued,
            None => {
                if limiter.max_wait.get().is_zero() {
                    return Poll::Ready(Err(limiter.reject(priority, "at the limit")));
                }
                let max_queue = limiter.get_max_queue().unwrap_or(usize::MAX);
                match engine.acquire_or_enqueue(priority, cx.waker(), max_queue) {
                    Admit::Acquired => {
                        return Poll::Ready(Ok(AdaptiveConcurrencyPermit::new(limiter)));
                    }
                    Admit::Full => return Poll::Ready(Err(limiter.reject(priority, "queue full"))),
                    Admit::Queued { ticket, displaced } => {
                        if let Some(lower) = displaced {
                            limiter.count_shed(lower);
                        }
                        self.queued.insert(Box::pin(Queued {
                            limiter,
                            ticket: Some(ticket),
                            timer: crate::time::sleep(
                                limiter.max_wait.get(),
                                crate::time::ADAPTIVE_CONCURRENCY,
                            ),
                        }))
                    }
                }
            }
        };
        let queued = queued.as_mut().project();
        let ticket = queued
            .ticket
            .as_ref()
            .expect("a queued acquire holds its ticket");
        let status = match engine.poll_ticket(ticket, cx.waker()) {
            Status::Waiting if queued.timer.poll(cx).is_ready() => {
                let ticket = queued.ticket.take().expect("held");
                engine.withdraw(ticket)
            }
            Status::Waiting => return Poll::Pending,
            done => {
                queued.ticket.take();
                done
            }
        };
        self.queued = None;
        Poll::Ready(match status {
            Status::Granted => Ok(AdaptiveConcurrencyPermit::new(limiter)),
            // Displaced: counted by the call that displaced it.
            Status::Shed => Err(Rejection::concurrency_limited(
                limiter.name.clone(),
                limiter.retry_after(),
            )),
            Status::Waiting => Err(limiter.reject(priority, "no place freed within max_wait")),
        })
    }
}

pin_project! {
    /// The future returned by [`AdaptiveConcurrency::call`]: waits for a
    /// place, runs the call in it, measures it, and gives the place back as
    /// soon as the call ends.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience::{AdaptiveConcurrency, LimitAlgorithm, Rejection};
    /// let l = AdaptiveConcurrency::new("db", LimitAlgorithm::Vegas);
    /// assert_eq!(l.call(1, async { Ok::<_, Rejection>(1) }).await, Ok(1));
    /// assert_eq!(l.snapshot().in_flight, 0);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct AdaptiveConcurrencyFuture<'a, F, E> {
        acquire: AdaptiveConcurrencyAcquire<'a>,
        permit: Option<AdaptiveConcurrencyPermit<'a>>,
        #[pin]
        call: F,
        classify: fn(&E) -> Outcome,
        reject: fn(Rejection) -> E,
    }
}

impl<F, T, E> Future for AdaptiveConcurrencyFuture<'_, F, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let permit = match this.permit.take() {
            Some(permit) => permit,
            None => match ready!(Pin::new(&mut *this.acquire).poll(cx)) {
                Ok(permit) => permit,
                Err(rejection) => return Poll::Ready(Err((this.reject)(rejection))),
            },
        };
        match this.call.poll(cx) {
            Poll::Ready(result) => {
                match &result {
                    Ok(_) => permit.success(),
                    Err(error) => permit.record((this.classify)(error)),
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                *this.permit = Some(permit);
                Poll::Pending
            }
        }
    }
}

#[cfg(all(test, not(resilience_loom)))]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>(_: &T) {}

    #[test]
    fn futures_are_send_when_the_call_is() {
        let l = AdaptiveConcurrency::new("l", LimitAlgorithm::Aimd);
        assert_send_sync(&l.acquire(0));
        assert_send_sync(&l.call(0, async { Ok::<_, Rejection>(()) }));
    }

    #[tokio::test(start_paused = true)]
    async fn a_rejection_is_transient_with_a_retry_after() {
        use crate::Classify;
        let l = AdaptiveConcurrency::new("l", LimitAlgorithm::Aimd)
            .min(1)
            .initial(1);
        let _held = l.try_acquire(0).unwrap();
        let r = l
            .call(2, async { Ok::<_, Rejection>(()) })
            .await
            .unwrap_err();
        assert!(
            matches!(r.classify(), Outcome::Transient { retry_after: Some(d) } if d > Duration::ZERO)
        );
        assert_eq!(l.snapshot().shed_by_priority, vec![(2, 1)]);
    }
}
