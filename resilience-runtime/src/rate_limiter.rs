//! `#[rate_limiter]`: keep callers inside a quota, by the generic cell rate
//! algorithm (GCRA).

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use crate::Rejection;
use crate::registry::Registrable;

/// A rate limiter: `rate` calls per `per` on average, up to `burst` at
/// once; a call over the limit waits up to `max_wait` (by default it does
/// not wait) or is refused with [`Rejection::RateLimited`], whose
/// `retry_after` is the exact time until the limiter admits a call.
///
/// Used by `#[rate_limiter(rate = 100, per = "1s", burst = 20)]`, or
/// directly: [`RateLimiter::check`] answers at once, [`RateLimiter::call`]
/// wraps a future.
///
/// # Algorithm
///
/// GCRA, as `governor` implements it: the limiter keeps one number, the
/// theoretical arrival time (TAT) of the next call if calls came exactly
/// one `per / rate` apart. A call at `now` is admitted when
/// `max(TAT, now) + per / rate` is at most `burst` periods ahead of `now`,
/// and the new TAT is stored with one compare-and-swap: no lock, no
/// allocation, and no background refill task.
///
/// # Timing
///
/// Time is tokio's clock ([`tokio::time::Instant`]), so
/// `tokio::time::pause()` and `advance()` drive it in tests.
///
/// # Cancel safety
///
/// A call that waits for its turn (`max_wait`) reserves it; if the call is
/// dropped while waiting, the reservation is given back.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience_runtime::{RateLimiter, Rejection};
/// use std::time::Duration;
///
/// // 10 per second, 2 at once.
/// static GITHUB: RateLimiter = RateLimiter::new("github", 10, Duration::from_secs(1)).burst(2);
///
/// assert!(GITHUB.check().is_ok());
/// assert!(GITHUB.check().is_ok());
/// let refused = GITHUB.call(async { Ok::<_, Rejection>(()) }).await.unwrap_err();
/// assert!(matches!(refused, Rejection::RateLimited { .. }));
/// assert!(refused.retry_after().unwrap() <= Duration::from_millis(100));
/// # }
/// ```
#[derive(Debug)]
pub struct RateLimiter {
    name: Cow<'static, str>,
    rate: u32,
    per: Duration,
    burst: u32,
    max_wait: Duration,
    /// `max_wait` in nanoseconds, for the hot path.
    max_wait_nanos: u64,
    /// `per / rate`, in nanoseconds: the time one cell takes to free.
    interval: u64,
    /// When the clock of this limiter reads zero: its first use.
    epoch: OnceLock<Instant>,
    /// Theoretical arrival time, in nanoseconds since `epoch`.
    tat: AtomicU64,
    rejected: AtomicU64,
}

impl RateLimiter {
    /// `rate` calls per `per`, with a burst of `rate` (all of a period's
    /// calls may come at once) and no waiting (usable in a `static`).
    ///
    /// # Panics
    ///
    /// If `rate` is 0 or `per` is shorter than `rate` nanoseconds (more
    /// than one call per nanosecond); in a `static`, at compile time.
    ///
    /// ```
    /// # use resilience_runtime::RateLimiter;
    /// # use std::time::Duration;
    /// static API: RateLimiter = RateLimiter::new("api", 100, Duration::from_secs(1));
    /// assert_eq!(API.get_burst(), 100);
    /// ```
    pub const fn new(name: &'static str, rate: u32, per: Duration) -> Self {
        assert!(rate > 0, "a rate limiter needs a rate of at least 1");
        let interval = per.as_nanos() / rate as u128;
        assert!(
            interval > 0 && interval <= u64::MAX as u128,
            "`per / rate` must be between 1ns and about 584 years"
        );
        RateLimiter {
            name: Cow::Borrowed(name),
            rate,
            per,
            burst: rate,
            max_wait: Duration::ZERO,
            max_wait_nanos: 0,
            interval: interval as u64,
            epoch: OnceLock::new(),
            tat: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        }
    }

    /// A rate limiter with a name built at run time (one per tenant).
    ///
    /// # Panics
    ///
    /// As [`RateLimiter::new`].
    ///
    /// ```
    /// # use resilience_runtime::RateLimiter;
    /// # use std::time::Duration;
    /// let tenant = 42;
    /// let r = RateLimiter::named(format!("tenant-{tenant}"), 5, Duration::from_secs(1));
    /// assert_eq!(r.name(), "tenant-42");
    /// ```
    pub fn named(name: impl Into<Cow<'static, str>>, rate: u32, per: Duration) -> Self {
        let mut limiter = RateLimiter::new("", rate, per);
        limiter.name = name.into();
        limiter
    }

    /// How many calls may come at once after a quiet spell.
    ///
    /// # Panics
    ///
    /// If `burst` is 0.
    ///
    /// ```
    /// # use resilience_runtime::RateLimiter;
    /// # use std::time::Duration;
    /// static API: RateLimiter = RateLimiter::new("api", 100, Duration::from_secs(1)).burst(20);
    /// assert_eq!(API.get_burst(), 20);
    /// ```
    pub const fn burst(mut self, burst: u32) -> Self {
        assert!(burst > 0, "a burst of 0 would refuse every call");
        self.burst = burst;
        self
    }

    /// How long a call over the limit may wait for its turn instead of
    /// being refused. `Duration::ZERO` (the default) refuses at once.
    ///
    /// ```
    /// # use resilience_runtime::RateLimiter;
    /// # use std::time::Duration;
    /// static API: RateLimiter =
    ///     RateLimiter::new("api", 100, Duration::from_secs(1)).max_wait(Duration::from_millis(20));
    /// assert_eq!(API.get_max_wait(), Duration::from_millis(20));
    /// ```
    pub const fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        let nanos = max_wait.as_nanos();
        self.max_wait_nanos = if nanos > u64::MAX as u128 {
            u64::MAX
        } else {
            nanos as u64
        };
        self
    }

    /// The instance name carried by its rejections.
    ///
    /// ```
    /// # use resilience_runtime::RateLimiter;
    /// # use std::time::Duration;
    /// assert_eq!(RateLimiter::new("api", 1, Duration::from_secs(1)).name(), "api");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Calls admitted per [`get_per`](Self::get_per) on average.
    ///
    /// ```
    /// # use resilience_runtime::RateLimiter;
    /// # use std::time::Duration;
    /// assert_eq!(RateLimiter::new("api", 7, Duration::from_secs(1)).get_rate(), 7);
    /// ```
    pub fn get_rate(&self) -> u32 {
        self.rate
    }

    /// The period of the rate.
    ///
    /// ```
    /// # use resilience_runtime::RateLimiter;
    /// # use std::time::Duration;
    /// assert_eq!(RateLimiter::new("api", 7, Duration::from_secs(1)).get_per(), Duration::from_secs(1));
    /// ```
    pub fn get_per(&self) -> Duration {
        self.per
    }

    /// The burst.
    ///
    /// ```
    /// # use resilience_runtime::RateLimiter;
    /// # use std::time::Duration;
    /// assert_eq!(RateLimiter::new("api", 7, Duration::from_secs(1)).get_burst(), 7);
    /// ```
    pub fn get_burst(&self) -> u32 {
        self.burst
    }

    /// How long a call may wait for its turn.
    ///
    /// ```
    /// # use resilience_runtime::RateLimiter;
    /// # use std::time::Duration;
    /// assert_eq!(RateLimiter::new("api", 7, Duration::from_secs(1)).get_max_wait(), Duration::ZERO);
    /// ```
    pub fn get_max_wait(&self) -> Duration {
        self.max_wait
    }

    /// The time one cell takes to free: `per / rate`.
    ///
    /// ```
    /// # use resilience_runtime::RateLimiter;
    /// # use std::time::Duration;
    /// let r = RateLimiter::new("api", 4, Duration::from_secs(1));
    /// assert_eq!(r.interval(), Duration::from_millis(250));
    /// ```
    pub fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval)
    }

    /// Admits a call now, or refuses it with the exact time until one
    /// would be admitted. Never waits (ignores `max_wait`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience_runtime::{RateLimiter, Rejection};
    /// # use std::time::Duration;
    /// let r = RateLimiter::new("api", 2, Duration::from_secs(1)).burst(1);
    /// assert!(r.check().is_ok());
    /// let err = r.check().unwrap_err();
    /// assert!(err.retry_after().unwrap() <= Duration::from_millis(500));
    /// # }
    /// ```
    pub fn check(&self) -> Result<(), Rejection> {
        match self.admit(0) {
            Ok(_) => Ok(()),
            Err(retry_after) => Err(self.reject(retry_after)),
        }
    }

    /// Waits for the call's turn (up to `max_wait`) and returns once it is
    /// admitted, or refuses it at once when its turn is further away.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// # use resilience_runtime::RateLimiter;
    /// # use std::time::Duration;
    /// let r = RateLimiter::new("api", 10, Duration::from_secs(1))
    ///     .burst(1)
    ///     .max_wait(Duration::from_millis(100));
    /// let start = tokio::time::Instant::now();
    /// r.acquire().await.unwrap();
    /// r.acquire().await.unwrap();
    /// assert_eq!(start.elapsed(), Duration::from_millis(100));
    /// # }
    /// ```
    pub async fn acquire(&self) -> Result<(), Rejection> {
        self.call(async { Ok::<(), Rejection>(()) }).await
    }

    /// Runs `call` once it is admitted; refuses it with
    /// [`Rejection::RateLimited`] when its turn is more than `max_wait` away.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience_runtime::{RateLimiter, Rejection};
    /// # use std::time::Duration;
    /// let r = RateLimiter::new("api", 5, Duration::from_secs(1));
    /// assert_eq!(r.call(async { Ok::<_, Rejection>(1) }).await, Ok(1));
    /// # }
    /// ```
    pub fn call<F, T, E>(&self, call: F) -> RateLimitedFuture<'_, F, E>
    where
        F: Future<Output = Result<T, E>>,
        E: From<Rejection>,
    {
        self.call_with(call, E::from)
    }

    /// Like [`RateLimiter::call`], with `reject` turning the rejection into `E`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// # use resilience_runtime::RateLimiter;
    /// # use std::time::Duration;
    /// let r = RateLimiter::new("api", 1, Duration::from_secs(1));
    /// r.check().unwrap();
    /// let out: Result<(), String> = r.call_with(async { Ok(()) }, |r| r.to_string()).await;
    /// assert_eq!(out.unwrap_err(), "rate limit of `api` reached; retry after 1s");
    /// # }
    /// ```
    pub fn call_with<F, T, E>(
        &self,
        call: F,
        reject: fn(Rejection) -> E,
    ) -> RateLimitedFuture<'_, F, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        RateLimitedFuture {
            limiter: self,
            state: State::Start,
            call,
            reject,
        }
    }

    /// Calls that could be admitted right now, and rejections so far.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use resilience_runtime::RateLimiter;
    /// # use std::time::Duration;
    /// let r = RateLimiter::new("api", 10, Duration::from_secs(1)).burst(3);
    /// r.check().unwrap();
    /// assert_eq!(r.snapshot().available, 2);
    /// # }
    /// ```
    pub fn snapshot(&self) -> RateLimiterSnapshot {
        let now = self.now();
        let tat = self.tat.load(Ordering::Acquire).max(now);
        let ahead = tat - now;
        let capacity = self.interval.saturating_mul(u64::from(self.burst));
        let available = capacity.saturating_sub(ahead) / self.interval;
        RateLimiterSnapshot {
            available: u32::try_from(available).unwrap_or(u32::MAX),
            burst: self.burst,
            rejected: self.rejected.load(Ordering::Relaxed),
        }
    }

    /// Nanoseconds on tokio's clock since this limiter was first used.
    #[inline]
    fn now(&self) -> u64 {
        let now = Instant::now();
        let epoch = *self.epoch.get_or_init(|| now);
        let since = now.saturating_duration_since(epoch);
        // u64 arithmetic (not `as_nanos`' u128): 584 years of nanoseconds.
        since
            .as_secs()
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(since.subsec_nanos()))
    }

    /// GCRA: admits a call that would start within `max_wait` nanoseconds,
    /// committing its cell with one CAS (`Ok(wait)`, the nanoseconds until
    /// its turn), or refuses it (`Err(retry_after)`, in nanoseconds). Two
    /// words, so the answer moves in registers; the rejection is built by
    /// the caller, off the hot path.
    #[inline]
    fn admit(&self, max_wait: u64) -> Result<u64, u64> {
        let now = self.now();
        // The call may start once its cell is at most `burst` cells ahead.
        let tolerance = self.interval.saturating_mul(u64::from(self.burst));
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let next = tat.max(now).saturating_add(self.interval);
            let wait = next.saturating_sub(tolerance).saturating_sub(now);
            if wait > max_wait {
                return Err(wait);
            }
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Ok(wait),
                Err(actual) => tat = actual,
            }
        }
    }

    /// Gives back a cell reserved by a call that was dropped while waiting.
    /// While it waits, the TAT is more than one interval in the future, so
    /// taking one interval off cannot move it behind `now`.
    fn refund(&self) {
        self.tat.fetch_sub(self.interval, Ordering::AcqRel);
    }

    #[cold]
    #[inline(never)]
    fn reject(&self, retry_after: u64) -> Rejection {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        let retry_after = Duration::from_nanos(retry_after);
        tracing::debug!(name = %self.name, ?retry_after, "resilience: rate limited, call rejected");
        Rejection::rate_limited(self.name.clone(), retry_after)
    }
}

impl Registrable for RateLimiter {
    const KIND: &'static str = "rate_limiter";
    fn same_settings(&self, other: &Self) -> bool {
        (self.rate, self.per, self.burst, self.max_wait)
            == (other.rate, other.per, other.burst, other.max_wait)
    }
}

/// What a [`RateLimiter`] allows right now (see [`RateLimiter::snapshot`]).
///
/// ```
/// # use resilience_runtime::RateLimiter;
/// # use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let s = RateLimiter::new("api", 10, Duration::from_secs(1)).snapshot();
/// assert_eq!((s.available, s.burst, s.rejected), (10, 10, 0));
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimiterSnapshot {
    /// Calls that would be admitted right now without waiting.
    pub available: u32,
    /// The most calls admitted at once.
    pub burst: u32,
    /// Calls refused since the limiter was created.
    pub rejected: u64,
}

#[derive(Debug)]
enum State<'a> {
    Start,
    /// Boxed, timer included: the future stays small on the path that
    /// does not wait, and dropping it there is one tag check (inline)
    /// rather than a call into the waiting state's drop glue.
    Waiting(Pin<Box<Waiting<'a>>>),
    Admitted,
}

pin_project! {
    /// A call waiting for the turn it reserved; gives the turn back if
    /// dropped before it comes.
    #[derive(Debug)]
    struct Waiting<'a> {
        // `None` once the turn has come.
        limiter: Option<&'a RateLimiter>,
        #[pin]
        timer: Sleep,
    }

    impl PinnedDrop for Waiting<'_> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(limiter) = this.limiter {
                limiter.refund();
            }
        }
    }
}

pin_project! {
    /// The future returned by [`RateLimiter::call`]: admits the call (after
    /// waiting for its turn, within `max_wait`), then runs it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// # use resilience_runtime::{RateLimiter, Rejection};
    /// # use std::time::Duration;
    /// let r = RateLimiter::new("api", 1, Duration::from_secs(1));
    /// assert_eq!(r.call(async { Ok::<_, Rejection>(1) }).await, Ok(1));
    /// let refused = r.call(async { Ok::<_, Rejection>(2) }).await;
    /// assert_eq!(refused, Err(Rejection::rate_limited("api", Duration::from_secs(1))));
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct RateLimitedFuture<'a, F, E> {
        limiter: &'a RateLimiter,
        state: State<'a>,
        #[pin]
        call: F,
        reject: fn(Rejection) -> E,
    }
}

impl<F, T, E> Future for RateLimitedFuture<'_, F, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let State::Start = this.state {
            match this.limiter.admit(this.limiter.max_wait_nanos) {
                Ok(0) => *this.state = State::Admitted,
                Ok(wait) => {
                    *this.state = State::Waiting(Box::pin(Waiting {
                        limiter: Some(this.limiter),
                        timer: crate::time::sleep(
                            Duration::from_nanos(wait),
                            crate::time::RATE_LIMITER,
                        ),
                    }));
                }
                Err(retry_after) => {
                    return Poll::Ready(Err((this.reject)(this.limiter.reject(retry_after))));
                }
            }
        }
        if let State::Waiting(waiting) = this.state {
            let waiting = waiting.as_mut().project();
            ready!(waiting.timer.poll(cx));
            *waiting.limiter = None;
            *this.state = State::Admitted;
        }
        this.call.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn dropped_waiter_gives_its_turn_back() {
        let r = RateLimiter::new("r", 10, Duration::from_secs(1))
            .burst(1)
            .max_wait(Duration::from_secs(1));
        r.check().unwrap();
        let waiting = r.call(async { Ok::<_, Rejection>(()) });
        let mut waiting = Box::pin(waiting);
        assert!(futures_poll_once(waiting.as_mut()).await.is_none());
        drop(waiting);
        tokio::time::advance(Duration::from_millis(100)).await;
        assert!(
            r.check().is_ok(),
            "the dropped waiter's cell was given back"
        );
    }

    async fn futures_poll_once<F: Future + Unpin>(mut f: F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            Poll::Ready(match Pin::new(&mut f).poll(cx) {
                Poll::Ready(v) => Some(v),
                Poll::Pending => None,
            })
        })
        .await
    }

    #[test]
    fn interval_is_per_over_rate() {
        let r = RateLimiter::new("r", 3, Duration::from_secs(1));
        assert_eq!(r.interval(), Duration::from_nanos(333_333_333));
    }
}
